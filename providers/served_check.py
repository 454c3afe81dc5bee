"""After-deploy check: is ``nix-cache-info`` really served to the cache's clients?

A public cache is checked with an anonymous GET of ``<url>/nix-cache-info``; a private one with a GET
signed with the reader's credentials, exactly what its clients do.

Everything else can be right and the cache still useless (a reverse proxy in front of MinIO, a wrong
public URL, a CA the machines do not trust), so the update fails with a clear message when the
clients' own request does not return what was written. ``served`` is a desired state: ``read`` fetches again,
so ``pulumi preview --refresh`` shows a cache that stopped being served.
"""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Generic

import pulumi
from pulumi.dynamic import (
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from providers.base import In, Props, differ
from providers.connection import MinioSettings, clients_for
from providers.errors import ProviderError, describe, show_provider_errors_plainly

ATTEMPTS = 5
TIMEOUT = 10.0
_INPUTS = ("url", "expected", "cacert_file", "insecure", "reader", "reader_secret")
#: The props of a private cache's check, absent (not ``None``) from a public one's inputs.
_READER = ("reader", "reader_secret", "server", "bucket", "use_ssl")


@dataclass(frozen=True, kw_only=True)
class ServedCheckProps(Props, Generic[In]):
    """``<url>/nix-cache-info`` must be ``expected``: fetched anonymously, or as ``reader`` when one is set.

    ``cacert_file`` and ``insecure`` are the TLS settings of the fetch; ``server``, ``bucket`` and
    ``use_ssl`` say where a private cache's reader reads it through the S3 API.
    """

    url: str
    expected: str
    insecure: bool
    cacert_file: str | None = None
    reader: In | None = None
    reader_secret: In | None = None
    server: str = ""
    bucket: str = ""
    use_ssl: bool = False
    #: Whether it was served at the last create, update or read: a desired state.
    fixed: ClassVar[dict[str, Any]] = {"served": True}

    def inputs(self) -> dict[str, Any]:
        values = super().inputs()
        if self.reader is None:
            for name in _READER:
                del values[name]
        return values


@dataclass(frozen=True)
class Fetched:
    body: str | None
    problem: str | None


def tls_context(cacert_file: str | None, insecure: bool) -> ssl.SSLContext:
    if insecure:
        return ssl._create_unverified_context()  # noqa: S323 - the user's explicit insecure switch
    return ssl.create_default_context(cafile=cacert_file or None)


def fetch(url: str, cacert_file: str | None, insecure: bool) -> Fetched:
    """One anonymous GET; the body, or why there is none (one line)."""
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "nix-cache-served-check"})  # noqa: S310
        context = tls_context(cacert_file, insecure) if url.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as answer:  # noqa: S310
            return Fetched(answer.read().decode("utf-8", errors="replace"), None)
    except urllib.error.HTTPError as error:
        return Fetched(None, f"HTTP {error.code} {error.reason}")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            where = f"the CA in {cacert_file}" if cacert_file else "this machine's trusted CAs"
            return Fetched(None, f"TLS certificate not trusted by {where} ({reason.verify_message})")
        return Fetched(None, str(reason))
    except (OSError, ValueError, http.client.HTTPException) as error:
        return Fetched(None, str(error) or type(error).__name__)


def fetch_as_reader(check: ServedCheckProps[str]) -> Fetched:
    """``nix-cache-info`` read with the reader's credentials through the S3 API, as Nix's s3 store does."""
    settings = MinioSettings(
        server=check.server,
        user=check.reader or "",
        password=check.reader_secret or "",
        use_ssl=bool(check.use_ssl),
        cacert_file=check.cacert_file,
        insecure=bool(check.insecure),
    )
    try:
        answer = clients_for(settings).s3.get_object(check.bucket, "nix-cache-info")
        try:
            return Fetched(answer.read().decode("utf-8", errors="replace"), None)
        finally:
            answer.close()
            answer.release_conn()
    except Exception as error:
        return Fetched(None, describe(error, settings, "reading nix-cache-info as the reader", role="reader"))


def served_problem(props: dict[str, Any], attempts: int = ATTEMPTS) -> str | None:
    """Why ``nix-cache-info`` is not served as expected (retrying briefly), or ``None``."""
    check = ServedCheckProps[str].from_inputs(props)
    private = bool(check.reader)
    url = f"{check.url}/nix-cache-info"
    who = f"the reader {check.reader!r}" if private else "anonymous clients"
    problem = "not tried"
    for attempt in range(attempts):
        if attempt:
            time.sleep(1)
        fetched = fetch_as_reader(check) if private else fetch(url, check.cacert_file, check.insecure)
        if fetched.body == check.expected:
            return None
        if fetched.body is None:
            problem = f"{url} is not served to {who}: {fetched.problem}"
        else:
            problem = (
                f"{url} is served, but not with the content this stack wrote: got {fetched.body!r}, "
                f"expected {check.expected!r}"
            )
    hint = (
        "check the reader's policy and, for https, minio:minioCacertFile"
        if private
        else "check nix-cache:publicUrl, the anonymous bucket policy and, for https, minio:minioCacertFile"
    )
    return f"{problem}; {hint}"


class ServedCheckProvider(ResourceProvider):
    def configure(self, req: ConfigureRequest) -> None:
        show_provider_errors_plainly()

    def _verify(self, props: dict[str, Any]) -> dict[str, Any]:
        problem = served_problem(props)
        if problem:
            raise ProviderError(problem)
        return {**props, "served": True}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(ServedCheckProps[str].from_inputs(props).url, self._verify(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, "served": served_problem(props, attempts=1) is None})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = differ(olds, news, *_INPUTS, "served")
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._verify(news))


@dataclass(frozen=True)
class ReaderAccess:
    """How a private cache is read: the reader's keys and where its bucket is."""

    access_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    server: str
    bucket: str
    use_ssl: bool


class ServedCheck(pulumi.dynamic.Resource, module="http", name="ServedCheck"):
    """Fetches ``<url>/nix-cache-info`` as clients do after each change; fails unless it is ``expected``."""

    served: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        url: str,
        expected: str,
        cacert_file: str | None,
        insecure: bool,
        reader: ReaderAccess | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = ServedCheckProps[pulumi.Input[str]](
            url=url, expected=expected, cacert_file=cacert_file, insecure=insecure
        )
        if reader is not None:
            props = replace(
                props,
                reader=reader.access_key,
                reader_secret=reader.secret_key,
                server=reader.server,
                bucket=reader.bucket,
                use_ssl=reader.use_ssl,
            )
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["reader_secret"])
        options = pulumi.ResourceOptions.merge(opts, secret_opts)
        super().__init__(ServedCheckProvider(), name, props.inputs(), options)
