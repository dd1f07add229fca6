"""TLS material: a CA per emulator, or one kept in a state dir and reused across restarts."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from test_server_wire_rules import SETUP, raw

from liveguard.emulator.server import Emulator
from liveguard.emulator.tls import CA_KEY_FILE_NAME, make_tls


async def test_state_dir_ca_is_reused_across_restarts(tmp_path, emulator_factory) -> None:
    first = await emulator_factory(state_dir=tmp_path)
    pem = (tmp_path / "emulator-ca.pem").read_bytes()
    assert first.ca_file == str(tmp_path / "emulator-ca.pem")
    assert (tmp_path / CA_KEY_FILE_NAME).stat().st_mode & 0o077 == 0
    await first.stop()
    second = await emulator_factory(state_dir=tmp_path)
    assert (tmp_path / "emulator-ca.pem").read_bytes() == pem
    ctx = ssl.create_default_context(cafile=first.ca_file)  # a client that trusted the first run
    async with raw(second) as ws:
        assert ws is not None
    async with second.client(async_client_args={"ssl": ctx}).aio.live.connect(
        model="gemini-2.5-flash-native-audio-preview-12-2025"
    ) as session:
        assert session is not None


async def test_temporary_ca_is_removed_on_stop() -> None:
    emu = Emulator()
    await emu.start()
    ca_file = emu.ca_file
    async with raw(emu) as ws:
        await ws.send(SETUP)
        assert "setupComplete" in json.loads(await ws.recv())
    await emu.stop()
    assert not Path(ca_file).exists()  # noqa: ASYNC240


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> None:
    """A TLS handshake in memory, client checking `name` against the server certificate."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for key, side in (("c", client), ("s", server)):
            if not done[key]:
                try:
                    side.do_handshake()
                    done[key] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


def test_server_certificate_covers_loopback_names_and_extra_hosts() -> None:
    tls = make_tls(extra_hosts=("0.0.0.0", "emulator.test"))
    try:
        for name in ("127.0.0.1", "localhost", "::1", "emulator.test"):
            _handshake(tls.server_context, tls.client_context(), name)
        try:
            _handshake(tls.server_context, tls.client_context(), "example.com")
        except ssl.SSLCertVerificationError:
            pass
        else:
            raise AssertionError("a name outside the certificate must be refused")
    finally:
        tls.cleanup()
