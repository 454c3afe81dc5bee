"""The MinIO SDK is loaded by the providers' host only, never by the program's own process.

Every ``pulumi preview`` and ``up`` starts the program in a fresh Python: importing the SDK there
would add about 0.1 s to each for nothing (``providers/sdk.py``, ``BENCH.md``).
"""

from __future__ import annotations

import subprocess
import sys

import minio.error
import pytest
import urllib3

from devtools.toolchain import ROOT
from providers import sdk

SDK_MODULES = ("minio", "urllib3")


def test_the_program_s_imports_leave_the_sdk_unloaded() -> None:
    """What ``__main__.py`` imports, and every provider module, in a fresh interpreter."""
    script = (
        "import sys, pkgutil, importlib, providers\n"
        "import components.cache, components.config\n"
        "for module in pkgutil.iter_modules(providers.__path__):\n"
        "    importlib.import_module(f'providers.{module.name}')\n"
        f"print(sorted(m for m in {SDK_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_names_are_the_sdk_s_own() -> None:
    assert sdk.S3Error is minio.error.S3Error
    assert sdk.MinioAdminException is minio.error.MinioAdminException
    assert sdk.urllib3 is urllib3
    assert sdk.urllib3.exceptions.MaxRetryError is urllib3.exceptions.MaxRetryError


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        sdk.Nothing  # type: ignore[attr-defined]  # noqa: B018
