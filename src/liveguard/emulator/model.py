"""The emulated Gemini Live model: one sans-I/O object per connection, fed messages and time.

`EmulatedSession` takes parsed client messages (`liveguard.emulator.wire.ClientMessage`) and a
monotonic `now`, and returns what the server must do, in order: send a frame, or close the
connection. Everything that happens later (paced audio, turnComplete after playback time, goAway,
faults) sits in a time-ordered queue that the server drains with `poll(now)` at `next_deadline()`.
No sockets, no asyncio, no wall clock: tests drive it with plain floats and get identical results.

Around the turn flow here: the model family's rules (`Profile`, profiles.py), what the model hears
(`Listener`, listener.py), its context window (`ContextWindow`, context.py), which fault fires when
(`FaultPlan`, faults.py), and conversations that outlive connections (`ResumptionStore`,
resumption.py, shared by all the connections of one emulator process).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from liveguard.emulator import speech
from liveguard.emulator.activity import VadConfig
from liveguard.emulator.context import ContextWindow, usage_metadata
from liveguard.emulator.faults import FaultPlan
from liveguard.emulator.listener import Heard, Listener
from liveguard.emulator.profiles import (
    PROFILES,
    Profile,
    bare_model_name,
    is_known_model,
    profile_for,
    setup_refusal,
)
from liveguard.emulator.profiles import unknown_model_reason as _unknown_model_reason
from liveguard.emulator.resumption import (
    TOKENS_PER_AUDIO_SECOND,
    Conversation,
    ResumptionStore,
    Turn,
)
from liveguard.emulator.scenario import Scenario
from liveguard.emulator.schedule import Schedule
from liveguard.emulator.wire import INVALID_ARGUMENT, ClientMessage, truncate_reason

__all__ = [
    "GOAWAY_CLOSE_REASON",
    "SESSION_NOT_FOUND",
    "CloseConnection",
    "EmulatedSession",
    "ModelStats",
    "Output",
    "ResumptionStore",
    "SendFrame",
    "unknown_model_reason",
]

SESSION_NOT_FOUND = "BidiGenerateContent session not found"
GOAWAY_CLOSE_REASON = (
    "Connection aborted because the client failed to close the connection after receiving a "
    "GoAway signal once the session duration limit was reached."
)
PRECONDITION_FAILED = "Precondition check failed."
AUDIO_MIME = f"audio/pcm;rate={speech.OUTPUT_RATE}"
MAX_PENDING_TURNS = 8  # caller turns queued behind a non-interruptible answer


def unknown_model_reason(model: str) -> str:
    """The service's 1008 reason for a model it does not serve, cut to 123 bytes."""
    return truncate_reason(_unknown_model_reason(model))


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class SendFrame:
    """Send one server message (exact camelCase top-level keys; audio data as raw bytes)."""

    payload: dict


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """Close the WebSocket with this code and reason (reason already <= 123 bytes)."""

    code: int
    reason: str


Output = SendFrame | CloseConnection


@dataclass(slots=True)
class ModelStats:
    """Counters per connection; tests compare them with what a client sent and saw."""

    frames_received: int = 0
    audio_frames_received: int = 0
    audio_bytes_received: int = 0
    audio_seconds_received: float = 0.0
    audio_frames_ignored: int = 0  # manual mode, outside an activity
    text_inputs: int = 0
    client_contents: int = 0
    tool_responses: int = 0
    activity_starts: int = 0
    activity_ends: int = 0
    user_turns: int = 0
    model_turns: int = 0
    audio_chunks_sent: int = 0
    audio_seconds_sent: float = 0.0
    interrupts_sent: int = 0  # real barge-ins
    phantom_interrupts: int = 0
    wedged_turns: int = 0
    empty_turns: int = 0  # silent stalls and rejected runs
    inaudible_turns: int = 0
    cut_turns: int = 0
    background_phases: int = 0
    held_back: int = 0  # spoken parts held while the caller spoke (polite profiles)
    frozen: bool = False  # froze after a barge-in (fault)
    setup_stalled: bool = False  # setupComplete withheld (fault)
    profile: str = ""
    tool_calls_sent: int = 0
    tool_call_cancellations: int = 0
    tool_call_ids: list[str] = field(default_factory=list)  # the calls this connection made
    #: toolResponse ids this connection's conversation never saw (a misdelivered response)
    unknown_tool_responses: list[str] = field(default_factory=list)
    tool_answers_withheld: int = 0  # the tool_no_answer fault
    tool_interrupts: int = 0  # INTERRUPT results that cut off the model's acknowledgement
    handles_issued: int = 0
    resumed: bool = False
    goaway_sent: bool = False
    close_code: int | None = None
    close_reason: str | None = None
    transcripts: list[str] = field(default_factory=list)  # input transcripts, one per user turn


# --------------------------------------------------------------------------- generations


