"""Secure by default: the bind rule, the browser Origin check, per-source admission limits, and
tokens that never leak. Decision logic in fast time; each rule also through a real relay."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liveguard.caller.simulated import run_call
from liveguard.config.settings import Settings
from liveguard.relay.security import (
    AdmissionLimiter,
    bind_problems,
    is_loopback,
    origin_allowed,
)
from liveguard.relay.server import InsecureBindError, Relay

# ----------------------------------------------------------------------------- the bind rule


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("relay.example.com", False),
        ("", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bind_rule_needs_both_tokens_off_loopback() -> None:
    assert bind_problems(Settings.load(None, host="127.0.0.1")) == []
    public = bind_problems(Settings.load(None, host="0.0.0.0"))
    assert public == ["auth_token is not set", "twilio_auth_token is not set"]
    one = bind_problems(Settings.load(None, host="0.0.0.0", auth_token="a"))
    assert one == ["twilio_auth_token is not set"]
    both = Settings.load(None, host="0.0.0.0", auth_token="a", twilio_auth_token="b")
    assert bind_problems(both) == []
    empty = Settings.load(None, host="0.0.0.0", auth_token="", twilio_auth_token="b")
    assert bind_problems(empty) == ["auth_token is not set"]


async def test_relay_refuses_a_public_address_without_tokens(emulator) -> None:
    settings = Settings.load(None, host="0.0.0.0", port=0)
    relay = Relay(settings, client=emulator.client(), emulated=True)
    with pytest.raises(InsecureBindError, match="auth_token is not set"):
        await relay.start()
    await relay.stop()


async def test_insecure_listens_and_warns(emulator, caplog) -> None:
    settings = Settings.load(None, host="0.0.0.0", port=0, insecure=True)
    caplog.set_level(logging.WARNING, logger="liveguard.relay")
    relay = Relay(settings, client=emulator.client(), emulated=True)
    await relay.start()
    try:
        async with aiohttp.ClientSession() as http:
            assert (await http.get(f"http://127.0.0.1:{relay.port}/livez")).status == 200
    finally:
        await relay.stop()
    assert any("INSECURE" in r.getMessage() for r in caplog.records)


def _serve(*flags: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "liveguard", "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        input="",
    )


def test_serve_on_a_public_address_without_tokens_exits_2() -> None:
    for workers in ("1", "2"):
        done = _serve("--host", "0.0.0.0", "--workers", workers)
        assert done.returncode == 2, done.stderr
        assert "auth_token is not set" in done.stderr and "--insecure" in done.stderr
        assert done.stdout == ""  # never started listening


# ----------------------------------------------------------------------------- Origin


def test_origin_against_public_url() -> None:
    public = "https://relay.example.com"
    assert origin_allowed("https://relay.example.com", public, "10.0.0.1:8080")
    assert origin_allowed("https://relay.example.com:443", public, "x")
    assert origin_allowed("https://RELAY.example.com", "wss://relay.example.com/", "x")
    assert not origin_allowed("https://evil.example", public, "relay.example.com")
    assert not origin_allowed("http://relay.example.com", public, "x")  # scheme matters
    assert not origin_allowed("https://relay.example.com:8443", public, "x")
    assert not origin_allowed("null", public, "x")
    assert origin_allowed(None, public, "x")  # not a browser: the token guards it


def test_origin_without_public_url_is_the_requested_host() -> None:
    assert origin_allowed("http://127.0.0.1:8080", None, "127.0.0.1:8080")
    assert not origin_allowed("http://127.0.0.1:9999", None, "127.0.0.1:8080")
    assert not origin_allowed("https://evil.example", None, "127.0.0.1:8080")


@given(st.text(max_size=200), st.text(max_size=60))
def test_origin_check_never_raises(origin: str, host: str) -> None:
    origin_allowed(origin, "https://relay.example.com", host)
    origin_allowed(origin, None, host)


async def test_browser_stream_checks_origin(relay_factory) -> None:
    relay = await relay_factory(public_url="https://relay.example.com")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(relay.browser_url, headers={"Origin": "https://evil.example"})
        assert refused.value.status == 403
        async with http.ws_connect(
            relay.browser_url, headers={"Origin": "https://relay.example.com"}
        ) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "ready"
            await ws.send_str(json.dumps({"type": "hangup"}))


# ----------------------------------------------------------------------------- admission


def test_admission_limits_concurrent_calls_per_source() -> None:
    now = [0.0]
    lim = AdmissionLimiter(max_active=2, per_minute=100, clock=lambda: now[0])
    assert lim.enter("a") is None and lim.enter("a") is None
    assert "too many calls" in (lim.enter("a") or "")
    assert lim.enter("b") is None  # another source is not affected
    lim.leave("a")
    assert lim.enter("a") is None
    assert lim.refused == 1 and lim.active("a") == 2


def test_admission_rate_refills_over_time() -> None:
    now = [0.0]
    lim = AdmissionLimiter(max_active=100, per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        assert lim.enter("a") is None
        lim.leave("a")
    assert "try again later" in (lim.enter("a") or "")
    now[0] += 20.0  # a third of a minute: one new call's worth
    assert lim.enter("a") is None
    assert lim.enter("a") is not None


def test_admission_remembers_a_bounded_number_of_sources() -> None:
    lim = AdmissionLimiter(max_active=5, per_minute=5, max_sources=100)
    lim.enter("busy")  # an active source is never forgotten
    for i in range(1000):
        lim.enter(f"s{i}")
        lim.leave(f"s{i}")
    assert len(lim._sources) <= 100 and lim.active("busy") == 1


async def test_a_source_over_its_limit_gets_429_and_others_go_on(relay_factory) -> None:
    relay = await relay_factory(max_calls_per_source=1)
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.browser_url) as first:
        assert (await first.receive_json(timeout=10))["type"] == "ready"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(relay.browser_url)
        assert refused.value.status == 429
        assert len(relay.ctx.calls) == 1  # the refused one never reached the model
        await first.send_str(json.dumps({"type": "hangup"}))
        async for _ in first:
            pass
    for _ in range(100):  # the slot is the source's until its call has fully ended
        if relay.ctx.admission.active("127.0.0.1") == 0:
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http, http.ws_connect(relay.browser_url) as again:
        assert (await again.receive_json(timeout=10))["type"] == "ready"  # the slot came back
        await again.send_str(json.dumps({"type": "hangup"}))


# ----------------------------------------------------------------------------- tokens


async def test_tokens_never_appear_in_logs_metrics_or_errors(
    relay_factory, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, twilio_secret = "op-secret-4f9a", "tw-secret-77c1"
    relay = await relay_factory(auth_token=secret, twilio_auth_token=twilio_secret)
    seen: list[str] = []
    async with aiohttp.ClientSession() as http:
        bad = await http.get(relay.base_url + "/metrics", headers={"Authorization": "Bearer x"})
        assert bad.status == 401
        seen.append(await bad.text())
        ok = await http.get(relay.base_url + "/metrics?token=" + secret)
        assert ok.status == 200
        seen.append(await ok.text())
        voice = await http.post(relay.base_url + "/twilio/voice", data={"CallSid": "CA1"})
        assert voice.status == 403
        seen.append(await voice.text())
        url = relay.browser_url + "?token=" + secret
        async with http.ws_connect(url) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "ready"
            await ws.send_str(json.dumps({"type": "hangup"}))
            async for msg in ws:
                seen.append(str(msg.data))
        board = await http.get(relay.base_url + "/sessions.json?token=" + secret)
        seen.append(await board.text())
        drained = await http.post(relay.base_url + "/drain", headers={"Authorization": "Bearer y"})
        assert drained.status == 401 and not relay.ctx.draining
    seen += [r.getMessage() for r in caplog.records]
    seen += [p.read_text() for p in (tmp_path / "logs").glob("*.jsonl")]
    blob = "\n".join(seen)
    assert "liveguard_sessions_total" in blob  # the scrape is in there
    assert secret not in blob and twilio_secret not in blob


async def test_the_operator_token_guards_operators_routes_not_the_carriers(relay_factory) -> None:
    relay = await relay_factory(auth_token="op-token", twilio_auth_token="tw")
    async with aiohttp.ClientSession() as http:
        for path in ("/metrics", "/sessions.json"):
            assert (await http.get(relay.base_url + path)).status == 401
        assert (await http.post(relay.base_url + "/drain")).status == 401
        for path in ("/healthz", "/readyz", "/livez", "/static/app.js"):
            assert (await http.get(relay.base_url + path)).status == 200, path
        # carriers cannot send the operator's token: their own signatures (when configured)
        for path in ("/telnyx/texml", "/plivo/answer", "/vonage/answer"):
            assert (await http.get(relay.base_url + path)).status == 200, path
    assert not relay.ctx.draining


async def test_unsigned_twilio_streams_are_limited_per_source_signed_ones_are_not(
    relay_factory,
) -> None:
    open_relay = await relay_factory(max_calls_per_source=1)
    first = asyncio.create_task(run_call(open_relay.twilio_url, "quick"))
    for _ in range(100):
        if open_relay.ctx.calls:
            break
        await asyncio.sleep(0.05)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await run_call(open_relay.twilio_url, "quick")
    assert refused.value.status == 429
    assert (await first).summary["answered"] == 1

    signed = await relay_factory(max_calls_per_source=1, twilio_auth_token="tw-secret")
    both = await asyncio.gather(
        *(run_call(signed.twilio_url, "quick", twilio_auth_token="tw-secret") for _ in range(2))
    )
    assert [r.summary["answered"] for r in both] == [1, 1]


@given(
    st.lists(
        st.tuples(st.sampled_from(["enter", "leave", "wait"]), st.integers(0, 3), st.floats(0, 30)),
        max_size=200,
    )
)
def test_admission_invariants_hold_for_any_sequence(steps: list[tuple[str, int, float]]) -> None:
    now = [0.0]
    lim = AdmissionLimiter(max_active=2, per_minute=5, clock=lambda: now[0], max_sources=3)
    admitted: dict[str, int] = {}
    for op, who, dt in steps:
        src = f"s{who}"
        if op == "enter":
            if lim.enter(src) is None:
                admitted[src] = admitted.get(src, 0) + 1
        elif op == "leave" and admitted.get(src):
            lim.leave(src)
            admitted[src] -= 1
        else:
            now[0] += dt
        for name, count in admitted.items():
            assert lim.active(name) == count <= 2  # an active source is never forgotten
