"""What the providers share: typed props, diff helpers; settings, clients, plain errors and a preflight.

Provider objects are pickled into the state before ``configure`` runs, so they hold no fields there;
``settings`` is set only inside the provider process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, ClassVar, Self, TypeVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, ResourceProvider
from pulumi.output import Unknown

from providers.connection import MinioClients, MinioSettings, clients_for
from providers.errors import ProviderError, describe, show_provider_errors_plainly

#: The value the engine passes for an input that is not known yet (during preview).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

#: A field that is a ``pulumi.Input`` (maybe an ``Output``) in the program, its plain value in the provider.
In = TypeVar("In", covariant=True)

_preflight: dict[MinioSettings, str | None] = {}
_preflight_lock = threading.Lock()


def is_known(value: Any) -> bool:
    """False for an input that is not known yet (the engine's marker, or the SDK's ``Unknown``)."""
    return not isinstance(value, Unknown) and value != UNKNOWN


class Props:
    """Base of each resource's props: a frozen, keyword-only dataclass, the one spelling of its inputs.

    The Resource class sends ``inputs()``; its provider reads them back with ``from_inputs`` (from the
    engine's inputs, or from the stored outputs, which carry the same names), and so do the tests. These
    names are stored in every stack's state: renaming a field changes every resource. The engine drops a
    property whose value is ``None`` on its way to the provider, so a field that may be ``None`` must
    default to ``None``.
    """

    #: Sent beside the fields, the same for every resource of the kind: output-only properties as
    #: ``None`` (so that the Resource has them as attributes) and desired states read back by ``read``.
    fixed: ClassVar[Mapping[str, Any]] = {}

    def inputs(self) -> dict[str, Any]:
        """The engine's input dict."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, **self.fixed}  # type: ignore[arg-type]

    @classmethod
    def from_inputs(cls, values: Mapping[str, Any]) -> Self:
        """The props in an engine dict: other names (outputs) are ignored, missing fields get defaults."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})  # type: ignore[arg-type]


def replaced(olds: Mapping[str, Any], news: Mapping[str, Any], *names: str) -> list[str]:
    """Which of ``names`` differ between the state and the inputs: for ``DiffResult.replaces``."""
    return [name for name in names if olds.get(name) != news.get(name)]


def differ(olds: Mapping[str, Any], news: Mapping[str, Any], *names: str) -> bool:
    """Whether any of ``names`` differs between the state and the inputs."""
    return any(olds.get(name) != news.get(name) for name in names)


def fixed_name(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """``opts`` for a resource whose name in MinIO is fixed: a replacement has the same name.

    Pulumi replaces create-first by default, so the old resource's delete would remove what the
    replacement just made (``pulumi up --replace``). Deleting first is the only safe order.
    """
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True))


def preflight_problem(provider: MinioProvider) -> str | None:
    """Reach MinIO once per process as S3 and as admin; ``None`` or why it cannot work."""
    settings = provider.settings
    with _preflight_lock:
        if settings not in _preflight:
            try:
                with provider.calling("connecting to MinIO"):
                    provider.clients.s3.list_buckets()
                    provider.clients.admin.policy_info("readonly")
                _preflight[settings] = None
            except ProviderError as error:
                _preflight[settings] = str(error)
        return _preflight[settings]


class MinioProvider(ResourceProvider):
    """Base of the MinIO providers. Subclasses add ``check_inputs`` and the CRUD methods."""

    settings: MinioSettings

    #: The property a preflight failure is reported on (one that every resource of the kind has).
    key_property = "name"

    def configure(self, req: ConfigureRequest) -> None:
        self.settings = MinioSettings.from_config(req.config.get)
        show_provider_errors_plainly()

    @property
    def clients(self) -> MinioClients:
        return clients_for(self.settings)

    @contextmanager
    def calling(self, doing: str) -> Iterator[None]:
        """Turn any failure of the SDK inside the block into one plain ``ProviderError`` line."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as error:
            raise ProviderError(describe(error, self.settings, doing)) from None

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Stop preview and up with one clean line when MinIO cannot be used, or the inputs cannot work."""
        problem = preflight_problem(self)
        if problem is None:
            problem = self.check_inputs(olds, news)
        failures = [CheckFailure(self.key_property, problem)] if problem else []
        return CheckResult(news, failures)

    def check_inputs(self, olds: dict[str, Any], news: dict[str, Any]) -> str | None:
        """Why these inputs cannot be applied (e.g. a name taken by something this stack did not make)."""
        return None
