"""Keepalive: pongs immediate by default, delayed or dropped when the scenario says so."""

from __future__ import annotations

import json

from test_server_wire_rules import SETUP, TEXT_TURN, raw

from liveguard.emulator.server import SCENARIO_HEADER, Emulator


async def _finish_a_turn(ws) -> None:
    await ws.send(TEXT_TURN)
    for _ in range(2000):
        if json.loads(await ws.recv()).get("serverContent", {}).get("turnComplete"):
            return
    raise AssertionError("no turnComplete")


async def test_pongs_are_dropped_for_the_no_pongs_scenario(emulator: Emulator) -> None:
    headers = {"x-goog-api-key": emulator.api_key, SCENARIO_HEADER: "no-pongs"}
    async with raw(emulator, headers=headers, ping_interval=None) as ws:
        await ws.send(SETUP)
        await ws.recv()
        pong = await ws.ping(b"are-you-there")
        await _finish_a_turn(ws)  # frames are handled in order: the ping was seen before this
        assert not pong.done()
        stats = emulator.sessions[-1]
        assert stats.scenario == "no-pongs"
        assert (stats.pings_received, stats.pongs_dropped) == (1, 1)


async def test_pongs_are_delayed_when_the_scenario_says_so(tmp_path, emulator_factory) -> None:
    scenario = tmp_path / "late.yaml"
    scenario.write_text(
        "name: late-pongs\ndescription: late\nseed: 7\nconnection:\n  pong_delay_s: 0.3\n"
    )
    emu = await emulator_factory(scenario=scenario)
    async with raw(emu, ping_interval=None) as ws:
        await ws.send(SETUP)
        await ws.recv()
        latency = await (await ws.ping(b"late"))
        assert latency > 0
    stats = emu.sessions[-1]
    assert stats.scenario == "late-pongs"
    assert (stats.pings_received, stats.pongs_delayed, stats.pongs_dropped) == (1, 1, 0)


async def test_unknown_scenario_header_closes_with_a_clear_reason(emulator: Emulator) -> None:
    from test_server_wire_rules import expect_close

    headers = {"x-goog-api-key": emulator.api_key, SCENARIO_HEADER: "../../etc/passwd"}
    async with raw(emulator, headers=headers) as ws:
        await ws.send(SETUP)
        code, reason = await expect_close(ws)
    assert code == 1007
    assert "unknown scenario" in reason
