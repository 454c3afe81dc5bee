"""The dev helpers: they never touch the project's own files, and their test TLS is what it claims."""

from __future__ import annotations

import socket
import ssl
import stat
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.minio_server import MinioServer, RootCredentials
from devtools.pulumi_stack import PulumiStack
from devtools.tls import CA_COMMON_NAME, TestCertificates, generate_test_certificates
from devtools.toolchain import ROOT, Toolchain


def test_a_stack_kept_elsewhere_may_not_take_a_committed_stack_name(tmp_path: Path) -> None:
    """`stack init` writes Pulumi.<stack>.yaml beside Pulumi.yaml; for 'homelab' that is the example."""
    stack = PulumiStack(
        Toolchain(tmp_path / "no-tools"), tmp_path, "homelab", config_file=tmp_path / "Pulumi.homelab.yaml"
    )
    with pytest.raises(ValueError, match="needs another name"):
        stack.init()
    assert (ROOT / "Pulumi.homelab.yaml").exists()
    assert not (tmp_path / "backend").exists()


# --- test TLS: the private CA and the https MinIO settings ---------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return generate_test_certificates(tmp_path_factory.mktemp("tls") / "certs")


@contextmanager
def https_server(certs: TestCertificates) -> Iterator[int]:
    """A loopback https server presenting the generated certificate; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.public_crt, certs.private_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_certificates_are_laid_out_as_minio_certs_dir_wants(certificates: TestCertificates) -> None:
    """public.crt and private.key at the top, the CA in CAs/; the key is readable by its owner only."""
    certs_dir = certificates.certs_dir
    assert certificates.public_crt == certs_dir / "public.crt"
    assert certificates.private_key == certs_dir / "private.key"
    assert certificates.ca_file == certs_dir / "CAs" / "ca.crt"
    assert b"BEGIN CERTIFICATE" in certificates.public_crt.read_bytes()
    assert b"BEGIN CERTIFICATE" in certificates.ca_file.read_bytes()
    assert stat.S_IMODE(certificates.private_key.stat().st_mode) == 0o600
    files = {p.relative_to(certs_dir).as_posix() for p in certs_dir.rglob("*") if p.is_file()}
    assert files == {"public.crt", "private.key", "CAs/ca.crt"}  # the CA's key is gone


def test_server_certificate_verifies_for_loopback_names(certificates: TestCertificates) -> None:
    """A client trusting only the CA accepts the certificate as 127.0.0.1 and as localhost."""
    client = ssl.create_default_context(cafile=str(certificates.ca_file))
    with https_server(certificates) as port:
        for host in ("127.0.0.1", "localhost"):
            with urllib.request.urlopen(f"https://{host}:{port}/", timeout=5, context=client) as answer:
                assert answer.read() == b"ok"


def test_server_certificate_is_issued_by_the_test_ca(certificates: TestCertificates) -> None:
    """Issuer CN "nix-cache test CA", subjectAltName DNS:localhost and IP:127.0.0.1, nothing else."""
    client = ssl.create_default_context(cafile=str(certificates.ca_file))
    with (
        https_server(certificates) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        peer = tls.getpeercert()
    assert peer is not None
    assert (("commonName", CA_COMMON_NAME),) in peer["issuer"]
    assert sorted(peer["subjectAltName"]) == [("DNS", "localhost"), ("IP Address", "127.0.0.1")]


def test_server_certificate_is_refused_without_the_ca(certificates: TestCertificates) -> None:
    """The system's trust store does not know the test CA."""
    with (
        https_server(certificates) as port,
        pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/", timeout=5, context=ssl.create_default_context())


def test_each_call_makes_a_new_ca(certificates: TestCertificates, tmp_path: Path) -> None:
    """A second set of certificates is not trusted by the first CA: no key is shared or reused."""
    other = generate_test_certificates(tmp_path / "other")
    assert other.ca_file.read_bytes() != certificates.ca_file.read_bytes()
    client = ssl.create_default_context(cafile=str(certificates.ca_file))
    with https_server(other) as port, pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/", timeout=5, context=client)


def _server(tmp_path: Path, certs_dir: Path | None = None, ca_file: Path | None = None) -> MinioServer:
    return MinioServer(
        minio_binary="minio",
        home=tmp_path,
        port=9000,
        console_port=9001,
        credentials=RootCredentials("admin", "password"),
        certs_dir=certs_dir,
        ca_file=ca_file,
    )


def test_minio_server_is_plain_http_by_default(tmp_path: Path) -> None:
    """Without certs_dir the endpoint is http and the readiness check uses no TLS context."""
    server = _server(tmp_path)
    assert server.endpoint_url == "http://127.0.0.1:9000"
    assert not server.secure
    assert server.ssl_context() is None


def test_minio_server_with_certs_dir_is_https_trusting_its_ca(
    tmp_path: Path, certificates: TestCertificates
) -> None:
    """With certs_dir the endpoint is https and the readiness check trusts exactly ca_file."""
    server = _server(tmp_path, certs_dir=certificates.certs_dir, ca_file=certificates.ca_file)
    assert server.endpoint_url == "https://127.0.0.1:9000"
    context = server.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", CA_COMMON_NAME),),)]


@pytest.mark.parametrize("only", ["certs_dir", "ca_file"])
def test_minio_server_needs_certs_dir_and_ca_file_together(tmp_path: Path, only: str) -> None:
    """https needs both what the server presents and what its clients trust."""
    with pytest.raises(ValueError, match="certs_dir and ca_file go together"):
        _server(tmp_path, **{only: tmp_path})
