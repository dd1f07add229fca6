"""A connect that never gets `setupComplete` (Patter#210): the close it is reported as, and the
setup fields that are its likely cause.

Why apart from the reconnector: the likely-cause rule follows the model table
(`liveguard.config.models`), like `liveguard doctor`'s checks of the same fields, and is tested on
its own.
"""

from __future__ import annotations

from google.genai import types

from liveguard.config.models import facts

#: the close a timed-out setup is reported as (`UpstreamClosed(side="server")`): an abnormal end
#: the guard's ladder retries like any lost connection (1007 / 1008 would end the session)
SETUP_TIMEOUT_CODE = 1006
SETUP_TIMEOUT_REASON = "setupComplete timeout"


def setup_suspects(config: types.LiveConnectConfig, model: str) -> list[str]:
    """Setup fields reported to stop `setupComplete` from arriving on `model`: `proactivity` or
    `enable_affective_dialog` on a model without them (3.1: PatterAI/Patter#210), or on a model
    liveguard does not know (they are the only fields with such reports)."""
    f = facts(model)
    found = []
    if config.proactivity is not None and (f is None or not f.proactivity):
        found.append("proactivity")
    if config.enable_affective_dialog is not None and (f is None or not f.affective_dialog):
        found.append("enable_affective_dialog")
    return found


def timeout_reason(suspects: list[str]) -> str:
    """The close reason: the timeout, and the likely cause when a setup field is one."""
    if not suspects:
        return SETUP_TIMEOUT_REASON
    fields = " and ".join(suspects)
    return (
        f"{SETUP_TIMEOUT_REASON}; likely cause: {fields} in the setup, which this model has "
        "been reported to stall on (remove it; see liveguard doctor)"
    )
