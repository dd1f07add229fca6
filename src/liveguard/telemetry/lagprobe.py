"""How long a message arriving at the relay waits before its event loop looks at it.

Why a thread and a socket, not a loop timer: a timer measures how late *timers* fire, and an idle
loop fires them up to a millisecond late by itself (libuv and the selector round poll timeouts to
whole milliseconds), which is no wait at all for a socket. Here a thread keeps its own schedule and
writes each due time to a datagram socket pair that the loop reads like any caller's socket; the
reading callback observes `now - due`: the wait a caller's frame arriving at that moment has (the
loop finishing what it is running, then polling). While the loop holds the GIL the thread's write
waits for it, and that counts too, as it should: it is the same busy loop.

Bounded: one 8-byte datagram per period; when the loop stalls long enough to fill the socket's
queue, samples are dropped (the next one read shows the stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable

__all__ = ["LoopLagProbe"]

_RECORD = struct.Struct("d")


class LoopLagProbe:
    """`start()` on the loop to measure, `close()` to stop; `observe(seconds)` gets each wait."""

    def __init__(self, observe: Callable[[float], None], period_s: float = 0.01) -> None:
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        self._observe = observe
        self._period_s = period_s
        self._stop = threading.Event()
        self._wake = threading.Event()  # the period changed (or stop): re-plan now
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rsock: socket.socket | None = None
        self._wsock: socket.socket | None = None
        self.samples = 0
        self.dropped = 0

    def start(self) -> None:
        """Begin on the running loop (idempotent)."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._rsock, self._wsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self._loop.add_reader(self._rsock.fileno(), self._read)
        self._thread = threading.Thread(target=self._tick, name="lg-lag-probe", daemon=True)
        self._thread.start()

    def set_period(self, period_s: float) -> None:
        """Probe every `period_s` from now on. Why: an idle relay has nothing to measure, and a
        10 ms probe is most of what it would burn (the relay slows it down between calls)."""
        if period_s <= 0:
            raise ValueError("period_s must be positive")
        if period_s != self._period_s:
            self._period_s = period_s
            self._wake.set()

    def close(self) -> None:
        """Stop the thread and the reader; safe to call twice."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        if self._loop is not None and self._rsock is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._rsock.fileno())
        for sock in (self._rsock, self._wsock):
            if sock is not None:
                sock.close()
        self._rsock = self._wsock = None

    def _tick(self) -> None:
        """The thread: at each due time, send it (a missed one is skipped, not bunched)."""
        if hasattr(signal, "pthread_sigmask"):
            # signals belong to the loop's thread: one taken here would not wake its poll
            signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        clock = time.perf_counter
        period = self._period_s
        due = clock() + period
        wsock = self._wsock
        assert wsock is not None
        while not self._stop.is_set():
            if self._wake.wait(max(0.0, due - clock())):
                self._wake.clear()
                period = self._period_s
                due = clock() + period
                continue
            try:
                wsock.send(_RECORD.pack(due))
            except BlockingIOError:
                self.dropped += 1
            except OSError:
                return  # closed under us
            due += period
            now = clock()
            if due < now:
                due = now + period

    def _read(self) -> None:
        """On the loop: every due time waiting in the socket, observed against now."""
        rsock = self._rsock
        if rsock is None:
            return
        clock = time.perf_counter
        observe = self._observe
        while True:
            try:
                data = rsock.recv(_RECORD.size)
            except OSError:  # drained (BlockingIOError), or closed under us
                return
            if len(data) != _RECORD.size:  # not ours; what is left re-arms the reader
                return
            self.samples += 1
            observe(max(0.0, clock() - _RECORD.unpack(data)[0]))
