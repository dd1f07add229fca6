"""The guard's tool rules: a tool result the model should speak about gets an answer deadline, and
a long BLOCKING call keeps the caller informed with the filler.

Why a module of its own: the main guard (machine.py, turns.py) already restarts a caller turn's
answer deadline from the `toolResponse` when the turn is still waiting for an answer. What it
cannot see is the tool's scheduling: a NON_BLOCKING call the model announced ("let me check")
leaves no turn waiting, so a result it never speaks about is a silence nobody watches; and a
SILENT result expects no speech at all. This object is fed the same events plus the declared
behaviours, and answers with guard outputs (a verdict, a nudge, the filler) the session carries
out like the guard's. It stays quiet while the main guard's own turn deadline runs
(`turn_waiting`), so one silence is never judged twice.

Rules (docs/guard.md, "Tools"):
- BLOCKING, or NON_BLOCKING with INTERRUPT: the deadline runs from the `toolResponse`;
  NON_BLOCKING with WHEN_IDLE (or no scheduling): from when the model is next idle; SILENT: none.
- Model audio after that answers it; the caller speaking or an interruption hands the
  conversation back to the turn rules.
- No answer: `Verdict(unanswered_turn, rule=tool_response_unanswered)` and a nudge (`SendText`)
  naming the tool; still none after `answer_deadline_s` more: a second verdict
  (`tool_response_unanswered_after_nudge`) and `escalate` hands the silence to the main guard's
  ladder (`Guard.recover_tool_silence`: resume from a healthy handle, fresh session re-seeded,
  spoken fallback), whose outputs come back with the verdict.
- A BLOCKING call still running `filler_after_s` after it started: `PlayFiller` once per call
  (its timeout, `timeout_s`, bounds it; the runner answers with an error then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from liveguard import events as ev
from liveguard.guard.actions import Action, PlayFiller, SendText

Output = ev.Event | Action  # verdicts, the nudge, the filler; the ladder's outputs once escalated
MAX_TRACKED = 64


@dataclass(frozen=True, slots=True)
class ToolRule:
    """A declared tool's `behavior` and `scheduling` (None: the model's / API's default)."""

    behavior: str | None = None
    scheduling: str | None = None


@dataclass(slots=True)
class _Expect:
    call_id: str
    tool: str
    since: float  # the response's time
    deadline: float | None  # None: waits for the model to be idle first
    nudged: bool = False


class ToolGuard:
    """See the module docstring. Plain object: `feed(event)`, `tick(now)`, `next_deadline()`."""

    def __init__(
        self,
        rules: Mapping[str, ToolRule],
        *,
        default_behavior: str = "BLOCKING",
        answer_deadline_s: float = 3.0,
        filler_after_s: float | None = None,
        turn_waiting: Callable[[], bool] = lambda: False,
        inaudible_level: float = 100.0,
        escalate: Callable[[float, float, str, str], list[Output]] | None = None,
    ) -> None:
        self.rules = dict(rules)
        self.inaudible_level = inaudible_level  # quieter audio answers nothing (guard.md)
        self.default_behavior = default_behavior
        self.answer_deadline_s = answer_deadline_s
        self.filler_after_s = filler_after_s
        self.turn_waiting = turn_waiting
        self.escalate = escalate  # (now, response time, reason, prompt) -> the ladder's outputs
        self._names: dict[str, str] = {}
        self._expect: dict[str, _Expect] = {}
        self._filler_due: dict[str, float] = {}  # running BLOCKING calls: when the filler plays
        self._model_active = False

    def behavior(self, tool: str) -> tuple[str, str | None]:
        rule = self.rules.get(tool, ToolRule())
        behavior = rule.behavior or self.default_behavior
        return behavior, (rule.scheduling if behavior == "NON_BLOCKING" else None)

    # ------------------------------------------------------------------ events

    def feed(self, event: ev.Event) -> list[Output]:
        t = event.t
        if isinstance(event, ev.ToolCall):
            self._names.update(zip(event.ids, event.names, strict=False))
            while len(self._names) > MAX_TRACKED:
                self._names.pop(next(iter(self._names)))
        elif isinstance(event, ev.ToolCallStarted):
            if self.filler_after_s is not None and self.behavior(event.tool)[0] == "BLOCKING":
                self._filler_due[event.call_id] = t + self.filler_after_s
        elif isinstance(event, ev.ToolCallFinished):
            self._filler_due.pop(event.call_id, None)
        elif isinstance(event, ev.ToolResponse):
            for call_id in event.ids:
                self._responded(t, call_id)
        elif isinstance(event, ev.ModelAudio):
            self._model_active = True
            if 0 <= event.level < self.inaudible_level:
                return []  # a caller hears nothing: the result is not spoken yet
            self._expect = {
                k: x for k, x in self._expect.items() if x.deadline is None or t < x.since
            }
        elif isinstance(event, ev.TurnComplete):
            self._model_active = False
            for x in self._expect.values():
                if x.deadline is None:
                    x.deadline = t + self.answer_deadline_s
        elif isinstance(event, ev.Interrupted | ev.CallerSpeechStarted | ev.CallerText):
            self._model_active = False
            self._expect.clear()  # the caller speaks: the turn rules watch what follows
        elif isinstance(event, ev.ToolCallCancelled):
            for call_id in event.ids:
                self._filler_due.pop(call_id, None)
        return []

    def _responded(self, t: float, call_id: str) -> None:
        tool = self._names.get(call_id, "")
        behavior, scheduling = self.behavior(tool)
        if behavior == "NON_BLOCKING" and scheduling == "SILENT":
            return  # no speech expected
        idle_first = behavior == "NON_BLOCKING" and scheduling in (None, "WHEN_IDLE")
        deadline = None if idle_first and self._model_active else t + self.answer_deadline_s
        self._expect[call_id] = _Expect(call_id, tool, t, deadline)
        while len(self._expect) > MAX_TRACKED:
            self._expect.pop(next(iter(self._expect)))

    # ------------------------------------------------------------------ time

    def next_deadline(self) -> float | None:
        times = [x.deadline for x in self._expect.values() if x.deadline is not None]
        times += self._filler_due.values()
        return min(times) if times else None

    def tick(self, now: float) -> list[Output]:
        out: list[Output] = []
        for call_id, due in list(self._filler_due.items()):
            if now >= due:
                del self._filler_due[call_id]
                out.append(PlayFiller())
        for call_id, x in list(self._expect.items()):
            if x.deadline is None or now < x.deadline:
                continue
            if self.turn_waiting():  # the main guard's turn deadline covers this silence
                del self._expect[call_id]
                continue
            rule = "tool_response_unanswered" + ("_after_nudge" if x.nudged else "")
            prompt = f"The result of {x.tool or 'the tool'} is in; tell the caller."
            evidence = {"rule": rule, "tool": x.tool, "call_id": call_id}
            evidence["waited_s"] = round(now - x.since, 3)
            out.append(ev.Verdict(t=now, kind="unanswered_turn", turn=0, evidence=evidence))
            if x.nudged:
                del self._expect[call_id]
                if self.escalate is not None:
                    out.extend(self.escalate(now, x.since, rule, prompt))
            else:
                x.nudged = True
                x.deadline = now + self.answer_deadline_s
                out.append(SendText(prompt))
        return out
