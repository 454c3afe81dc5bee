"""What every MinIO provider shares: settings from the stack config, the clients, plain errors, a preflight.

Provider objects are pickled into the state before ``configure`` runs, so they hold no fields there;
``settings`` is set only inside the provider process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, ResourceProvider
from pulumi.output import Unknown

from providers.connection import MinioClients, MinioSettings, clients_for
from providers.errors import ProviderError, describe, show_provider_errors_plainly

#: The value the engine passes for an input that is not known yet (during preview).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

_preflight: dict[MinioSettings, str | None] = {}
_preflight_lock = threading.Lock()


def is_known(value: Any) -> bool:
    """False for an input that is not known yet (the engine's marker, or the SDK's ``Unknown``)."""
    return not isinstance(value, Unknown) and value != UNKNOWN


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
