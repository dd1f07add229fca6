"""The page tests' browser runner (`headless.browse`): a browser session that wedges or fails
ends its own test, quickly and with the reason, and leaves no browser process behind."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import psutil
import pytest

from headless import CHROMIUM, browse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]


def live_descendants() -> list[str]:
    return [
        p.name()
        for p in psutil.Process().children(recursive=True)
        if p.status() != psutil.STATUS_ZOMBIE
    ]


async def test_a_page_that_never_answers_is_killed_at_the_deadline(tmp_path: Path) -> None:
    with socket.socket() as server:  # accepts connections, never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        t0 = time.monotonic()
        with pytest.raises(pytest.fail.Exception, match="overran 3 s"):
            await browse("dashboard", url, str(tmp_path / "shot.png"), deadline_s=3)
        took = time.monotonic() - t0
    assert took < 20, took  # the deadline plus the kill, not playwright's own 30 s
    assert live_descendants() == []


async def test_a_failing_page_reports_the_browser_error(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="ERR_UNSAFE_PORT"):
        await browse("report", "http://127.0.0.1:9/", str(tmp_path / "shot.png"))
    assert live_descendants() == []
