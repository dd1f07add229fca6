"""The `tools` settings: bad entries fail at load with the entry named; the live config declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from liveguard.config.settings import Settings
from liveguard.session.config import live_config
from liveguard.tools.examples import DEMO_TOOLS

M = "tool_fixtures"
HOOK = "- webhook: https://x.example/h\n  description: d"
PARAMS = {"type": "object", "properties": {"q": {"type": "string"}}}


def load_yaml(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "relay.yaml"
    path.write_text(text)
    return Settings.load(path)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("- function: no_such_pkg.mod:run", r"tools\[1\] \(no_such_pkg.mod:run\): cannot import"),
        (f"- function: {M}:missing", r"tools\[1\] .*has no attribute 'missing'"),
        (f"- function: {M}:not_callable", r"tools\[1\] .*is not callable"),
        ("- function: justaname", r"tools\[1\] .*package.module:callable"),
        (f"- function: {M}:counter", r"tools\[1\] .*set `name`"),
        (f"- function: {M}:add\n  colour: red", r"tools\[1\] \(tool_fixtures:add\): colour: Extra"),
        (f"- function: {M}:add\n  behavior: SOMETIMES", r"tools\[1\] .*behavior"),
        (f"- function: {M}:add\n  scheduling: LATER", r"tools\[1\] .*scheduling"),
        (f"- function: {M}:add\n  timeout_s: -1", r"tools\[1\] .*timeout_s"),
        (
            f"{HOOK}\n  name: h\n  parameters: {{type: strng}}",
            r"tools\[1\] \(h\): parameters: .*not a valid JSON schema",
        ),
        (
            f"{HOOK}\n  name: h\n  parameters: {{type: array}}",
            r"tools\[1\] \(h\): .*must describe an object",
        ),
        (
            "- webhook: file:///etc/passwd\n  name: h\n  description: d\n  parameters: {}",
            r"tools\[1\] \(h\): webhook",
        ),
        (
            "- webhook: https://x.example/h\n  description: d\n  parameters: {}",
            r"tools\[1\] .*name: Field required",
        ),
        (f"- webhook: https://x.example/h\n  function: {M}:add", r"tools\[1\] .*exactly one"),
        ("- name: orphan", r"tools\[1\] \(orphan\): .*exactly one"),
        ("- just a string", r"tools\[1\]: an entry must be a mapping"),
        (f"- function: {M}:greet", r"tools\[1\] \(greet\): the name is already used by tools\[0\]"),
    ],
)
def test_bad_entries_fail_at_load_with_the_entry_named(
    tmp_path: Path, entry: str, expected: str
) -> None:
    text = f"tools:\n- function: {M}:greet\n{entry}\n"
    with pytest.raises(ValueError, match=expected) as info:
        load_yaml(tmp_path, text)
    assert str(tmp_path / "relay.yaml") in str(info.value)  # and the file


async def test_a_named_callable_object_is_a_tool() -> None:
    from liveguard.tools import ToolRunner

    s = Settings(tools=[{"function": f"{M}:counter", "name": "count"}])
    r = ToolRunner.from_entries(s.tools)
    resp = await r.run(types.FunctionCall(id="1", name="count", args={"step": 3}))
    assert resp.response == {"output": 3}
    await r.aclose()


def test_secrets_of_webhook_entries_are_never_shown(tmp_path: Path) -> None:
    s = load_yaml(
        tmp_path,
        "tools:\n- webhook: https://x.example/h\n  name: h\n  description: d\n"
        "  parameters: {type: object}\n  secret: sign-me-123\n"
        "  headers: {Authorization: Bearer tok-456}\n",
    )
    shown = repr(s) + str(s.model_dump()) + s.model_dump_json()
    assert "sign-me-123" not in shown and "tok-456" not in shown
    assert s.tools[0].secret.get_secret_value() == "sign-me-123"


def test_live_config_declares_the_tools_and_keeps_extra_tools_apart() -> None:
    s = Settings(tools=[*DEMO_TOOLS, {"function": f"{M}:add", "behavior": "NON_BLOCKING"}])
    cfg = live_config(s)
    (tool,) = cfg.tools
    decls = {d.name: d for d in tool.function_declarations}
    assert set(decls) == {"lookup_order", "add"}
    assert decls["add"].behavior == types.Behavior.NON_BLOCKING
    assert decls["lookup_order"].behavior is None  # the model's default
    assert "order" in decls["lookup_order"].description.lower()
    with pytest.raises(ValueError, match="tools"):
        live_config(s, extra={"tools": []})
    assert live_config(Settings(), extra={"tools": [tool]}).tools == [tool]  # apps' own tools


def test_setup_fields_follow_the_settings() -> None:
    cfg = live_config(Settings(thinking_level="LOW", proactive_audio=True, affective_dialog=False))
    assert cfg.thinking_config.thinking_level == types.ThinkingLevel.LOW
    assert cfg.proactivity.proactive_audio is True and cfg.enable_affective_dialog is False
    bare = live_config(Settings())
    assert bare.thinking_config is None and bare.proactivity is None
    assert bare.enable_affective_dialog is None and bare.tools is None


KNOWN_KEYS = [
    "function",
    "webhook",
    "name",
    "description",
    "parameters",
    "behavior",
    "scheduling",
    "timeout_s",
    "headers",
    "secret",
]
values = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            f"{M}:add",
            "no.such:thing",
            "https://h.example/x",
            "BLOCKING",
            "SILENT",
            "x y",
            "",
        ]
    )
    | st.text(max_size=8)
    | st.just(PARAMS)
    | st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)
)
entries = (
    st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), values, max_size=6) | values
)


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(entries, max_size=3))
def test_any_tools_value_parses_or_names_an_entry(raw: list) -> None:
    try:
        s = Settings(tools=raw)
    except ValueError as exc:  # pydantic's ValidationError is one
        assert "tools[" in str(exc) or "tools must be" in str(exc), str(exc)
        return
    assert len(s.tools) == len(raw)
    live_config(s)  # whatever loads can be declared


def test_demo_settings_turn_the_example_tool_on() -> None:
    from liveguard.config import DEMO_SETTINGS
    from liveguard.config.doctor import check

    s = Settings.load(DEMO_SETTINGS)
    assert [e.tool_name for e in s.tools] == ["lookup_order"] and s.scenario == "tool-call"
    assert not [f for f in check(s) if f.setting.startswith("tools")]


def test_errors_never_echo_secrets(tmp_path: Path) -> None:
    text = (
        "tools:\n- webhook: ftp://x.example/h\n  name: h\n  description: d\n"
        "  parameters: {type: object}\n  secret: sign-me-123\n"
        "  headers: {Authorization: Bearer tok-456}\n"
    )
    with pytest.raises(ValueError, match=r"tools\[0\] \(h\): webhook") as info:
        load_yaml(tmp_path, text)
    assert "sign-me-123" not in str(info.value) and "tok-456" not in str(info.value)
    with pytest.raises(ValueError, match="api_key") as info:
        Settings.load(None, api_key=["key-789"])
    assert "key-789" not in str(info.value)
