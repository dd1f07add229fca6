"""GuardedSession against a scripted upstream in fast time: reconnects without TLS or a socket.

The guard's deadlines are set to tens of milliseconds, so a whole incident (phantom interrupt,
silence, the ladder, a resume, the replay) takes a fraction of a second; the server messages are
what each test scripts, and every message the session writes is recorded per connection.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from scripted_upstream import ScriptedLine, model_audio

from liveguard import events as ev
from liveguard.config.settings import Settings, VadSettings
from liveguard.guard import GuardPolicy
from liveguard.guard.actions import PlayFallback
from liveguard.session import AudioOut, GuardedSession, LiveConfigError, SessionBounds

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
FAST = {
    "phantom_grace_s": 0.02,
    "suspect_answer_deadline_s": 0.05,
    "answer_deadline_s": 0.1,
    "nudge_deadline_s": 0.05,
    "resume_deadline_s": 10.0,  # met by the scripted answer; never the test's clock
    "fresh_deadline_s": 10.0,
}


def frame(k: int) -> bytes:
    """20 ms of 8 kHz PCM16 at a constant level `k`: quiet (no speech), and told apart by value."""
    return struct.pack("<h", k) * 160


class Recorder:
    """An event sink a test can wait on."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, cls: type, within: float = 5.0, **fields: Any) -> Any:
        def find() -> Any:
            for e in self.events:
                if isinstance(e, cls) and all(getattr(e, k) == v for k, v in fields.items()):
                    return e
            return None

        async def poll() -> Any:
            while (found := find()) is None:
                self._changed.clear()
                await self._changed.wait()
            return found

        return await asyncio.wait_for(poll(), within)

    def of(self, cls: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


def scripted_session(line: ScriptedLine, rec: Recorder, **kwargs: Any) -> GuardedSession:
    policy = GuardPolicy(**{**FAST, **kwargs.pop("policy", {})})
    vad = kwargs.pop("vad", VadSettings())
    return GuardedSession(
        Settings(model=MODEL, guard=policy, vad=vad),
        upstream_factory=line.factory,
        on_event=[rec],
        greeting=False,
        replay_speed=1000.0,
        **kwargs,
    )


async def send(session: GuardedSession, frames: list[bytes]) -> None:
    for f in frames:
        await session.send_audio(f, 8000)


def consume(session: GuardedSession, items: list[Any]) -> asyncio.Task:
    async def run() -> None:
        async for item in session:
            items.append(item)

    return asyncio.create_task(run())


def greet(up: Any, handle: str = "h-healthy") -> None:
    up.push(session_resumption_update={"new_handle": handle, "resumable": True})
    up.push(**model_audio())
    up.push(server_content={"turn_complete": True})


@pytest.mark.parametrize("vad_mode", ["server", "client"])
async def test_phantom_then_silence_resumes_with_the_healthy_handle_and_replays_the_caller(
    vad_mode: str,
):
    """Seed 2333 scripted: a phantom `interrupted`, then the model never answers the caller; the
    guard's ladder nudges, then resumes with the handle taken before the phantom, and the caller
    audio since the utterance began is replayed on the new connection before the live audio (in
    client-VAD mode inside an activity of its own: the caller is not speaking)."""
    line, rec, items = ScriptedLine(), Recorder(), []
    session = scripted_session(line, rec, vad=VadSettings(mode=vad_mode))
    async with session:
        reader = consume(session, items)
        up1 = line.current
        greet(up1)
        await rec.wait(ev.TurnComplete, turn=1)
        up1.push(server_content={"interrupted": True})  # no caller speech anywhere near it
        await rec.wait(ev.Verdict, kind="phantom_interrupt")
        up1.push(session_resumption_update={"new_handle": "h-poisoned", "resumable": True})
        before = [frame(k) for k in range(1, 6)]
        await send(session, before)
        await asyncio.sleep(0.05)  # the frames above end before the caller's utterance begins
        up1.push(server_content={"input_transcription": {"text": "check my order"}})
        await rec.wait(ev.InputTranscript)
        during = [frame(k) for k in range(11, 21)]
        await send(session, during)
        await rec.wait(ev.UpstreamConnected, purpose="resume")
        up2 = line.current
        after = [frame(k) for k in range(21, 26)]
        await send(session, after)  # while the replay runs: these wait in the queue
        await up2.written(lambda: up2.of("audio")[-1:] == after[-1:])
        up2.push(**model_audio())
        await rec.wait(ev.RecoveryFinished, rung="resume")
    await reader

    assert line.log[:3] == [("open", 0), ("close", 0), ("open", 1)]  # the old socket closed first
    assert up2.handle == "h-healthy", "resumed from the handle taken before the phantom"
    assert [(h.handle, h.poisoned) for h in session.handles] == [
        ("h-healthy", False),
        ("h-poisoned", True),
    ]
    assert up1.of("text") == ["check my order"]  # the nudge went on the old connection
    assert [r.rung for r in rec.of(ev.RecoveryStarted)] == ["nudge", "resume"]
    assert rec.of(ev.RecoveryFinished)[-1].outcome == "answered"
    assert session.health == "healthy"
    closed = rec.of(ev.UpstreamClosed)
    assert (closed[0].side, closed[0].reason) == ("client", "reconnect: resume")

    # the replay is what the old connection got since the utterance began, then the live audio
    # follows: nothing lost, nothing sent twice live, order kept
    n = session.stats.replay_frames
    up1_audio, up2_audio = up1.of("audio"), up2.of("audio")
    assert n >= 1 and up2_audio[:n] == up1_audio[len(before) :]
    assert up2_audio[0] == during[0]
    assert up1_audio + up2_audio[n:] == before + during + after
    assert session.stats.frames_sent == len(before + during + after)
    # the application's stream: model audio as AudioOut, and the session's end last
    assert sum(isinstance(i, AudioOut) for i in items) == len(rec.of(ev.ModelAudio)) == 2
    assert isinstance(items[-1], ev.SessionEnded) and items[-1].reason == "closed"
    if vad_mode == "client":
        kinds = [k for k, _ in up2.sent]
        assert kinds[: n + 2] == ["activity"] + ["audio"] * n + ["activity"]
        assert up2.of("activity") == ["start", "end"]
        assert [e.kind for e in rec.of(ev.ActivitySignal)] == ["start", "end"]
    else:
        assert not up1.of("activity") and not up2.of("activity")


async def test_refused_connects_back_off_then_the_session_ends_with_the_fallback():
    """A drop, then the resume and the fresh connect are both refused: the second connect waits
    the guard's backoff; with no rung left the caller hears the fallback and the session ends."""
    line, rec, items = ScriptedLine(), Recorder(), []
    session = scripted_session(line, rec, policy={"connect_backoff_s": 0.08})
    async with session:
        reader = consume(session, items)
        greet(line.current)
        await rec.wait(ev.TurnComplete, turn=1)
        line.refuse(1011, "Internal error", times=2)
        line.current.drop(1011, "Internal error")
        ended = await rec.wait(ev.SessionEnded)
    await reader

    assert line.log == [("open", 0), ("close", 0), ("open", 1), ("open", 2)]
    connecting = rec.of(ev.UpstreamConnecting)
    refused = [e for e in rec.of(ev.UpstreamClosed) if e.side == "server"]
    assert [c.purpose for c in connecting] == ["initial", "resume", "fresh"]
    assert connecting[1].t - refused[0].t < 0.08  # a drop reconnects at once
    assert connecting[2].t - refused[1].t >= 0.08  # a refusal backs off
    assert any(isinstance(i, PlayFallback) for i in items)
    assert ended.reason == "upstream closed 1011 Internal error"
    assert session.failure is not None and session.failure.reason == ended.reason


async def test_past_max_connect_failures_the_session_fails_without_another_attempt():
    line, rec, items = ScriptedLine(), Recorder(), []
    session = scripted_session(line, rec, max_connect_failures=1)
    async with session:
        reader = consume(session, items)
        greet(line.current)
        await rec.wait(ev.TurnComplete, turn=1)
        line.refuse(1011, "Internal error")
        line.current.drop(1011)
        ended = await rec.wait(ev.SessionEnded)
    await reader
    assert line.log == [("open", 0), ("close", 0), ("open", 1)]
    assert ended.reason == "upstream unreachable after 1 attempts"
    assert isinstance(items[-1], ev.SessionEnded)


async def test_a_refused_start_raises_and_never_retries():
    line, rec = ScriptedLine(), Recorder()
    line.refuse(1007, "API key not valid.")
    session = scripted_session(line, rec)
    with pytest.raises(LiveConfigError) as err:
        await session.start()
    assert err.value.code == 1007 and session.failure is err.value and session.ended
    assert line.log == [("open", 0)]
    assert [e.code for e in rec.of(ev.UpstreamClosed)] == [1007]


async def test_a_resume_without_setup_complete_times_out_and_the_ladder_goes_fresh():
    """A drop, then the resume's setupComplete never comes: the connect ends after
    `setup_timeout_s` as a setup_timeout verdict and a 1006 close, and the next rung connects."""
    line, rec = ScriptedLine(), Recorder()
    session = scripted_session(line, rec, policy={"setup_timeout_s": 0.2})
    async with session:
        greet(line.current)
        await rec.wait(ev.TurnComplete, turn=1)
        line.stalls = 1
        line.current.drop(1011, "Internal error")
        await rec.wait(ev.UpstreamConnected, purpose="fresh")
    # the stalled attempt is closed by us before the next connect
    assert line.log[:5] == [("open", 0), ("close", 0), ("open", 1), ("close", 1), ("open", 2)]
    connecting = rec.of(ev.UpstreamConnecting)
    assert [c.purpose for c in connecting] == ["initial", "resume", "fresh"]
    (verdict,) = rec.of(ev.Verdict)
    assert verdict.kind == "setup_timeout" and verdict.evidence["purpose"] == "resume"
    closes = [e for e in rec.of(ev.UpstreamClosed) if e.side == "server"]
    assert [(c.code, c.reason) for c in closes] == [
        (1011, "Internal error"),
        (1006, "setupComplete timeout"),
    ]
    assert closes[1].t - connecting[1].t == pytest.approx(0.2, abs=0.1)
    assert session.stats.setup_timeouts == 1


def test_bounds_are_one_object_and_keywords_still_work():
    line = ScriptedLine()
    policy = GuardPolicy(max_connect_failures=7)
    settings = Settings(model=MODEL, guard=policy)
    bounds = SessionBounds(ring_seconds=5.0, replay_speed=2.0)
    session = GuardedSession(
        settings, upstream_factory=line.factory, bounds=bounds, replay_speed=8.0, max_items=10
    )
    assert (session.bounds.ring_seconds, session.bounds.replay_speed) == (5.0, 8.0)
    assert session.bounds.max_items == 10 and session.ring.max_seconds == 5.0
    assert session.guard.policy.max_connect_failures == 7  # None: the settings' own
    session = GuardedSession(settings, upstream_factory=line.factory, max_connect_failures=2)
    assert session.guard.policy.max_connect_failures == 2
    assert settings.guard.max_connect_failures == 7  # the application's settings untouched
    with pytest.raises(ValueError, match="replay_speed"):
        GuardedSession(settings, upstream_factory=line.factory, replay_speed=0)
    with pytest.raises(ValueError, match="upstream_rate"):
        GuardedSession(settings, upstream_factory=line.factory, upstream_rate=44100)
    with pytest.raises(TypeError):
        GuardedSession(settings, upstream_factory=line.factory, ring_secs=5.0)  # type: ignore[call-arg]
