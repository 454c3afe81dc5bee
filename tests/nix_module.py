"""The builder module evaluated by the real ``nix-instantiate`` with a stub ``config`` and ``pkgs``.

The stubs are the few attributes the module uses: ``config.nix.package`` (a store path in NixOS; here
any folder with ``bin/nix``), ``pkgs.coreutils`` (this machine's ``/usr``, whose ``bin`` has
``mkdir``, ``sync`` and ``mv``), ``pkgs.python3Packages``, and the two writers, which return what they
were given (``{ name, text, … }``, with an ``outPath`` so that the module's interpolations work) so
that the test sees the hook's and the agent's text exactly as NixOS would write them into the store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from components.nix_text import nix_string
from devtools.nix_client import NixClient


def evaluate_module(
    nix: NixClient, module_text: str, workdir: Path, agent_package: str = "/stub/agent"
) -> dict[str, Any]:
    """What the module sets, parsed and evaluated strictly by the real Nix, as JSON.

    ``settings`` is ``nix.settings`` with the hook as ``{ name, text }``; ``agent`` is what was given to
    ``writePython3Bin``; ``service`` and ``etc`` are the module's systemd unit and files.
    """
    module = workdir / "nix-cache-builder.nix"
    module.write_text(module_text)
    nix.run("nix-instantiate", "--parse", str(module))
    args = (
        '{ config = { nix.package = "/stub/nix"; }; pkgs = { '
        'coreutils = "/usr"; python3Packages = { minio = "minio"; pynacl = "pynacl"; }; '
        'writeShellScript = name: text: { inherit name text; outPath = "/stub/hook"; }; '
        "writers.writePython3Bin = name: attrs: text: attrs // "
        f"{{ inherit name text; outPath = {nix_string(agent_package)}; }}; }}; }}"
    )
    expression = f"""
      let
        m = import {module} {args};
        hook = m.nix.settings.post-build-hook;
        agent = builtins.head m.environment.systemPackages;
      in {{
        settings = m.nix.settings // {{ post-build-hook = {{ inherit (hook) name text; }}; }};
        agent = {{ inherit (agent) name text libraries flakeIgnore; }};
        packages = builtins.length m.environment.systemPackages;
        service = m.systemd.services.nix-cache-agent;
        etc = m.environment.etc;
      }}
    """
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


def write_python_bin(agent: dict[str, Any], package: Path) -> Path:
    """What ``writePython3Bin`` makes of the evaluated text: ``package/bin/NAME``, ``#!python``, executable.

    The interpreter is this venv's, which has the same libraries the module lists (minio, pynacl).
    """
    path: Path = package / "bin" / str(agent["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n{agent['text']}")
    path.chmod(0o755)
    return path
