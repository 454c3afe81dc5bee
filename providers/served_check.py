"""After-deploy check: is ``nix-cache-info`` really served to anonymous clients at the public URL?

Everything else can be right and the cache still useless (a reverse proxy in front of MinIO, a wrong
public URL, a CA the machines do not trust), so the update fails with a clear message when a plain
anonymous GET does not return what was written. ``served`` is a desired state: ``read`` fetches again,
so ``pulumi preview --refresh`` shows a cache that stopped being served.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import (
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from providers.errors import ProviderError, show_provider_errors_plainly

ATTEMPTS = 5
TIMEOUT = 10.0
_INPUTS = ("url", "expected", "cacert_file", "insecure")


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
    request = urllib.request.Request(url, headers={"User-Agent": "nix-cache-served-check"})  # noqa: S310
    context = tls_context(cacert_file, insecure) if url.startswith("https:") else None
    try:
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
    except (OSError, ValueError) as error:
        return Fetched(None, str(error) or type(error).__name__)


def served_problem(props: dict[str, Any], attempts: int = ATTEMPTS) -> str | None:
    """Why ``nix-cache-info`` is not served as expected (retrying briefly), or ``None``."""
    url = f"{props['url']}/nix-cache-info"
    problem = "not tried"
    for attempt in range(attempts):
        if attempt:
            time.sleep(1)
        fetched = fetch(url, props.get("cacert_file"), bool(props.get("insecure")))
        if fetched.body == props["expected"]:
            return None
        if fetched.body is None:
            problem = f"{url} is not served to anonymous clients: {fetched.problem}"
        else:
            problem = (
                f"{url} is served, but not with the content this stack wrote: got {fetched.body!r}, "
                f"expected {props['expected']!r}"
            )
    hint = "check nix-cache:publicUrl, the anonymous bucket policy and, for https, minio:minioCacertFile"
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
        return CreateResult(props["url"], self._verify(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, "served": served_problem(props, attempts=1) is None})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in (*_INPUTS, "served"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._verify(news))


class ServedCheck(pulumi.dynamic.Resource, module="http", name="ServedCheck"):
    """Fetches ``<url>/nix-cache-info`` anonymously after each change and fails unless it is ``expected``."""

    served: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        url: str,
        expected: str,
        cacert_file: str | None,
        insecure: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "url": url,
            "expected": expected,
            "cacert_file": cacert_file,
            "insecure": insecure,
            "served": True,
        }
        super().__init__(ServedCheckProvider(), name, props, opts)
