"""One JSONL event log per session: the evidence an operator (or an upstream bug report) needs.

A `SessionLog` is an `on_event` callback: give it every `liveguard.events.Event` of one session.
Each record is `{"t", "ts", "session", "event", ...fields}` from `Event.to_record()`. Writes are
buffered (bounded) and flushed when the buffer fills, when `flush_interval_s` has passed since the
last flush, and on close, so a busy relay does one small write per second per call, not one per
audio chunk.

Model audio chunks are coalesced (see `coalesce_audio_s`): the first chunk after any other event is
written as it arrives (its time is what the guard and the report care about), later chunks of the
same run are summed into one `model_audio` record per `coalesce_audio_s` with `chunks` and `t_end`.
Output transcripts and usage that arrive amid the audio do not end a run (so a coalesced record may
follow them in the file with an earlier `t`; readers sort by `t`). Counters stay exact.

Nothing that looks like an API key is ever written: `AIza...` keys and any configured secret are
replaced in every string field. Transcripts can be redacted to a length/hash marker, and
resumption handles are written as short fingerprints by default (a handle resumes a conversation).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from liveguard.events import Event, ModelAudio, OutputTranscript, Usage

_KEY_RE = re.compile(r"AIza[0-9A-Za-z_\-]{20,}")
_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9_.\-]+")
# fields that hold what a caller or the model said
_TEXT_FIELDS = frozenset({"text", "last_user_tx"})
_EVIDENCE_TEXT_HINTS = ("text", "transcript", "last_user_tx")
_HANDLE_FIELDS = frozenset({"handle"})

REDACTED = "[redacted]"


def iso_ts(wall: float) -> str:
    """Wall-clock seconds as ISO 8601 UTC with milliseconds (`2026-11-01T10:00:00.123Z`)."""
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def log_file_name(session_id: str, wall: float) -> str:
    """`<ts>-<session>.jsonl`, safe on every filesystem and sortable by start time."""
    stamp = datetime.fromtimestamp(wall, UTC).strftime("%Y%m%dT%H%M%S")
    safe = _SAFE_NAME_RE.sub("_", session_id)[:80] or "session"
    return f"{stamp}-{safe}.jsonl"


def redaction_marker(text: str) -> str:
    """Replace a transcript by its length and a short hash: comparable, not readable."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"[redacted len={len(text)} sha256={digest}]"


