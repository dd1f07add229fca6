"""Headless chromium sessions for the page tests, run in a child process with a hard deadline.

Why a child process: playwright can wedge for good once a call is interrupted or times out (its
connection keeps waiting on a driver that is gone; microsoft/playwright-python#2633, #1150), and
neither a cancellation nor the timeout plugin's alarm reliably reaches a test whose event loop
also runs a relay. A child can always be killed, with its driver and browser, so a wedged browser
fails its own test and nothing else. The child (`browser_pages.py`) drives Debian's chromium with
playwright's API and prints one JSON object per line; the test asserts on what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from browser_pages import CHROMIUM

__all__ = ["CHROMIUM", "browse"]

PAGES = Path(__file__).with_name("browser_pages.py")


def _kill_tree(pid: int) -> None:
    """The child, its playwright driver and every browser process under them."""
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [*root.children(recursive=True), root]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


async def browse(
    page: str,
    *args: str,
    deadline_s: float = 90.0,
    on_line: Callable[[dict], str | None] | None = None,
) -> dict:
    """Run `browser_pages.py page args...`; every JSON line goes to `on_line` as it arrives (a
    line it returns goes to the child's stdin), and the last one is returned. Fails the test with
    the child's output when it errs or overruns."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PAGES),
        page,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    last: dict | None = None
    noise: list[str] = []
    overran = False
    try:
        async with asyncio.timeout(deadline_s):
            while line := await proc.stdout.readline():
                try:
                    last = json.loads(line)
                except json.JSONDecodeError:  # not ours (a library's print): keep it for errors
                    noise.append(line.decode(errors="replace"))
                    continue
                reply = on_line(last) if on_line is not None else None
                if reply is not None:
                    proc.stdin.write(reply.encode() + b"\n")
                    await proc.stdin.drain()
            await proc.wait()
    except TimeoutError:
        overran = True
    finally:
        _kill_tree(proc.pid)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await proc.wait()
    try:
        async with asyncio.timeout(5):
            err = (await stderr_task).decode(errors="replace")[-4000:]
    except TimeoutError:
        err = "(no stderr: the pipe stayed open)"
    if overran:
        pytest.fail(f"the {page} browser session overran {deadline_s:.0f} s; stderr:\n{err}")
    if proc.returncode != 0 or last is None or "error" in last:
        said = last.get("error", last) if last is not None else "nothing"
        out = "".join(noise)[-2000:]
        pytest.fail(f"the {page} browser session failed ({proc.returncode}):\n{said}\n{out}{err}")
    return last
