"""The seam every shortcut goes through: check the library's shape once, else the reference path.

Why: a shortcut past another library's own code (a private converter, a socket under an SDK
object, a parser's generator frames) breaks silently when that library changes. Each shortcut here
names what it relies on in a probe; the first use runs the probe, and when something is missing
the caller takes the reference path (the plain library call the shortcut replaces) and a WARNING
says so, once per process and shortcut, naming what was missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["Shortcut", "shortcuts"]

log = logging.getLogger("liveguard.fastpath")

_ALL: dict[str, Shortcut] = {}


class Shortcut:
    """One shortcut: `usable()` is True when its library still has the shape it needs.

    `probe()` returns None when everything is there, else what is missing; it runs on the first
    `usable()` and its answer is kept. `missing()` reports a per-object shortfall (a socket of
    an unexpected shape) the same way, warning once too.
    """

    def __init__(self, name: str, probe: Callable[[], str | None], reference: str) -> None:
        self.name = name
        self.reference = reference
        self._probe = probe
        self._ok: bool | None = None
        self._warned = False
        _ALL[name] = self

    def usable(self) -> bool:
        ok = self._ok
        if ok is None:
            try:
                why = self._probe()
            except Exception as exc:  # a probe that trips over the library is a "no"
                why = f"probe failed: {type(exc).__name__}: {exc}"
            ok = self._ok = why is None
            if why is not None:
                self.missing(why)
        return ok

    def missing(self, why: str) -> None:
        """Say once that this shortcut is off (and why); the caller takes the reference path."""
        if not self._warned:
            self._warned = True
            log.warning(
                "fast path %s is off: %s; using the reference path (%s)",
                self.name,
                why,
                self.reference,
            )

    def reset(self) -> None:
        """Forget the probe's answer and the warning (tests that change a library's shape)."""
        self._ok = None
        self._warned = False


def shortcuts() -> dict[str, Shortcut]:
    """Every shortcut registered so far, by name."""
    return dict(_ALL)
