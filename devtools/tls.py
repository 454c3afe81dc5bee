"""Throwaway TLS material for a test MinIO: a private CA and a loopback server certificate it signed.

Made with the ``openssl`` CLI and laid out as ``minio server --certs-dir`` wants it::

    DIR/public.crt     server certificate, subjectAltName DNS:localhost, IP:127.0.0.1
    DIR/private.key    its key (mode 600)
    DIR/CAs/ca.crt     the CA certificate: MinIO trusts it, clients are given it as ``ca_file``

The CA's key only lives while the server certificate is signed, so nothing else can be signed with it.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CA_COMMON_NAME = "nix-cache test CA"
SERVER_NAMES = ("DNS:localhost", "IP:127.0.0.1")

# A complete configuration, so that the system's openssl.cnf changes nothing.
_OPENSSL_CONFIG = f"""\
[req]
distinguished_name = dn
prompt = no

[dn]

[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {", ".join(SERVER_NAMES)}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class TestCertificates:
    """Where MinIO finds its certificate (``certs_dir``) and what clients must trust (``ca_file``)."""

    __test__ = False  # not a pytest test class, despite the name

    certs_dir: Path
    ca_file: Path

    @property
    def public_crt(self) -> Path:
        return self.certs_dir / "public.crt"

    @property
    def private_key(self) -> Path:
        return self.certs_dir / "private.key"


def generate_test_certificates(certs_dir: Path, days: int = 30) -> TestCertificates:
    """Write a fresh CA and a loopback server certificate signed by it into ``certs_dir``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl CLI is missing; install it with `apt-get install -y openssl`")
    certs = TestCertificates(certs_dir=certs_dir, ca_file=certs_dir / "CAs" / "ca.crt")
    certs.ca_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nix-cache-ca-") as scratch_name:
        scratch = Path(scratch_name)
        config = scratch / "openssl.cnf"
        config.write_text(_OPENSSL_CONFIG)
        ca_key = scratch / "ca.key"
        csr = scratch / "server.csr"
        _new_key(openssl, ca_key)
        _run(
            openssl, "req", "-new", "-x509", "-config", str(config), "-extensions", "ca",
            "-key", str(ca_key), "-subj", f"/CN={CA_COMMON_NAME}", "-days", str(days),
            "-out", str(certs.ca_file),
        )  # fmt: skip
        _new_key(openssl, certs.private_key)
        _run(
            openssl, "req", "-new", "-config", str(config), "-key", str(certs.private_key),
            "-subj", "/CN=localhost", "-out", str(csr),
        )  # fmt: skip
        _run(
            openssl, "x509", "-req", "-in", str(csr), "-CA", str(certs.ca_file), "-CAkey", str(ca_key),
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days),
            "-extfile", str(config), "-extensions", "server", "-out", str(certs.public_crt),
        )  # fmt: skip
    return certs


def _new_key(openssl: str, path: Path) -> None:
    """An EC P-256 key (PKCS#8 PEM, which MinIO reads), readable by its owner only."""
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # touch's mode is subject to the umask
    _run(openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def _run(openssl: str, *args: str) -> None:
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`openssl {args[0]}` failed ({result.returncode}): {result.stderr.strip()}")
