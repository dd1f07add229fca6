"""`EmulatedSession.handle_audio` (the server's hot path) does exactly what `handle_client` does
with the same audio message: the same outputs at the same times, the same counters."""

from __future__ import annotations

from typing import Any

import pytest
from model_harness import FRAME_BYTES, Harness, Sent, audio, greet, realtime, speech_pcm

from liveguard.emulator.wire import ClientMessage


class FastHarness(Harness):
    """Sends every plain audio blob through `handle_audio` instead of `handle_client`."""

    def send(self, msg: ClientMessage, t: float | None = None) -> list[Sent]:
        blob = msg.body.get("audio") if msg.kind == "realtime_input" else None
        if len(msg.body) != 1 or not blob or set(blob) != {"data", "mime_type"}:
            return super().send(msg, t)
        assert self.session is not None
        t = self.now if t is None else t
        got = self.advance(t)
        return got + self._keep(self.session.handle_audio(blob["data"], blob["mime_type"], t), t)


def _script_conversation(h: Harness) -> None:
    h.connect()
    greet(h)
    h.say("check_order")
    h.run(4)
    h.say("order_number", tail_s=0.3)
    h.say("thanks_bye", lead_s=0.1)  # barges in on the answer
    h.run(1)
    pcm = speech_pcm("still_there")
    h.send(audio(pcm[:333]))  # odd sizes: the detector carries samples over
    h.stream(pcm[333:], speed=2.0)
    h.send(audio(b""))
    h.send(audio(bytes(960), rate=24000))  # another rate
    h.stream(bytes(FRAME_BYTES * 60))
    h.run(6)


def _script_manual_activity(h: Harness) -> None:
    h.connect(realtime_input_config={"automatic_activity_detection": {"disabled": True}})
    h.stream(speech_pcm("check_order"))  # ignored: no activity open
    h.send(realtime(activity_start={}))
    h.stream(speech_pcm("check_order"))
    h.send(realtime(activity_end={}))
    h.run(5)


def _script_after_close(h: Harness) -> None:
    h.connect()
    h.send(ClientMessage("setup", {"model": "x"}))  # a second setup closes the session
    h.stream(speech_pcm("check_order"))


@pytest.mark.parametrize(
    "script", [_script_conversation, _script_manual_activity, _script_after_close]
)
def test_handle_audio_equals_handle_client(script: Any) -> None:
    full, fast = Harness.of("healthy"), FastHarness.of("healthy")
    script(full)
    script(fast)
    assert [(s.t, s.out) for s in fast.log] == [(s.t, s.out) for s in full.log]
    assert full.session is not None and fast.session is not None
    assert fast.session.stats == full.session.stats
    assert full.session.stats.audio_frames_received > 0 or full.session.closed
