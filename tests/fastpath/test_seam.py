"""The seam: a probe runs once, a missing piece turns the shortcut off with one WARNING."""

from __future__ import annotations

from fastpath_helpers import fastpath_warnings

from liveguard.fastpath.seam import Shortcut, shortcuts


def test_the_probe_runs_once_and_a_passing_one_says_nothing(caplog) -> None:
    calls: list[int] = []
    s = Shortcut("test-ok", lambda: calls.append(1), "plain call")
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert s.usable() and s.usable() and s.usable()
    assert calls == [1] and not fastpath_warnings(caplog, "test-ok")


def test_a_missing_piece_turns_it_off_with_one_warning_naming_it(caplog) -> None:
    calls: list[int] = []

    def probe() -> str:
        calls.append(1)
        return "lib.thing is missing"

    s = Shortcut("test-missing", probe, "lib.plain()")
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert not s.usable() and not s.usable()
    s.missing("again")  # later per-object shortfalls are not repeated either
    assert calls == [1]
    assert fastpath_warnings(caplog, "test-missing") == [
        "fast path test-missing is off: lib.thing is missing; using the reference path "
        "(lib.plain())"
    ]
    s.reset()
    assert not s.usable() and len(calls) == 2
    assert len(fastpath_warnings(caplog, "test-missing")) == 2


def test_a_probe_that_trips_over_the_library_is_a_no(caplog) -> None:
    def probe() -> None:
        raise AttributeError("'Thing' object has no attribute 'x'")

    s = Shortcut("test-raises", probe, "plain")
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert not s.usable()
    (warning,) = fastpath_warnings(caplog, "test-raises")
    assert "probe failed: AttributeError" in warning and "attribute 'x'" in warning


def test_every_shortcut_passes_on_the_installed_libraries(caplog) -> None:
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    names = {"sdk-parse", "sdk-socket", "sdk-audio", "ws-reader", "ws-pings", "ws-writer"}
    names |= {"caller-ws", "sdk-keepalive", "ws-pump"}
    found = {n: s for n, s in shortcuts().items() if not n.startswith("test-")}
    assert set(found) == names
    assert all(s.usable() for s in found.values())
    assert not [r for r in caplog.records if r.name == "liveguard.fastpath"]
