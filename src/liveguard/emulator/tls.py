"""TLS for the emulator: a locally generated CA and a server certificate for loopback names.

The SDK rewrites every base_url to wss:// (spec §0.1), so the emulator must speak TLS and clients
must trust it. We generate a throwaway CA with trustme and write its PEM to a file: clients trust it
with `SSL_CERT_FILE=<ca_file>` or an `ssl.SSLContext` in `http_options.async_client_args`.
With a state directory the CA (and its key, mode 0600) is kept there and reused, so a client's
`SSL_CERT_FILE` stays valid across emulator restarts.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trustme

__all__ = ["TlsMaterial", "client_ssl_context", "make_tls"]

CA_FILE_NAME = "emulator-ca.pem"
CA_KEY_FILE_NAME = "emulator-ca.key"
DEFAULT_IDENTITIES = ("127.0.0.1", "localhost", "::1")


@dataclass
class TlsMaterial:
    """What a server needs (`server_context`) and what its clients need (`ca_file`)."""

    ca_file: Path
    server_context: ssl.SSLContext
    _tempdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts only this emulator's CA."""
        return client_ssl_context(self.ca_file)

    def cleanup(self) -> None:
        """Remove the CA file if it lives in a temporary directory we created."""
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None


def client_ssl_context(ca_file: str | os.PathLike[str]) -> ssl.SSLContext:
    """`ssl.create_default_context` trusting `ca_file` (hostname checks stay on)."""
    return ssl.create_default_context(cafile=str(ca_file))


def _load_or_create_ca(state_dir: Path) -> trustme.CA:
    cert_path = state_dir / CA_FILE_NAME
    key_path = state_dir / CA_KEY_FILE_NAME
    if cert_path.is_file() and key_path.is_file():
        return trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    ca = trustme.CA(organization_name="liveguard emulator")
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(ca.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(cert_path))
    return ca


def make_tls(state_dir: Path | None = None, extra_hosts: tuple[str, ...] = ()) -> TlsMaterial:
    """Create (or reuse, with `state_dir`) a CA and issue a server cert for loopback + extras."""
    tempdir: tempfile.TemporaryDirectory | None = None
    if state_dir is not None:
        ca = _load_or_create_ca(Path(state_dir))
        ca_file = Path(state_dir) / CA_FILE_NAME
    else:
        ca = trustme.CA(organization_name="liveguard emulator")
        tempdir = tempfile.TemporaryDirectory(prefix="liveguard-emulator-")
        ca_file = Path(tempdir.name) / CA_FILE_NAME
        ca.cert_pem.write_to_path(str(ca_file))
    identities = list(DEFAULT_IDENTITIES)
    for host in extra_hosts:
        if host and host not in identities and not _is_wildcard(host):
            identities.append(host)
    leaf = ca.issue_cert(*identities, common_name="liveguard emulator")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    return TlsMaterial(ca_file=ca_file, server_context=ctx, _tempdir=tempdir)


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