def handle_fingerprint(handle: str) -> str:
    """A stable short name for a resumption handle (same handle, same fingerprint)."""
    return "h:" + hashlib.sha256(handle.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class Scrubber:
    """Removes secrets from record values, and optionally transcripts and handles.

    Defensive by design: the session should never put a key in an event, but if one slips into a
    reason string or an evidence dict, it is replaced here before it reaches disk.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        *,
        redact_transcripts: bool = False,
        hash_handles: bool = True,
    ) -> None:
        self._secrets = tuple(
            sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        )
        self.redact_transcripts = redact_transcripts
        self.hash_handles = hash_handles

    def text(self, value: str) -> str:
        """Scrub one string of keys and configured secrets."""
        if "AIza" in value:
            value = _KEY_RE.sub(REDACTED, value)
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if self.redact_transcripts and value and key in _TEXT_FIELDS:
                return redaction_marker(value)
            if self.hash_handles and key in _HANDLE_FIELDS and value:
                return handle_fingerprint(value)
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self._nested(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(key, v) for v in value]
        return value

    def _nested(self, key: str, value: Any) -> Any:
        """Evidence dicts: a key that names a transcript is redacted like a transcript field."""
        if (
            self.redact_transcripts
            and isinstance(value, str)
            and value
            and any(h in key for h in _EVIDENCE_TEXT_HINTS)
        ):
            return redaction_marker(value)
        if self.hash_handles and isinstance(value, str) and value and key.endswith("handle"):
            return handle_fingerprint(value)
        return self.value(key, value)

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: self.value(k, v) for k, v in record.items()}


class SessionLog:
    """The JSONL event log of one session; call it with each event (an `on_event` callback).

    `wall0` is the wall-clock time of the session's `t = 0` (defaults to now); each record's `ts`
    is `wall0 + t`, so `t` and `ts` always agree. The file is created on the first flush.
    """

    def __init__(
        self,
        log_dir: str | Path,
        session_id: str,
        *,
        wall0: float | None = None,
        secrets: Iterable[str] = (),
        redact_transcripts: bool = False,
        hash_handles: bool = True,
        coalesce_audio_s: float = 1.0,
        buffer_bytes: int = 64 * 1024,
        flush_interval_s: float = 1.0,
        recent_events: int = 200,
        clock: Any = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.wall0 = time.time() if wall0 is None else wall0
        self.path = Path(log_dir) / log_file_name(session_id, self.wall0)
        self.scrubber = Scrubber(
            secrets, redact_transcripts=redact_transcripts, hash_handles=hash_handles
        )
        self.coalesce_audio_s = coalesce_audio_s
        self.buffer_bytes = buffer_bytes
        self.flush_interval_s = flush_interval_s
        self.recent: deque[Event] = deque(maxlen=recent_events)
        self.records_written = 0
        self.write_errors = 0
        self.dropped_bytes = 0
        self._clock = clock
        self._buf: list[str] = []
        self._buf_size = 0
        self._last_flush = clock()
        self._run: dict[str, Any] | None = None  # pending coalesced model-audio record
        self._in_run = False  # the last event logged was model audio
        self._closed = False

    # ------------------------------------------------------------------ writing

    def __call__(self, event: object) -> None:
        """Log one event; anything that is not an `Event` (e.g. a guard action) is ignored."""
        if self._closed or not isinstance(event, Event):
            return
        self.recent.append(event)
        if isinstance(event, ModelAudio) and self.coalesce_audio_s > 0:
            self._audio(event)
        elif isinstance(event, OutputTranscript | Usage) and self._in_run:
            # these ride along with model audio; they do not end an audio run
            self._append(event.to_record())
        else:
            self._end_run()
            self._append(event.to_record())
        if self._clock() - self._last_flush >= self.flush_interval_s:
            self.flush()

    write = __call__

    def _audio(self, event: ModelAudio) -> None:
        if not self._in_run:
            # first chunk after anything else: written as is, its timing is what matters
            self._in_run = True
            self._append(event.to_record())
            return
        run = self._run
        if (
            run is not None
            and event.t - run["t"] < self.coalesce_audio_s
            and event.turn == run["turn"]
        ):
            run["bytes"] += event.bytes
            run["gemini_audio_chunks"] = event.gemini_audio_chunks
            run["chunks"] += 1
            run["t_end"] = round(event.t, 6)
            return
        if run is not None:
            self._append(run)
        self._run = {**event.to_record(), "chunks": 1, "t_end": round(event.t, 6)}

    def _end_run(self) -> None:
        run, self._run = self._run, None
        self._in_run = False
        if run is not None:
            self._append(run)

    def _append(self, record: dict[str, Any]) -> None:
        t = record["t"]
        out = {
            "t": t,
            "ts": iso_ts(self.wall0 + t),
            "session": self.session_id,
            **{k: v for k, v in record.items() if k != "t"},
        }
        line = json.dumps(self.scrubber.record(out), separators=(",", ":"), ensure_ascii=False)
        self._buf.append(line + "\n")
        self._buf_size += len(line) + 1
        self.records_written += 1
        if self._buf_size >= self.buffer_bytes:
            self.flush()

    def flush(self) -> None:
        """Write buffered records now. On a write error the buffer is dropped (bounded memory)."""
        self._last_flush = self._clock()
        if not self._buf:
            return
        data = "".join(self._buf)
        self._buf.clear()
        self._buf_size = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(data)
        except OSError:
            self.write_errors += 1
            self.dropped_bytes += len(data)

    def maybe_flush(self) -> None:
        """Flush if `flush_interval_s` has passed; for a periodic timer when a call is quiet."""
        if self._clock() - self._last_flush >= self.flush_interval_s:
            self._end_run()
            self.flush()

    def close(self) -> None:
        """Flush everything (including a pending audio run); later events are ignored."""
        if self._closed:
            return
        self._end_run()
        self.flush()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session_log(
    log_dir: str | Path, session_id: str, *, settings: Any = None, **kwargs: Any
) -> SessionLog:
    """A SessionLog configured from `liveguard.config.settings.Settings` (secrets and redaction).

    The API key, the carriers' secrets (Twilio and Plivo auth tokens, Vonage signature secret),
    the operator's `auth_token` and the `redis_url` (it may hold a password) are scrubbed even
    though they should never appear.
    """
    secrets: list[str] = list(kwargs.pop("secrets", ()))
    if settings is not None:
        for name in (
            "api_key",
            "twilio_auth_token",
            "plivo_auth_token",
            "vonage_signature_secret",
            "auth_token",
            "redis_url",
        ):
            secret = getattr(settings, name, None)
            if secret is not None:
                secrets.append(secret.get_secret_value())
        for env in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
            if os.environ.get(env):
                secrets.append(os.environ[env])
        kwargs.setdefault(
            "redact_transcripts", bool(getattr(settings, "redact_transcripts", False))
        )
    return SessionLog(log_dir, session_id, secrets=secrets, **kwargs)