@dataclass(slots=True, eq=False)
class _Gen:
    """One model answer in progress, from the end of the user's turn to its final turnComplete
    (with background work, several spoken parts, each ending in a turnComplete IN_PROGRESS)."""

    kind: str  # "reply" | "tool" | "wedged" | "empty" | "phantom"
    interruptible: bool
    prompt_tokens: int
    prompt_audio_tokens: int
    clip: str | None = None
    text: str = ""
    cancelled: bool = False
    chunks_sent: int = 0
    total_chunks: int = 1
    audio_s_sent: float = 0.0
    text_sent: list[str] = field(default_factory=list)
    tool_ids: list[str] = field(default_factory=list)
    status: str | None = None  # interactionStatus of its turnComplete (None: not sent)
    fraction: float = 1.0  # the share of the answer spoken before turnComplete (cut answers)
    level: float | None = None  # mean |sample| the answer is scaled to (inaudible answers)
    background: bool = False  # in a background phase: caller speech does not interrupt it
    phases: deque[float | None] = field(default_factory=deque)  # background phases still to come
    filler: str | None = None  # spoken before each background phase
    answer: str | None = None  # the answer clip, spoken after the background phases
    reason: str | None = None  # turnCompleteReason of an empty turn
    ack: _Gen | None = None  # a NON_BLOCKING call's acknowledgement still being spoken
    acked: bool = False  # an acknowledgement was spoken (its own turn)
    result_due: bool = False  # WHEN_IDLE: speak about the result once the acknowledgement ends


@dataclass(frozen=True, slots=True)
class _UserInput:
    text: str
    utterance: str | None
    audio_s: float
    from_text: bool
    recorded: bool = False  # already in the history (clientContent turns)
    turn: int = 0  # the conversation's user turn number


# --------------------------------------------------------------------------- session


