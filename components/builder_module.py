"""``builderModule``: the NixOS module for the machine that builds and uploads.

It signs everything the builder builds as it is built (``secret-key-files``); its post-build hook
only queues each build's outputs for the upload agent (no network: Nix waits for the hook after every
build), and the ``nix-cache-agent`` service drains that queue into the cache. The agent is
``agent/nix_cache_agent.py``, embedded byte for byte with ``pkgs.writers.writePython3Bin``; the hook
is a few lines of bash that write the agent's queue entry format.

Pure functions of config, like ``nix_text``: the module is checked with the real ``nix-instantiate``,
and what it carries is run by the real Nix after a real build (``tests/test_builder_module.py``,
``tests/e2e/test_builder_hook.py``). It holds no secret: the writer's is in ``WRITER_CREDENTIALS_FILE``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from agent.nix_cache_agent import DEFAULT_CONFIG_FILE, DEFAULT_QUEUE_DIR
from components.nix_text import (
    WRITER_CREDENTIALS_FILE,
    AgentTarget,
    key_file_path,
    nix_string,
)

__all__ = ["AGENT_SOURCE", "HOOK_NAME", "WRITER_CREDENTIALS_FILE", "builder_module", "post_build_hook"]

#: The agent's code, as the tests run it and as the module embeds it.
AGENT_SOURCE = Path(__file__).resolve().parent.parent / "agent" / "nix_cache_agent.py"
#: The hook's name in the store.
HOOK_NAME = "nix-cache-upload"
#: The queue the hook writes and the service drains (under systemd's ``StateDirectory``), and the
#: agent's settings on the builder (no secret), read by ``drain`` and by a manual ``push``: the
#: agent's own defaults, so that the module and the agent cannot disagree.
QUEUE_DIR = DEFAULT_QUEUE_DIR
AGENT_CONFIG_FILE = DEFAULT_CONFIG_FILE
#: flake8 checks the embedded code when the system is built; ruff allows lines up to 110 columns.
FLAKE_IGNORE = ("E501",)

#: Stand-in for coreutils' ``bin/`` in the hook, replaced by a Nix interpolation.
_COREUTILS = "@nix-cache-coreutils@/"


def post_build_hook(coreutils: str = "", queue_dir: str = QUEUE_DIR) -> str:
    """The hook's bash script: queue ``$OUT_PATHS`` (and ``$DRV_PATH``) as one agent queue entry; exit 0.

    Nix runs the hook after every build and waits for it, and a hook that fails fails the build (and
    stops the build loop): so it touches no network, starts no interpreter (a few milliseconds, where
    starting the agent costs tens) and nothing here may exit non-zero. It writes the agent's entry
    format (``decode_entry``; store paths hold no quote or backslash) under a dot-name, syncs it and
    renames it into the queue, named by time like ``entry_name``. Nix 2.8.0 passes an empty
    ``$OUT_PATHS`` (NixOS/nix#6446), as do rebuilds in 2.30-2.31 (NixOS/nix#14287): the derivation
    is queued too, and the agent asks it for its outputs when it drains. ``coreutils`` is the prefix
    of ``mkdir``, ``sync`` and ``mv`` (the module passes coreutils' ``bin/``).
    """
    queue = shlex.quote(queue_dir)
    return f"""\
# nix-cache: queue each build's outputs for the upload agent (nix-cache-agent.service).
# Nix runs this as root after every build and waits for it: it only writes one file into the
# queue, never touches the network and never fails the build.
set -f
if [ -z "${{OUT_PATHS:-}}${{DRV_PATH:-}}" ]; then
  exit 0
fi
paths=
for path in ${{OUT_PATHS:-}}; do
  paths="$paths${{paths:+, }}\\"$path\\""
done
drv=null
if [ -n "${{DRV_PATH:-}}" ]; then
  drv="\\"$DRV_PATH\\""
fi
now=${{EPOCHREALTIME//[!0-9]/}}000
printf -v name '%020d-%d-%04x.json' "$now" "$$" "$RANDOM"
if ! {{ {coreutils}mkdir -p {queue} &&
  printf '{{"version": 1, "paths": [%s], "drv": %s}}\\n' "$paths" "$drv" > {queue}/".tmp-$name" &&
  {coreutils}sync {queue}/".tmp-$name" &&
  {coreutils}mv {queue}/".tmp-$name" {queue}/"$name"; }} 2>/dev/null; then
  echo "{HOOK_NAME}: not queued, {queue_dir} is not writable: ${{OUT_PATHS:-${{DRV_PATH:-}}}}" >&2
fi
exit 0
"""


def builder_module(target: AgentTarget, queue_dir: str = QUEUE_DIR) -> str:
    """A NixOS module for the builder: sign every build, queue it from the hook, drain it as a service."""
    agent_text = AGENT_SOURCE.read_text()
    hook = _indented_string(post_build_hook(_COREUTILS, queue_dir), "    ")
    if hook.count(_COREUTILS) != 3:
        raise ValueError(f"{_COREUTILS} must stand before mkdir, sync and mv in the hook")
    hook = hook.replace(_COREUTILS, "${pkgs.coreutils}/bin/")
    settings = json.dumps({**target.settings(), "queue_dir": queue_dir}, indent=2, sort_keys=True)
    etc_name = AGENT_CONFIG_FILE.removeprefix("/etc/")
    flake_ignore = " ".join(nix_string(code) for code in FLAKE_IGNORE)
    return (
        "{ config, pkgs, ... }:\n"
        "let\n"
        f"  agent = pkgs.writers.writePython3Bin {nix_string('nix-cache-agent')} {{\n"
        "    libraries = [ pkgs.python3Packages.minio pkgs.python3Packages.pynacl ];\n"
        f"    flakeIgnore = [ {flake_ignore} ];\n"
        f"  }} {_indented_string(agent_text, '    ')};\n"
        f"  postBuildHook = pkgs.writeShellScript {nix_string(HOOK_NAME)} {hook};\n"
        "in\n"
        "{\n"
        "  nix.settings = {\n"
        f"    secret-key-files = [ {nix_string(key_file_path(target.key_name))} ];\n"
        "    post-build-hook = postBuildHook;\n"
        "  };\n"
        f"  environment.etc.{nix_string(etc_name)}.text = {nix_string(settings)};\n"
        "  environment.systemPackages = [ agent ];\n"
        "  systemd.services.nix-cache-agent = {\n"
        f"    description = {nix_string('nix-cache upload agent: pushes what the post-build hook queued')};\n"
        '    wantedBy = [ "multi-user.target" ];\n'
        '    wants = [ "network-online.target" ];\n'
        '    after = [ "network-online.target" ];\n'
        "    path = [ config.nix.package ];\n"
        "    serviceConfig = {\n"
        f'      ExecStart = "${{agent}}/bin/nix-cache-agent drain --config {AGENT_CONFIG_FILE}";\n'
        '      Restart = "always";\n'
        "      RestartSec = 5;\n"
        f"      StateDirectory = {nix_string(Path(queue_dir).parent.name)};\n"
        "    };\n"
        "  };\n"
        "}\n"
    )


def _indented_string(text: str, indent: str) -> str:
    """``text`` as a Nix indented string (``''…''``) whose lines are indented by ``indent``.

    Nix strips the common indentation and the first and last (blank) lines, and reads three escapes:
    ``''$`` is ``$`` (so ``${`` is not interpolation), ``'''`` is ``''``, and ``''\\x`` is ``x``. Every
    ``'`` before another ``'``, a ``$`` or the closing ``''`` is written ``''\\'``, so an escape never
    follows a quote.
    """
    lines = [line for line in text.split("\n") if line]
    if any(not line.strip(" ") for line in lines) or (lines and all(line[0] == " " for line in lines)):
        # Nix would drop the spaces of such lines, or the indentation the text shares.
        raise ValueError("a Nix indented string cannot keep blank lines of spaces or a shared indentation")
    out: list[str] = []
    for i, char in enumerate(text):
        after = text[i + 1 : i + 2]
        if char == "'" and after in ("'", "$", ""):
            out.append("''\\'")
        elif char == "$" and after in ("{", ""):
            out.append("''$")
        else:
            out.append(char)
    escaped = "".join(out)
    # A final newline is the one before the closing line, whose own spaces Nix drops.
    body, closing = (escaped[:-1], f"\n{indent[:-2]}''") if escaped.endswith("\n") else (escaped, "''")
    indented = (indent + line if line else line for line in body.split("\n"))
    return "''\n" + "\n".join(indented) + closing
