"""The lean parser's shortcut: without the SDK's private converters the connection reads with
`AsyncSession.receive()`, says so once, and the relay and emulator still work."""

from __future__ import annotations

import sys

import pytest
from fastpath_helpers import converse, fastpath_warnings, relay_call_answered

from liveguard.fastpath.sdk_parse import SDK_PARSE

CONVERTERS = "google.genai._live_converters"


def test_the_installed_sdk_has_what_the_lean_parser_needs() -> None:
    assert SDK_PARSE.usable()


async def test_on_by_default_model_audio_takes_the_lean_parser(emulator) -> None:
    talk = await converse(emulator)
    assert talk.lean and talk.lean_read
    assert talk.audio_chunks > 0 and talk.lean_chunks == talk.audio_chunks


async def test_without_the_converters_the_sdk_reads_and_it_is_said_once(
    emulator, relay, monkeypatch, caplog
) -> None:
    # an SDK that renamed its private converter module (its own code keeps its reference)
    monkeypatch.setitem(sys.modules, CONVERTERS, None)
    caplog.set_level("WARNING", logger="liveguard.fastpath")

    talk = await converse(emulator)
    assert not talk.lean and not talk.lean_read  # messages() uses AsyncSession.receive()
    assert talk.audio_chunks > 0 and talk.lean_chunks == 0
    assert talk.written_now > 0  # caller audio keeps its own (lean) writer
    assert talk.stats.audio_bytes_received == talk.sent_bytes

    await relay_call_answered(relay)
    (warning,) = fastpath_warnings(caplog, "sdk-parse")  # two connections, one warning
    assert CONVERTERS in warning and "AsyncSession.receive()" in warning


@pytest.mark.parametrize("hidden", ["_LiveServerMessage_from_mldev"])
def test_a_missing_converter_is_named(monkeypatch, caplog, hidden: str) -> None:
    import google.genai._live_converters as converters

    monkeypatch.delattr(converters, hidden)
    caplog.set_level("WARNING", logger="liveguard.fastpath")
    assert not SDK_PARSE.usable() and not SDK_PARSE.usable()
    (warning,) = fastpath_warnings(caplog, "sdk-parse")
    assert hidden in warning
