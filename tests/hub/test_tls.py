"""HTTPS for phones: `skyhub run --https` makes a CA once and serves a certificate it signs (verified
here, not ignored); /ca.crt and /ca; check-config says which line holds a certificate that does not
match its key."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import REPO, free_port
from tests.hub.conftest import SECRET


class HttpsHub:
    """`python -m hub run --https` on a loopback port."""

    def __init__(self, config: Path, data: Path) -> None:
        self.config, self.data = config, data
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--config", str(self.config), "--port", str(self.port), "--data", str(self.data), "--https"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", *args, "--log-level", "warning"],
            cwd=REPO,
            env={**os.environ, "SKYHUB_SECRET": SECRET},
            stdout=subprocess.PIPE,
            stderr=(self.data.parent / "hub-stderr.log").open("ab"),
        )

    def trusting(self) -> ssl.SSLContext:
        """A client context that trusts the hub's CA and nothing else."""
        return ssl.create_default_context(cafile=str(self.data / "tls" / "ca.crt"))

    async def wait_ready(self) -> None:
        async with asyncio.timeout(30):
            while True:
                assert self.proc is not None and self.proc.poll() is None, "hub exited at startup"
                if (self.data / "tls" / "ca.crt").exists():
                    try:
                        async with httpx.AsyncClient(verify=self.trusting()) as c:
                            if (await c.get(f"https://127.0.0.1:{self.port}/healthz")).status_code == 200:
                                return
                    except httpx.ConnectError:
                        pass
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture
def https_hub(tmp_path: Path) -> Iterator[HttpsHub]:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"users": [{"username": "admin", "roles": ["admin"]}]}))
    hub = HttpsHub(config, tmp_path / "data")
    try:
        yield hub
    finally:
        hub.stop()


async def test_a_hub_run_with_https_is_verified_with_its_own_ca_and_offers_it(https_hub: HttpsHub) -> None:
    https_hub.start()
    await https_hub.wait_ready()
    base = f"https://127.0.0.1:{https_hub.port}"
    ca_file = https_hub.data / "tls" / "ca.crt"
    async with httpx.AsyncClient(verify=https_hub.trusting()) as c:
        # The certificate names localhost too, and is checked against the CA (not ignored).
        assert (await c.get(f"https://localhost:{https_hub.port}/healthz")).status_code == 200
        r = await c.get(f"{base}/ca.crt")
        assert r.status_code == 200 and r.content == ca_file.read_bytes()
        assert r.headers["content-type"] == "application/x-x509-ca-cert"
        page = await c.get(f"{base}/ca", params={"lang": "zh"})
        assert page.status_code == 200 and "安卓手机" in page.text and "iPhone" in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # none at all: default-src 'none'
        der = x509.load_pem_x509_certificate(ca_file.read_bytes()).public_bytes(serialization.Encoding.DER)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(der)
        assert digest.finalize().hex().upper()[:8] in page.text.replace(":<wbr>", "")
        english = await c.get(f"{base}/ca", headers={"Accept-Language": "en-GB,en"})
        assert "Android" in english.text and "Certificate Trust Settings" in english.text
    # A client that does not trust the hub's CA is refused by its own verification.
    async with httpx.AsyncClient() as untrusting:
        with pytest.raises(httpx.ConnectError):
            await untrusting.get(f"{base}/healthz")
    # Made once: a restart keeps the CA the phones already trust.
    made = ca_file.read_bytes()
    https_hub.stop()
    https_hub.start()
    await https_hub.wait_ready()
    assert ca_file.read_bytes() == made
    assert (https_hub.data / "tls" / "ca.key").stat().st_mode & 0o077 == 0  # the CA's key is the owner's only


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_check_config_names_the_line_of_a_certificate_that_does_not_match_its_key(tmp_path: Path) -> None:
    mine, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "hub.crt").write_bytes(_self_signed(mine))
    (tmp_path / "mine.key").write_bytes(_key_pem(mine))
    (tmp_path / "other.key").write_bytes(_key_pem(other))
    config = tmp_path / "hub.yaml"

    def check(key_file: str) -> subprocess.CompletedProcess[str]:
        config.write_text(f"server:\n  port: 8443\n  tls:\n    cert: hub.crt\n    key: {key_file}\n")
        return subprocess.run(
            [sys.executable, "-m", "hub", "check-config", str(config)], cwd=REPO, capture_output=True, text=True
        )

    bad = check("other.key")
    assert bad.returncode == 1
    assert f"{config}:4: server.tls.cert: the certificate" in bad.stderr and "does not match the key" in bad.stderr
    good = check("mine.key")  # paths are relative to the config file, wherever it is checked from
    assert good.returncode == 0, good.stderr
    missing = check("nowhere.key")
    assert missing.returncode == 1 and "cannot read the key" in missing.stderr
