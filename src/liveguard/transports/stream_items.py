"""The typed items a carrier media stream yields, shared by Twilio's protocol and the others.

Why a module of their own: Twilio's protocol, the carrier base and the playout tracker all speak
them, and none of those should have to import another only to get at a dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Connected", "DtmfIn", "MarkPlayed", "ProtocolError", "StreamStart", "StreamStop"]


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str = ""
    version: str = ""


@dataclass(frozen=True, slots=True)
class StreamStart:
    stream_sid: str
    call_sid: str = ""
    account_sid: str = ""
    tracks: tuple[str, ...] = ()
    custom_parameters: dict[str, str] = field(default_factory=dict)
    media_format: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The carrier played the audio up to marker `name`; `played_s` is the total heard so far."""

    name: str
    played_s: float
    cleared: bool = False  # the echo of a mark dropped by `clear`: nothing more was heard

    @property
    def turn_end(self) -> bool:
        """The mark `flush()` sent at the end of a model turn (chunk marks start with "c")."""
        return self.name.startswith("t")


@dataclass(frozen=True, slots=True)
class DtmfIn:
    digit: str


@dataclass(frozen=True, slots=True)
class StreamStop:
    reason: str = "stop"


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bad caller input. Non-fatal errors drop the message; fatal ones end the call."""

    reason: str
    fatal: bool = False
