"""``builderModule``: the NixOS module for the machine that builds and uploads.

It signs everything the builder builds as it is built (``secret-key-files``), and uploads each build's
outputs to the cache from Nix's ``post-build-hook``, with the program's push URL (zstd) and the
writer's credentials from ``WRITER_CREDENTIALS_FILE``. A failed upload is logged to the journal and to
the build's output, and never fails the build.

Pure functions of config, like ``nix_text``: the module is checked with the real ``nix-instantiate``,
and the hook it carries is run by the real Nix after a real build (``tests/test_builder_module.py``,
``tests/e2e/test_builder_hook.py``).
"""

from __future__ import annotations

import shlex

from components.nix_text import key_file_path, nix_string

#: Where the README puts the stack's ``awsCredentials`` on the builder (root-owned, mode 600). The
#: Nix daemon runs the hook as root; a file of its own keeps the writer's secret out of root's
#: ``~/.aws`` and does not depend on the daemon's ``HOME``.
WRITER_CREDENTIALS_FILE = "/etc/nix/nix-cache-writer.credentials"
#: The hook's name in the store and its tag in the journal (``journalctl -t nix-cache-upload``).
HOOK_NAME = "nix-cache-upload"

#: Stand-ins for the three store paths the module interpolates; none can occur in a push URL.
_NIX = "@nix-cache-nix@"
_NIX_STORE = "@nix-cache-nix-store@"
_LOGGER = "@nix-cache-logger@"


def post_build_hook(
    push_url: str,
    credentials_file: str = WRITER_CREDENTIALS_FILE,
    nix: str = "nix",
    nix_store: str = "nix-store",
    logger: str = "logger",
) -> str:
    """The hook's bash script: upload ``$OUT_PATHS`` to ``push_url``; log a failure; always exit 0.

    Nix runs the hook after every build and waits for it, and a hook that fails fails the build
    (and stops the build loop): so nothing here may exit non-zero. Nix 2.8.0 passes an empty
    ``$OUT_PATHS`` (NixOS/nix#6446, fixed in 2.8.1), as do rebuilds in 2.30-2.31 (NixOS/nix#14287):
    then the outputs are asked of ``$DRV_PATH``. ``nix``, ``nix_store`` and ``logger`` are the
    commands to run; the module passes store paths.
    """
    return f"""\
# nix-cache: upload each build's outputs to the cache (the stack output builderModule).
# The Nix daemon runs this as root after every build and waits for it. The outputs are signed
# already (secret-key-files); a failed upload is logged and never fails the build.
set -uf
# Whatever goes wrong below (even an unset variable under set -u), the build is never failed.
trap 'exit 0' EXIT
export IFS=' '
export AWS_SHARED_CREDENTIALS_FILE={shlex.quote(credentials_file)}
store={shlex.quote(push_url)}
log() {{
  echo "{HOOK_NAME}: $1" >&2
  {logger} -t {HOOK_NAME} -p user.warning -- "$1" 2>/dev/null || true
}}
paths=${{OUT_PATHS:-}}
if [ -z "$paths" ] && [ -n "${{DRV_PATH:-}}" ]; then
  # Some Nix versions pass no OUT_PATHS: the derivation knows its outputs.
  paths=$({nix_store} --query --outputs "$DRV_PATH" 2>&1) || {{
    log "not uploaded, no OUT_PATHS and no outputs of $DRV_PATH: ${{paths//$'\\n'/ }}"
    exit 0
  }}
  paths=${{paths//$'\\n'/ }}
fi
if [ -z "$paths" ]; then
  exit 0
fi
if [ ! -r "$AWS_SHARED_CREDENTIALS_FILE" ]; then
  log "not uploaded, $AWS_SHARED_CREDENTIALS_FILE is missing (the stack's awsCredentials): $paths"
  exit 0
fi
if output=$({nix} --extra-experimental-features nix-command copy --to "$store" $paths 2>&1); then
  echo "{HOOK_NAME}: uploaded $paths" >&2
else
  log "upload failed (exit $?), the build is kept: $paths: ${{output//$'\\n'/ }}"
fi
exit 0
"""


def builder_module(key_name: str, push_url: str, credentials_file: str = WRITER_CREDENTIALS_FILE) -> str:
    """A NixOS module for the builder: sign every build with the cache's key, upload it from the hook.

    The key file is where the README puts ``secretKey``; the hook is ``post_build_hook`` written with
    ``pkgs.writeShellScript``, running the system's own ``nix`` and util-linux's ``logger``.
    """
    script = _indented_string(post_build_hook(push_url, credentials_file, _NIX, _NIX_STORE, _LOGGER), "    ")
    for placeholder in (_NIX, _NIX_STORE, _LOGGER):
        if script.count(placeholder) != 1:
            raise ValueError(f"{placeholder} must occur exactly once in the hook")
    script = (
        script.replace(_NIX_STORE, "${config.nix.package}/bin/nix-store")
        .replace(_NIX, "${config.nix.package}/bin/nix")
        .replace(_LOGGER, "${pkgs.util-linux}/bin/logger")
    )
    return (
        "{ config, pkgs, ... }:\n"
        "let\n"
        f"  postBuildHook = pkgs.writeShellScript {nix_string(HOOK_NAME)} {script};\n"
        "in\n"
        "{\n"
        "  nix.settings = {\n"
        f"    secret-key-files = [ {nix_string(key_file_path(key_name))} ];\n"
        "    post-build-hook = postBuildHook;\n"
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