class EmulatedSession:
    """The model behind one WebSocket connection (see module docstring).

    Longer than ~350 lines on purpose: it is the turn flow, one state machine whose steps (a
    caller turn, the answer's spoken parts, background phases, barge-ins, turnComplete, the
    handle after it) share the generation in progress and the time queue, and each step is a
    timed action that schedules the next. What stands alone is outside: the model family's rules
    (`Profile`), what it hears (`Listener`), its context window (`ContextWindow`), the faults
    (`FaultPlan`), the conversations (`ResumptionStore`), the time queue (`Schedule`) and each
    spoken part's chunks and words (`speech.spoken_part`).
    """

    def __init__(
        self, scenario: Scenario, *, store: ResumptionStore, session_id: str, now: float
    ) -> None:
        self.scenario = scenario
        self.store = store
        self.session_id = session_id
        self.stats = ModelStats()
        self.rng = scenario.rng(store.next_ordinal(scenario.name))
        self.faults = FaultPlan(scenario, store, self.rng)
        self.model = ""
        self.profile: Profile = PROFILES["2.5-native-audio"]
        self.closed = False
        self._frozen = False  # freeze after barge-in: never answers again on this connection
        self._setup_stalled = False  # setupComplete never comes: every message is ignored
        self._held: tuple[_Gen, str, bool, bool] | None = (
            None  # speech waiting for the caller to stop
        )
        self._queue: Schedule[Output] = Schedule()
        self._conv: Conversation | None = None
        self._gen: _Gen | None = None
        self._pending: deque[_UserInput] = deque()
        self._last_seeded_user = ""  # the last user text of clientContent without turnComplete
        self._ears = Listener(self.stats)
        self._input_tx = False
        self._output_tx = False
        self._resumption = False
        self._text_mode = False
        self._tools: set[str] = set()
        self._tool_behavior: dict[str, str] = {}  # declared behaviours (else the profile's)
        self._ctx = ContextWindow(scenario.model.context_window_tokens)

    # ------------------------------------------------------------------ public API

    def handle_setup(self, setup: dict, now: float) -> list[Output]:
        """The first frame; validates the model, the profile's setup rules and any handle."""
        self.stats.frames_received += 1
        model = str(setup.get("model") or "")
        if not is_known_model(model):
            return self._close(1008, unknown_model_reason(model), now)
        self.model = bare_model_name(model)
        pinned = self.scenario.model.profile
        self.profile = PROFILES[profile_for(model) if pinned == "auto" else pinned]
        self.stats.profile = self.profile.name
        if refusal := setup_refusal(self.profile, setup):
            return self._close(1007, refusal, now)
        self._configure(setup)
        refused = self._open_conversation(setup, now)
        if refused is not None:
            return refused

        conn = self.scenario.connection
        lifetime = conn.lifetime_s
        if conn.goaway_time_left_s > 0:
            self._at(now + lifetime - conn.goaway_time_left_s, None, self._goaway)
        self._at(now + lifetime, None, lambda t: self._close(1008, GOAWAY_CLOSE_REASON, t))
        if self.faults.close_at_s is not None:
            self._at(now + self.faults.close_at_s, None, self._timed_close_fault)

        delay = conn.setup_delay_s.sample(self.rng)
        if self.faults.setup_stalls(setup):
            self._setup_stalled = self.stats.setup_stalled = True
        else:
            self._at(now + delay, None, self._setup_complete)
        return self.poll(now)

    def _configure(self, setup: dict) -> None:
        gen_cfg = setup.get("generation_config") or {}
        modalities = [str(m).upper() for m in gen_cfg.get("response_modalities") or []]
        self._text_mode = modalities == ["TEXT"]
        self._input_tx = setup.get("input_audio_transcription") is not None
        self._output_tx = setup.get("output_audio_transcription") is not None
        self._ears.configure(VadConfig.from_setup(setup.get("realtime_input_config")))
        self._ctx.configure(setup)
        for tool in setup.get("tools") or []:
            for decl in tool.get("function_declarations") or []:
                if decl.get("name") and decl.get("behavior"):
                    self._tool_behavior[str(decl["name"])] = str(decl["behavior"])
                if decl.get("name"):
                    self._tools.add(str(decl["name"]))

    def _open_conversation(self, setup: dict, now: float) -> list[Output] | None:
        """A new conversation, or the one a resumption handle names; the close if refused."""
        resumption = setup.get("session_resumption")
        self._resumption = resumption is not None
        handle = (resumption or {}).get("handle")
        if handle:
            conv = self.store.lookup(str(handle), now)
            if conv is None:
                return self._close(1008, SESSION_NOT_FOUND, now)
            if not self.store.acquire(conv.lineage, self.session_id):
                self.faults.bind(conv)  # the previous connection still holds it
                rejected = self.faults.resume_rejected()
                if rejected is not None:
                    return self._close(rejected.code, rejected.close_reason(), now)
                return self._close(1008, SESSION_NOT_FOUND, now)
            self.faults.resume(conv)
            conv.seeded = True
            self.stats.resumed = True
        else:
            conv = Conversation(lineage=self.store.new_lineage())
            self.store.acquire(conv.lineage, self.session_id)
        self._conv = self._ctx.conv = conv
        self.faults.bind(conv)
        return None

    def handle_client(self, msg: ClientMessage, now: float) -> list[Output]:
        """Any message after setup."""
        if self.closed:
            return []
        self.stats.frames_received += 1
        if self._setup_stalled:
            return []
        body = msg.body
        out: list[Output] = []
        if msg.kind == "realtime_input":
            out = self._realtime(body, now)
        elif msg.kind == "client_content":
            out = self._client_content(body, now)
        elif msg.kind == "tool_response":
            out = self._tool_response(body, now)
        elif msg.kind == "setup":  # a second setup: the service rejects it
            out = self._close(1007, INVALID_ARGUMENT, now)
        # context_update: accepted; the emulated model's answers do not depend on it
        return self._then_due(out, now)

    def handle_audio(self, data: bytes, mime_type: str, now: float) -> list[Output]:
        """`handle_client` for one `realtimeInput.audio` blob, without building the message.

        The same result as `handle_client(ClientMessage("realtime_input", {"audio": {"data":
        data, "mime_type": mime_type}}), now)`: the server's hot path (50 a second per session).
        """
        if self.closed:
            return []
        self.stats.frames_received += 1
        if self._setup_stalled:
            return []
        return self._then_due(self._audio(data or b"", mime_type, now), now)

    def _then_due(self, out: list[Output], now: float) -> list[Output]:
        """`out` followed by everything due by `now` (unless the message closed the session)."""
        if self.closed:
            return out
        if not self._queue.any_due(now):  # nothing due (poll would return [])
            return out
        return out + self.poll(now)

    def poll(self, now: float) -> list[Output]:
        """Everything due by `now`, in order."""
        return self._queue.run_due(now, lambda: self.closed)

    def next_deadline(self) -> float | None:
        if self.closed:
            return None
        return self._queue.next_time()

    def pong_policy(self) -> float | None:
        conn = self.scenario.connection
        return None if conn.drop_pongs else conn.pong_delay_s

    def connection_closed(self, now: float) -> None:
        """The socket went away: free the conversation for a resume, stop all timers."""
        self.closed = True
        self._queue.clear()
        if self._conv is not None:
            self.store.release(self._conv.lineage, self.session_id, now)

    @property
    def wedged(self) -> bool:
        return bool(self._conv and self._conv.wedged)

    # ------------------------------------------------------------------ scheduling

    def _at(self, t: float, gen: _Gen | None, action: Callable[[float], list[Output]]) -> None:
        self._queue.at(t, gen, action)

    def _send(self, payload: dict) -> list[Output]:
        return [SendFrame(payload)]

    def _close(self, code: int, reason: str, now: float) -> list[Output]:
        self.closed = True
        self.stats.close_code = code
        self.stats.close_reason = truncate_reason(reason)
        self._queue.clear()
        if self._conv is not None:
            self.store.release(self._conv.lineage, self.session_id, now)
        return [CloseConnection(code, truncate_reason(reason))]

    def _setup_complete(self, now: float) -> list[Output]:
        return self._send({"setupComplete": {}})

    def _goaway(self, now: float) -> list[Output]:
        self.stats.goaway_sent = True
        return self._send(
            {"goAway": {"timeLeft": _duration(self.scenario.connection.goaway_time_left_s)}}
        )

    def _timed_close_fault(self, now: float) -> list[Output]:
        fault = self.faults.timed_close()
        if fault is None:
            return []
        return self._close(fault.code, fault.close_reason(), now)

    # ------------------------------------------------------------------ realtime input

    def _realtime(self, body: dict, now: float) -> list[Output]:
        if "audio" in body:
            blob = body["audio"] or {}
            return self._audio(blob.get("data") or b"", blob.get("mime_type"), now)
        if "media_chunks" in body:
            out: list[Output] = []
            for blob in (body["media_chunks"] or [])[:1]:  # the service ignores all but the first
                mime = str(blob.get("mime_type") or "")
                if mime.startswith("audio/"):
                    out += self._audio(blob.get("data") or b"", mime, now)
            return out
        if body.get("audio_stream_end"):
            if not self.profile.stream_end_ends_turn:
                return []  # 3.8: the end of speech is found in trailing audio only
            return self._heard(self._ears.stream_end(), now)
        if "activity_start" in body:
            return self._heard(self._ears.activity_start(), now)
        if "activity_end" in body:
            return self._heard(self._ears.activity_end(), now)
        if "text" in body:
            text = str(body["text"] or "")
            if not text.strip():
                return []
            self.stats.text_inputs += 1
            return self._user_input(
                _UserInput(text, speech.match_utterance_text(text), 0.0, True), now, barge=True
            )
        return []  # video frames: accepted, the emulated model does not look at them

    def _audio(self, data: bytes, mime: str | None, now: float) -> list[Output]:
        heard = self._ears.audio(data, mime)
        return self._heard(heard, now) if heard else []

    def _heard(self, heard: list[Heard], now: float) -> list[Output]:
        """The caller's activity started (barge-in) or ended (a caller turn to answer)."""
        out: list[Output] = []
        for h in heard:
            if h.kind == "start":
                self.stats.activity_starts += 1
                out += self._voice_activity("ACTIVITY_START", h.offset_s)
                out += self._barge_in(now)
                continue
            self.stats.activity_ends += 1
            out += self._voice_activity("ACTIVITY_END", h.offset_s)
            if h.empty:  # an empty manual activity: what the service does (spec §8.2)
                content = self._with_status({"turnComplete": True}, None)
                out += self._send({"serverContent": content, "usageMetadata": {}})
                return out + self._close(1007, PRECONDITION_FAILED, now)
            out += self._audio_turn_end(h.pcm, h.rate, now)
            out += self._release_held(now)
        return out

    def _voice_activity(self, kind: str, offset_s: float) -> list[Output]:
        if not self.scenario.model.voice_activity_events:
            return []
        return self._send(
            {
                "serverContent": {},
                "voiceActivity": {"type": kind, "audioOffset": _duration(offset_s)},
            }
        )

    def _audio_turn_end(self, pcm: bytes, rate: int, now: float) -> list[Output]:
        audio_s = len(pcm) / 2 / rate
        name, text = speech.transcribe(pcm, rate, self.scenario.model.placeholder_transcript)
        t = now + self.scenario.model.transcription_delay_s
        if self._input_tx:
            for piece in speech.fragments(text, self.scenario.model.transcript_fragment_words):
                self._schedule_tx(t, "inputTranscription", piece)
                t += 0.02
        if len(self.stats.transcripts) < 1000:
            self.stats.transcripts.append(text)
        return self._user_input(_UserInput(text, name, audio_s, False), t, barge=False)

    def _schedule_tx(self, t: float, key: str, text: str, gen: _Gen | None = None) -> None:
        payload = {"serverContent": {key: {"text": text}}}
        for _ in range(self.faults.transcript_copies(key)):
            self._at(t, gen, lambda _t, p=payload: self._send(p))

    # ------------------------------------------------------------------ client content, tools

    def _client_content(self, body: dict, now: float) -> list[Output]:
        assert self._conv is not None
        self.stats.client_contents += 1
        turns = body.get("turns") or []
        complete = bool(body.get("turn_complete"))
        out: list[Output] = []
        if complete or (turns and not self.profile.content_waits):
            out += self._barge_in(now, force=True)  # "will interrupt any current generation"
        texts: list[str] = []
        for turn in turns:
            role = str(turn.get("role") or "user")
            text = " ".join(
                str(p["text"]) for p in turn.get("parts") or [] if isinstance(p.get("text"), str)
            )
            self._ctx.record(Turn("model" if role == "model" else "user", text))
            if role != "model" and text:
                texts.append(text)
        if not complete:
            if turns:
                self._conv.seeded = True
            if texts:
                self._last_seeded_user = texts[-1]
            return out
        text = " ".join(texts) or self._last_seeded_user
        self._last_seeded_user = ""
        return out + self._user_input(
            _UserInput(text, speech.match_utterance_text(text), 0.0, True, recorded=True),
            now,
            barge=False,
        )

    def _tool_response(self, body: dict, now: float) -> list[Output]:
        self.stats.tool_responses += 1
        answered = [str(r.get("id")) for r in body.get("function_responses") or []]
        known = self._conv.tool_call_ids if self._conv is not None else set()
        self.stats.unknown_tool_responses += [i for i in answered if i not in known][:16]
        gen = self._gen
        if gen is None or gen.kind != "tool" or not gen.tool_ids:
            return []
        if not set(answered) & set(gen.tool_ids):
            return []
        gen.tool_ids = []
        if self._silent_result(body, gen):  # NON_BLOCKING + SILENT: no speech, the turn ends
            if gen.acked:  # the acknowledgement was the turn: nothing more to say
                self._gen = None
                return self._after_turn(now)
            return self._finish_turn(gen, now)
        if self.faults.tool_no_answer():  # silence: no audio, no turnComplete
            self.stats.tool_answers_withheld += 1
            gen.cancelled = True
            if gen.ack is not None:
                gen.ack.cancelled = True
            self._gen = None
            return []
        return self._speak_result(gen, body, now)

    def _speak_result(self, gen: _Gen, body: dict, now: float) -> list[Output]:
        """Speak about a result: at once when idle; while the acknowledgement of a NON_BLOCKING
        call is still spoken, `INTERRUPT` cuts it off (`interrupted`, its turnComplete) and
        speaks now, `WHEN_IDLE` (or no scheduling) waits for its turnComplete."""
        clip = gen.answer or gen.clip or "order_shipped"
        ack = gen.ack
        if ack is None:
            self._speak(gen, now, clip)
            return []
        schedulings = {str(r.get("scheduling") or "") for r in body.get("function_responses") or []}
        if "INTERRUPT" not in schedulings:
            gen.result_due = True
            return []
        ack.cancelled, gen.ack = True, None
        self.stats.tool_interrupts += 1
        out = self._send({"serverContent": {"interrupted": True}})
        out += self._turn_complete(ack, now, interrupted=True)
        self._speak(gen, now, clip)
        return out

    def _acknowledge(self, gen: _Gen, now: float, clip: str) -> None:
        """A NON_BLOCKING call: the model keeps talking ("let me check") in a turn of its own."""
        ack = _Gen(
            "tool",
            interruptible=False,
            prompt_tokens=gen.prompt_tokens,
            prompt_audio_tokens=gen.prompt_audio_tokens,
        )
        gen.answer, gen.ack, gen.acked = gen.clip, ack, True
        self._voice(ack, now, clip, False, True, end=lambda g, t: self._acknowledged(gen, g, t))

    def _acknowledged(self, gen: _Gen, ack: _Gen, now: float) -> list[Output]:
        """The acknowledgement's turnComplete; a WHEN_IDLE result waiting for it is spoken now."""
        if gen.ack is ack:
            gen.ack = None
        out = self._turn_complete(ack, now)
        if gen.result_due and self._gen is gen and not gen.cancelled:
            gen.result_due = False
            self._speak(gen, now, gen.answer or "order_shipped")
        return out

    # ------------------------------------------------------------------ turns

    def _barge_in(self, now: float, *, force: bool = False) -> list[Output]:
        """Caller activity (or a client message) while the model is answering."""
        gen = self._gen
        if gen is None or not gen.interruptible:
            return []
        if not force and (not self._ears.vad.interrupts or gen.background):
            return []  # the caller's speech never stops background work
        gen.cancelled = True
        if gen.ack is not None:
            gen.ack.cancelled = True
        self._gen = None
        if self._held is not None and self._held[0] is gen:
            self._held = None
        out: list[Output] = []
        if gen.tool_ids:
            self.stats.tool_call_cancellations += 1
            out += self._send({"toolCallCancellation": {"ids": list(gen.tool_ids)}})
        self.stats.interrupts_sent += 1
        out += self._send({"serverContent": {"interrupted": True}})
        gen.status = "IDLE" if gen.status is not None else None
        out += self._finish_turn(gen, now, interrupted=True)
        if self.faults.freezes(self.stats.interrupts_sent):
            self._frozen = self.stats.frozen = True
        return out

    def _user_input(self, inp: _UserInput, t: float, *, barge: bool) -> list[Output]:
        """A complete caller turn; answered at time `t` (now + transcript time for audio)."""
        assert self._conv is not None
        out: list[Output] = []
        if barge:
            out += self._barge_in(t)
        self.stats.user_turns += 1
        self._conv.user_turns += 1
        inp = replace(inp, turn=self._conv.user_turns)
        if self._gen is not None:  # still answering (NO_INTERRUPTION, or a fault turn)
            if len(self._pending) < MAX_PENDING_TURNS:
                self._pending.append(inp)
            return out
        self._respond(inp, t)
        return out

    def _respond(self, inp: _UserInput, t: float) -> None:
        conv = self._conv
        assert conv is not None
        if self._frozen:  # freeze after barge-in: heard (transcribed) but never answered
            return
        greeting_due = conv.model_turns == 0 and not conv.seeded
        if not inp.recorded:
            self._ctx.record(Turn("user", inp.text, inp.audio_s))
        prompt = self._ctx.prompt_tokens()
        if self._ctx.exhausted:
            # the context is exhausted: the service closes 1007 (spec §9)
            self._at(t, None, lambda now: self._close(1007, INVALID_ARGUMENT, now))
            return
        audio_tokens = self._ctx.audio_tokens()
        gen = _Gen(
            "reply", interruptible=True, prompt_tokens=prompt, prompt_audio_tokens=audio_tokens
        )
        if self._empty_turn(gen, inp, t):
            return
        m = self.scenario.model
        tool = m.tool_call
        if tool is not None and tool.function in self._tools and self._tool_triggered(tool, inp):
            gen.kind = "tool"
            gen.clip = tool.reply
            self._gen = gen
            call_id = f"function-call-{self.rng.randrange(10**17, 10**18)}"
            gen.tool_ids = [call_id]
            when = t + m.first_audio_latency_s.sample(self.rng)
            self._at(
                when,
                gen,
                lambda now, g=gen: self._tool_call(g, call_id, tool.function, dict(tool.args), now),
            )
            return
        clip = speech.choose_reply(
            utterance=inp.utterance,
            greeting_due=greeting_due,
            greeting=m.greeting,
            replies=m.replies,
            fallback=m.fallback_replies,
            last_reply=conv.last_reply,
            rng=self.rng,
        )
        self._gen = gen
        gen.fraction = self.faults.cut_fraction(inp.turn) or 1.0
        gen.level = self.faults.inaudible_level(inp.turn)
        if gen.level is not None:
            self.stats.inaudible_turns += 1
        if gen.fraction < 1.0:
            self.stats.cut_turns += 1
        work = self._background_work(inp)
        if work is not None:
            gen.filler, phases = work
            gen.phases = deque(phases)
            gen.answer = clip
            gen.status = "IN_PROGRESS"
            self._speak(gen, t, gen.filler, final=False)
            return
        self._speak(gen, t, clip, greeting=greeting_due)

    def _empty_turn(self, gen: _Gen, inp: _UserInput, t: float) -> bool:
        """A turn that completes with no answer: wedged, a silent stall or a rejected run."""
        conv = self._conv
        assert conv is not None
        delay = self.faults.wedged_turn_delay(conv, inp.from_text)
        if delay is not None:
            gen.kind, gen.reason = "wedged", self.faults.wedge_reason
            self.stats.wedged_turns += 1
        else:
            empty = self.faults.empty_turn(inp.turn)
            if empty is None:
                return False
            delay, gen.reason = empty
            gen.kind = "empty"
            self.stats.empty_turns += 1
        gen.interruptible = False
        self._gen = gen
        self._at(t + delay, gen, lambda now, g=gen: self._finish_turn(g, now))
        return True

    def _background_work(self, inp: _UserInput) -> tuple[str, list[float | None]] | None:
        """(filler, phase lengths) when this request gets background phases (profile or fault)."""
        faulted = self.faults.background(inp.turn)
        if faulted is not None:
            return faulted
        work = self.scenario.model.background_work
        if work is None or not self.profile.background_work:
            return None
        if inp.utterance not in work.on_utterances and inp.turn not in work.on_turns:
            return None
        return work.filler, [work.background_s.sample(self.rng) for _ in range(work.phases)]

    def _silent_result(self, body: dict, gen: _Gen) -> bool:
        """A NON_BLOCKING call answered with `scheduling: SILENT` (3.8's default behaviour is
        NON_BLOCKING; 2.5 and 3.1 run calls synchronously, where scheduling does not apply)."""
        for r in body.get("function_responses") or []:
            behavior = self._behavior(str(r.get("name")))
            if behavior == "NON_BLOCKING" and str(r.get("scheduling") or "") == "SILENT":
                return True
        return False

    def _behavior(self, name: str) -> str:
        """A function's declared behaviour, else the profile's (NON_BLOCKING only on 3.8)."""
        default = "NON_BLOCKING" if self.profile.name.startswith("3.8") else "BLOCKING"
        return self._tool_behavior.get(name, default)

    def _tool_triggered(self, tool: Any, inp: _UserInput) -> bool:
        if tool.on_turn is not None:
            return self._conv is not None and self._conv.user_turns == tool.on_turn
        return inp.utterance == tool.on_utterance

    def _tool_call(
        self, gen: _Gen, call_id: str, name: str, args: dict, now: float
    ) -> list[Output]:
        self.stats.tool_calls_sent += 1
        self.stats.tool_call_ids.append(call_id)
        if self._conv is not None and len(self._conv.tool_call_ids) < 1024:  # bounded
            self._conv.tool_call_ids.add(call_id)
        out = self._resumable_false()
        out += self._send(
            {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": args}]}}
        )
        spec = self.scenario.model.tool_call
        if spec is not None and spec.ack is not None and self._behavior(name) == "NON_BLOCKING":
            self._acknowledge(gen, now, spec.ack)
        return out

    def _resumable_false(self) -> list[Output]:
        if not self._resumption:
            return []
        return self._send({"sessionResumptionUpdate": {"resumable": False}})

    def _speak(
        self, gen: _Gen, t: float, clip: str, *, greeting: bool = False, final: bool = True
    ) -> None:
        """Schedule one spoken part of an answer after the first-audio latency.

        A polite profile (3.8) does not start while the caller speaks: the part is held until
        the caller's activity ends. `final=False` is a filler before a background phase.
        """
        t_first = t + self.scenario.model.first_audio_latency_s.sample(self.rng)
        if not self.profile.polite:
            self._voice(gen, t_first, clip, greeting, final)
            return
        self._at(
            t_first, gen, lambda now, g=gen: self._start_or_hold(g, clip, greeting, final, now)
        )

    def _caller_speaking(self) -> bool:
        return self._ears.speaking

    def _start_or_hold(
        self, gen: _Gen, clip: str, greeting: bool, final: bool, now: float
    ) -> list[Output]:
        if self._caller_speaking():
            self._held = (gen, clip, greeting, final)
            self.stats.held_back += 1
            return []
        self._voice(gen, now, clip, greeting, final)
        return []

    def _release_held(self, now: float) -> list[Output]:
        """The caller stopped speaking: a held part starts now."""
        held = self._held
        if held is None or self._caller_speaking():
            return []
        self._held = None
        gen, clip, greeting, final = held
        if not gen.cancelled:
            self._voice(gen, now, clip, greeting, final)
        return []

    def _voice(
        self,
        gen: _Gen,
        t_first: float,
        clip: str,
        greeting: bool,
        final: bool,
        end: Callable[[_Gen, float], list[Output]] | None = None,
    ) -> None:
        """Paced chunks from `t_first`, transcript, generationComplete, turnComplete (or `end`)."""
        m = self.scenario.model
        part = speech.spoken_part(
            clip,
            chunk_ms=m.chunk_ms,
            chunk_count=m.greeting_chunks if greeting else None,
            level=gen.level,
            fraction=gen.fraction if final else 1.0,
            playback_speed=m.playback_speed,
            send_speedup=m.send_speedup,
            fragment_words=m.transcript_fragment_words,
        )
        gen.clip, gen.text, gen.total_chunks = clip, part.text, len(part.chunks)
        self._at(t_first, gen, lambda now: self._resumable_false())
        tx = self._output_tx and not self._text_mode
        combined = tx and self.profile.combined_parts
        t_last = t_first
        for i, (chunk, mine) in enumerate(zip(part.chunks, part.words, strict=True)):
            t_chunk = t_first + i * part.spacing
            t_last = t_chunk
            words = "".join(mine) if combined else ""
            self._at(t_chunk, gen, lambda now, c=chunk, g=gen, w=words: self._chunk(g, c, now, w))
            if tx and not combined:
                for piece in mine:
                    self._schedule_tx(t_chunk, "outputTranscription", piece, gen)
        t_gen_done = t_last + 0.005
        self._at(t_gen_done, gen, lambda now, g=gen: self._generation_complete(g))
        t_done = max(t_first + part.duration, t_gen_done + 0.005)
        done = end or (self._finish_turn if final else self._in_progress)
        self._at(t_done, gen, lambda now, g=gen: done(g, now))

    def _chunk(self, gen: _Gen, pcm: bytes, now: float, words: str = "") -> list[Output]:
        assert self._conv is not None
        fault = self.faults.close_mid_turn(self._conv.model_turns + 1, gen.chunks_sent)
        if fault is not None:
            return self._close(fault.code, fault.close_reason(), now)
        gen.chunks_sent += 1
        seconds = len(pcm) / 2 / speech.OUTPUT_RATE
        gen.audio_s_sent += seconds
        if self._text_mode:  # TEXT modality: the words instead of the audio
            words_all = gen.text.split()
            lo = round((gen.chunks_sent - 1) * len(words_all) / gen.total_chunks)
            hi = round(gen.chunks_sent * len(words_all) / gen.total_chunks)
            if hi <= lo:
                return []
            piece = " ".join(words_all[lo:hi])
            piece = piece if not gen.text_sent else f" {piece}"
            gen.text_sent.append(piece)
            return self._send({"serverContent": {"modelTurn": {"parts": [{"text": piece}]}}})
        self.stats.audio_chunks_sent += 1
        self.stats.audio_seconds_sent += seconds
        part = {"inlineData": {"mimeType": AUDIO_MIME, "data": pcm}}
        content: dict[str, Any] = {"modelTurn": {"parts": [part]}}
        if words:  # 3.1: the transcription rides in the same message as the audio
            content["outputTranscription"] = {"text": words}
        return self._send({"serverContent": content})

    def _generation_complete(self, gen: _Gen) -> list[Output]:
        return self._send({"serverContent": {"generationComplete": True}})

    def _finish_turn(self, gen: _Gen, now: float, *, interrupted: bool = False) -> list[Output]:
        """turnComplete (+ usage), then a fresh handle, then whatever is queued or faulted."""
        if self._gen is gen:
            self._gen = None
        out = self._turn_complete(gen, now, interrupted=interrupted)
        out += self._after_turn(now)
        return out

    def _turn_complete(self, gen: _Gen, now: float, *, interrupted: bool = False) -> list[Output]:
        """Count and record the spoken part, send turnComplete with usage (and status)."""
        conv = self._conv
        assert conv is not None
        conv.model_turns += 1
        self.stats.model_turns += 1
        response_tokens = (
            round(gen.audio_s_sent * TOKENS_PER_AUDIO_SECOND)
            if not self._text_mode
            else sum(max(1, len(p) // 4) for p in gen.text_sent)
        )
        if gen.kind in ("reply", "tool") and (gen.chunks_sent or gen.text_sent):
            spoken = gen.text
            if interrupted:
                words = spoken.split()
                heard = round(len(words) * min(1.0, gen.chunks_sent / gen.total_chunks))
                spoken = " ".join(words[:heard])
            self._ctx.record(Turn("model", spoken, gen.audio_s_sent, gen.clip))
        content: dict[str, Any] = {"turnComplete": True}
        if gen.reason:
            content["turnCompleteReason"] = gen.reason
        content = self._with_status(content, gen.status)
        return self._send(
            {"serverContent": content, "usageMetadata": self._usage(gen, response_tokens)}
        )

    def _with_status(self, content: dict, status: str | None) -> dict:
        """`interactionStatus` beside turnComplete: on 3.8 always, elsewhere when a fault set it."""
        if status is None and self.profile.interaction_status:
            status = "IDLE"
        if status is not None:
            content["interactionStatus"] = status
        return content

    def _in_progress(self, gen: _Gen, now: float) -> list[Output]:
        """The filler is spoken: turnComplete IN_PROGRESS, then a background phase (no output)."""
        out = self._turn_complete(gen, now)
        gen.background = True
        gen.chunks_sent, gen.audio_s_sent, gen.text_sent = 0, 0.0, []
        self.stats.background_phases += 1
        seconds = gen.phases.popleft() if gen.phases else None
        if seconds is not None:  # None: the phase never ends
            self._at(now + seconds, gen, lambda t, g=gen: self._after_background(g, t))
        return out

    def _after_background(self, gen: _Gen, now: float) -> list[Output]:
        gen.background = False
        if gen.phases:
            assert gen.filler is not None
            self._speak(gen, now, gen.filler, final=False)
        else:
            assert gen.answer is not None
            gen.status = "IDLE"
            self._speak(gen, now, gen.answer)
        return []

    def _after_turn(self, now: float) -> list[Output]:
        conv = self._conv
        assert conv is not None
        if self.faults.wedges_after_turn(conv):
            self._wedge()
        out: list[Output] = []
        if self._resumption:
            handle = self.store.issue(conv, now, self.scenario.connection.handle_ttl_s)
            self.stats.handles_issued += 1
            out += self._send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})
        phantom = self.faults.phantom_after_turn(conv)
        if phantom is not None:
            gen = _Gen(
                "phantom",
                interruptible=False,
                prompt_tokens=self._ctx.prompt_tokens(),
                prompt_audio_tokens=0,
            )
            self._gen = gen
            self._at(now + phantom.delay_s, gen, lambda t, g=gen: self._phantom(g, t))
            return out
        if self._pending and self._gen is None:
            self._respond(self._pending.popleft(), now)
        return out

    def _phantom(self, gen: _Gen, now: float) -> list[Output]:
        phantom = self.scenario.faults.phantom_interrupt
        assert phantom is not None
        self.stats.phantom_interrupts += 1
        if self.faults.wedges_after_phantom:
            self._wedge()
        out = self._send({"serverContent": {"interrupted": True}})
        if phantom.turn_complete_after_s is None:
            self._gen = None
            if self._pending:
                self._respond(self._pending.popleft(), now)
            return out
        self._at(now + phantom.turn_complete_after_s, gen, lambda t, g=gen: self._finish_turn(g, t))
        return out

    def _wedge(self) -> None:
        assert self._conv is not None
        self._conv.wedged = True
        self.store.mark_wedged(self._conv.lineage)

    def _usage(self, gen: _Gen, response_tokens: int) -> dict:
        return usage_metadata(
            gen.prompt_tokens, gen.prompt_audio_tokens, response_tokens, self._text_mode
        )


def _duration(seconds: float) -> str:
    """proto Duration JSON: "50s", "0.440s"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    return f"{seconds:.3f}s"
