"""Every dynamic provider of the project, found in the code rather than listed by hand.

A hand-kept list misses the next provider (it missed ``trusted_keys``); the pickling test and the
benchmark's import timing both take their lists from here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from pulumi.dynamic import ResourceProvider

import providers

#: The one provider outside ``providers/``: its class is pickled by dotted path into existing stacks.
OUTSIDE = ("components.signing_key",)


def provider_module_names() -> list[str]:
    """Every module of ``providers`` and the signing key's: what the providers' host imports."""
    names = sorted(f"providers.{info.name}" for info in pkgutil.iter_modules(providers.__path__))
    return [*names, *OUTSIDE]


def provider_modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in provider_module_names()]


def provider_classes() -> list[type[ResourceProvider]]:
    """The providers the resources use: each ``ResourceProvider`` defined here that no other extends."""
    found = {
        value
        for module in provider_modules()
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ResourceProvider)
        and value.__module__ == module.__name__
    }
    bases = {base for cls in found for base in cls.__mro__[1:]}
    return sorted(found - bases, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
