"""The builder module evaluated by the real ``nix-instantiate`` with a stub ``config`` and ``pkgs``.

The stubs are the few attributes the module uses: ``config.nix.package`` and ``pkgs.util-linux``
(store paths in NixOS; here any folder with ``bin/nix`` and ``bin/logger``), and
``pkgs.writeShellScript``, which returns ``{ name, text }`` so that the test sees the script's text
exactly as NixOS would write it (after ``#!<bash>``) into the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from components.nix_text import nix_string
from tests.nix_client import NixClient


def evaluate_module(
    nix: NixClient,
    module_text: str,
    workdir: Path,
    nix_package: str = "/stub/nix",
    util_linux: str = "/stub/util-linux",
) -> dict[str, Any]:
    """``nix.settings`` of the module, parsed and evaluated strictly by the real Nix, as JSON."""
    module = workdir / "nix-cache-builder.nix"
    module.write_text(module_text)
    nix.run("nix-instantiate", "--parse", str(module))
    args = (
        f"{{ config = {{ nix.package = {nix_string(nix_package)}; }}; "
        f"pkgs = {{ util-linux = {nix_string(util_linux)}; "
        "writeShellScript = name: text: { inherit name text; }; }; }"
    )
    expression = f"(import {module} {args}).nix.settings"
    evaluated: dict[str, Any] = json.loads(
        nix.run("nix-instantiate", "--eval", "--strict", "--json", "-E", expression).stdout
    )
    return evaluated


def write_shell_script(hook: dict[str, str], directory: Path) -> Path:
    """What ``pkgs.writeShellScript`` makes of the evaluated ``{ name, text }``: ``#!bash``, executable."""
    path = directory / hook["name"]
    path.write_text(f"#!/bin/bash\n{hook['text']}")
    path.chmod(0o755)
    return path
