"""Fuzz parse_client_frame: whatever arrives, it returns a ClientMessage or raises WireError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wire_parse import SDK_FRAMES

from liveguard.emulator.wire import ClientMessage, WireError, parse_client_frame

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=20,
)
TOP_KEYS = st.sampled_from(
    [
        "setup",
        "realtime_input",
        "realtimeInput",
        "client_content",
        "clientContent",
        "tool_response",
        "toolResponse",
        "contextUpdate",
        "context_update",
        "bogus",
    ]
)
FIELD_NAMES = st.sampled_from(
    [
        "model",
        "generationConfig",
        "generation_config",
        "tools",
        "turns",
        "parts",
        "audio",
        "data",
        "mime_type",
        "mimeType",
        "text",
        "realtimeInputConfig",
        "automatic_activity_detection",
        "functionResponses",
        "response",
        "args",
        "labels",
        "inlineData",
        "turnComplete",
        "x",
    ]
)

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(data: str | bytes) -> None:
    try:
        msg = parse_client_frame(data)
    except WireError as exc:
        assert exc.code == 1007
        assert len(exc.reason.encode("utf-8")) <= 123
    else:
        assert isinstance(msg, ClientMessage)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(data)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text(data: str) -> None:
    _check(data)


@FUZZ
@given(TOP_KEYS, JSON)
def test_arbitrary_json_under_a_known_key(key: str, value: object) -> None:
    _check(json.dumps({key: value}))


@FUZZ
@given(TOP_KEYS, st.dictionaries(FIELD_NAMES, JSON, max_size=4))
def test_plausible_field_names_with_arbitrary_values(key: str, body: dict) -> None:
    _check(json.dumps({key: body}))


def _mutate(value: object, path: list[int], replacement: object) -> object:
    """Replace the node reached by following `path` (indices into dict values/list items)."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    step, rest = path[0], path[1:]
    if isinstance(value, dict):
        keys = list(value)
        k = keys[step % len(keys)]
        return {**value, k: _mutate(value[k], rest, replacement)}
    i = step % len(value)
    return [*value[:i], _mutate(value[i], rest, replacement), *value[i + 1 :]]


@FUZZ
@given(
    st.sampled_from(SDK_FRAMES),
    st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=6),
    JSON,
)
def test_real_frames_with_one_node_replaced(frame: str, path: list[int], replacement: object):
    _check(json.dumps(_mutate(json.loads(frame), path, replacement)))
