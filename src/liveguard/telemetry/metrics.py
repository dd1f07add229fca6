"""Prometheus metrics for the relay, derived from the same events the logs hold.

`MetricsRecorder.observe(event)` is an `on_event` callback. It has its own `CollectorRegistry`, so
several relays (or tests) in one process never collide. Label values come from fixed sets only:
no session ids, no reasons, no free text, never a secret; anything unexpected becomes "other".
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from liveguard.events import (
    CallerError,
    Event,
    Interrupted,
    OperatorAlert,
    Outcome,
    RecoveryFinished,
    RecoveryStarted,
    Rung,
    SessionEnded,
    SessionStarted,
    TurnAnswered,
    UnansweredRule,
    UpstreamClosed,
    Verdict,
    VerdictKind,
)
from liveguard.telemetry.hotpath import LoopCounter, LoopHistogram

UP = "up"  # caller -> model
DOWN = "down"  # model -> caller
DIRECTIONS = (UP, DOWN)

_TRANSPORTS = frozenset({"twilio", "browser", "library"})
_RUNGS = frozenset(Rung)
_OUTCOMES = frozenset(Outcome)
_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1013})
_SIDES = frozenset({"server", "client"})
_SILENCE_RULES = frozenset({UnansweredRule.INAUDIBLE_ANSWER, UnansweredRule.BARGE_IN_FREEZE})
_SILENCE_KINDS = frozenset(
    {VerdictKind.BACKGROUND_STALL, VerdictKind.CUT_ANSWER, VerdictKind.SETUP_TIMEOUT}
)

LATENCY_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 20.0)
# fine enough around the 5 ms budget that p50/p99 can be read off the histogram
FORWARDING_BUCKETS = (
    0.00005,
    0.0001,
    0.00015,
    0.0002,
    0.0003,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,  # an overloaded loop: without these, every p99 past 100 ms would read as 100 ms
)


def _pick(value: object, allowed: frozenset) -> str:
    return str(value) if value in allowed else "other"


class MetricsRecorder:
    """Counts sessions, turns, interrupts, wedges, recoveries, closes and forwarding time."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "liveguard"):
        self.registry = registry or CollectorRegistry()
        #: prometheus-client multiprocess mode (`liveguard serve --workers N`): the standard
        #: metrics live in files every worker's `/metrics` sums; see `sync_shared`
        self.shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        # registered in this order, which is the order /metrics lists them in
        self._add_session_metrics(self.registry, namespace)
        self._add_guard_metrics(self.registry, namespace)
        self._add_audio_metrics(self.registry, namespace)
        self._forwarding = {d: self.forwarding.labels(d).observe for d in DIRECTIONS}
        self._audio_keys = {d: (d,) for d in DIRECTIONS}
        self._turns_answered = self.turns.labels("answered")
        self._turns_unanswered = self.turns.labels("unanswered")
        self._twins: _SharedTwins | None = None

    def _add_session_metrics(self, r: CollectorRegistry, ns: str) -> None:
        """Sessions, caller turns and how long answers took."""
        self.sessions_active = Gauge(
            f"{ns}_sessions_active",
            "Sessions in progress",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.sessions = Counter(f"{ns}_sessions", "Sessions started", ["transport"], registry=r)
        self.turns = Counter(
            f"{ns}_turns", "Caller turns by outcome (answered/unanswered)", ["outcome"], registry=r
        )
        self.answer_latency = Histogram(
            f"{ns}_answer_latency_seconds",
            "Caller end of speech to the first audible model audio",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def _add_guard_metrics(self, r: CollectorRegistry, ns: str) -> None:
        """What the guard judged and did, upstream closes, bad caller input, operator alerts."""
        self.interrupts = Counter(
            f"{ns}_interrupts", "serverContent.interrupted received", registry=r
        )
        self.phantom_interrupts = Counter(
            f"{ns}_phantom_interrupts", "Interrupts with no caller speech evidence", registry=r
        )
        self.wedges = Counter(f"{ns}_wedges", "Sessions judged wedged", registry=r)
        self.silences = Counter(
            f"{ns}_silences",
            "Today's silences by kind: inaudible answers and freezes after a barge-in (unanswered "
            "turns), background stalls, answers cut mid-sentence, setup timeouts",
            ["kind"],
            registry=r,
        )
        self.recoveries_started = Counter(
            f"{ns}_recoveries_started", "Recovery rungs started", ["rung"], registry=r
        )
        self.recoveries = Counter(
            f"{ns}_recoveries", "Recovery rungs finished", ["rung", "outcome"], registry=r
        )
        self.upstream_closes = Counter(
            f"{ns}_upstream_closes", "Upstream connections closed", ["code", "side"], registry=r
        )
        self.caller_errors = Counter(
            f"{ns}_caller_errors", "Bad caller input", ["fatal"], registry=r
        )
        self.operator_alerts = Counter(f"{ns}_operator_alerts", "Operator alerts", registry=r)

    def _add_audio_metrics(self, r: CollectorRegistry, ns: str) -> None:
        """The audio path's own: written on every frame, so no locks (`telemetry.hotpath`)."""
        self.forwarding = LoopHistogram(
            f"{ns}_frame_forwarding_seconds",
            "Relay time to forward one audio frame",
            FORWARDING_BUCKETS,
            ["direction"],
            registry=r,
        )
        self.audio_seconds = LoopCounter(
            f"{ns}_audio_seconds",
            "Seconds of audio relayed (up: caller audio sent upstream; down: model audio sent to"
            " callers)",
            ["direction"],
            registry=r,
        )
        self.loop_lag = LoopHistogram(
            f"{ns}_event_loop_lag_seconds",
            "How long a message arriving on the relay's event loop waits before the loop reads it"
            " (probed every 10 ms)",
            FORWARDING_BUCKETS,
            registry=r,
        )

    def observe(self, event: object) -> None:
        """Update metrics from one event (an `on_event` callback); other objects are ignored."""
        if not isinstance(event, Event):
            return
        if isinstance(event, SessionStarted):
            self.sessions_active.inc()
            self.sessions.labels(_pick(event.transport, _TRANSPORTS)).inc()
        elif isinstance(event, SessionEnded):
            self.sessions_active.dec()
        elif isinstance(event, TurnAnswered):
            self._turns_answered.inc()
            if event.latency_s >= 0:
                self.answer_latency.observe(event.latency_s)
        elif isinstance(event, Verdict):
            if event.kind == VerdictKind.PHANTOM_INTERRUPT:
                self.phantom_interrupts.inc()
            elif event.kind == VerdictKind.UNANSWERED_TURN:
                self._turns_unanswered.inc()
                rule = event.evidence.get("rule")
                if rule in _SILENCE_RULES:
                    self.silences.labels(rule).inc()
            elif event.kind in _SILENCE_KINDS:
                self.silences.labels(str(event.kind)).inc()
            elif event.kind == VerdictKind.WEDGE:
                self.wedges.inc()
        elif isinstance(event, Interrupted):
            self.interrupts.inc()
        elif isinstance(event, RecoveryStarted):
            self.recoveries_started.labels(_pick(event.rung, _RUNGS)).inc()
        elif isinstance(event, RecoveryFinished):
            self.recoveries.labels(_pick(event.rung, _RUNGS), _pick(event.outcome, _OUTCOMES)).inc()
        elif isinstance(event, UpstreamClosed):
            self.upstream_closes.labels(
                _pick(event.code, _CLOSE_CODES), _pick(event.side, _SIDES)
            ).inc()
        elif isinstance(event, CallerError):
            self.caller_errors.labels("true" if event.fatal else "false").inc()
        elif isinstance(event, OperatorAlert):
            self.operator_alerts.inc()

    __call__ = observe

    def observe_forwarding(self, direction: str, seconds: float, audio_s: float = 0.0) -> None:
        """Time the relay spent forwarding one frame carrying `audio_s` seconds of audio;
        direction is `UP` or `DOWN`."""
        try:
            observe = self._forwarding[direction]
        except KeyError:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}") from None
        observe(seconds)
        if audio_s:
            self.audio_seconds.inc(self._audio_keys[direction], audio_s)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type, for a `/metrics` handler (in multiprocess
        mode: every worker's, this one's audio-path metrics synced first)."""
        if self.shared_dir is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        self.sync_shared()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.shared_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def sync_shared(self) -> None:
        """Multiprocess mode: add what the lock-free audio-path metrics gained since the last
        sync to file-backed twins, which the other workers' `/metrics` read. Why not write the
        files on every frame: an mmap write per observation is what `hotpath` avoids; a sync
        every few seconds (and on every scrape and at exit) costs nothing per frame."""
        if self.shared_dir is None:
            return
        if self._twins is None:
            self._twins = _SharedTwins(self)
        self._twins.sync()


class _SharedTwins:
    """File-backed (multiprocess) twins of a recorder's `LoopHistogram`s and `LoopCounter`, fed
    deltas. Adds bucket counts through the histogram child's value cells: prometheus-client has
    no public call to add n observations at once."""

    def __init__(self, rec: MetricsRecorder) -> None:
        self._pairs: list[tuple[LoopHistogram, Histogram]] = []
        for hist in (rec.forwarding, rec.loop_lag):
            twin = Histogram(
                hist.name,
                hist.documentation,
                hist.labelnames,
                buckets=hist._bounds,
                registry=None,
            )
            self._pairs.append((hist, twin))
        self._counter = rec.audio_seconds
        self._counter_twin = Counter(
            rec.audio_seconds.name,
            rec.audio_seconds.documentation,
            rec.audio_seconds.labelnames,
            registry=None,
        )
        self._seen: dict[tuple, tuple[list[int], float]] = {}
        self._seen_counter: dict[tuple[str, ...], float] = {}

    def sync(self) -> None:
        for hist, twin in self._pairs:
            for key, child in list(hist._children.items()):
                zero = ([0] * len(child.counts), 0.0)
                last_counts, last_sum = self._seen.get((hist.name, key), zero)
                counts = list(child.counts)
                tchild = twin.labels(*key) if key else twin
                for i, (now, before) in enumerate(zip(counts, last_counts, strict=True)):
                    if now > before:
                        tchild._buckets[i].inc(now - before)
                if child.sum != last_sum:
                    tchild._sum.inc(child.sum - last_sum)
                self._seen[(hist.name, key)] = (counts, child.sum)
        for key, value in list(self._counter.values.items()):
            before = self._seen_counter.get(key, 0.0)
            if value > before:
                self._counter_twin.labels(*key).inc(value - before)
                self._seen_counter[key] = value
