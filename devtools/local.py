"""``make local-up|local-down|local-clean|local-env``: the cache on a MinIO of your own, on loopback.

Everything lives under ``.local/`` (git-ignored): MinIO's drives and generated root credentials, the
Pulumi file backend and its passphrase. The stack is called ``local``; its config is
``Pulumi.local.yaml`` (git-ignored too), so plain ``pulumi`` commands work after ``make local-env``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys

from devtools.minio_server import MinioServer, RootCredentials, free_port
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import ROOT, Toolchain, ensure_tools

LOCAL = ROOT / ".local"
STACK = "local"
SETTINGS = LOCAL / "minio.json"


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _minio(toolchain: Toolchain) -> MinioServer:
    """The local server, with the port and root credentials chosen the first time and kept since."""
    if SETTINGS.exists():
        saved = json.loads(SETTINGS.read_text())
    else:
        credentials = RootCredentials.generate()
        saved = {
            "port": free_port(),
            "console_port": free_port(),
            "user": credentials.user,
            "password": credentials.password,
        }
        LOCAL.mkdir(exist_ok=True)
        SETTINGS.touch(mode=0o600)
        SETTINGS.write_text(json.dumps(saved))
    return MinioServer(
        minio_binary=toolchain.tool("minio"),
        home=LOCAL / "minio",
        port=saved["port"],
        console_port=saved["console_port"],
        credentials=RootCredentials(saved["user"], saved["password"]),
    )


def _stack(toolchain: Toolchain) -> PulumiStack:
    return PulumiStack(toolchain=toolchain, state_dir=LOCAL / "pulumi", stack=STACK)


def up() -> None:
    toolchain = ensure_tools()
    server = _minio(toolchain)
    if server.is_running():
        say(f"MinIO already running on {server.endpoint_url}")
    else:
        say(
            f"starting MinIO on {server.endpoint_url} ({server.drives} erasure-coded drives in {server.home})"
        )
        server.start()
    stack = _stack(toolchain)
    stack.init()
    stack.use_minio(server)
    say("pulumi up (stack 'local')")
    result = stack.up(check=False)
    print(result.stdout, result.stderr, sep="", file=sys.stderr)
    if result.returncode != 0:
        sys.exit(
            f"pulumi up failed (exit {result.returncode}); MinIO keeps running: `make local-down` stops it"
        )
    outputs = stack.outputs()
    print(f"\nSubstituter URL: {outputs['substituterUrl']}")
    print(f"Public key:      {outputs['publicKey']}")
    print("\nNixOS module (pulumi stack output nixosModule):\n")
    print(outputs["nixosModule"])
    print('Secrets: `eval "$(make -s local-env)"`, then `pulumi stack output --show-secrets`.')


def down() -> None:
    toolchain = ensure_tools()
    server = _minio(toolchain)
    if server.is_running():
        server.stop()
        say("MinIO stopped; its data stays under .local/ until `make local-clean`")
    else:
        say("MinIO is not running")


def clean() -> None:
    if SETTINGS.exists():
        down()
    shutil.rmtree(LOCAL, ignore_errors=True)
    (ROOT / f"Pulumi.{STACK}.yaml").unlink(missing_ok=True)
    say("removed .local/ and Pulumi.local.yaml")


def env() -> None:
    """``export`` lines for a shell: ``eval "$(make -s local-env)"``."""
    if not SETTINGS.exists():
        sys.exit("no local cache yet: run `make local-up` first")
    toolchain = ensure_tools()
    server = _minio(toolchain)
    stack = _stack(toolchain)
    variables = {
        **toolchain.offline_env(),
        "PULUMI_BACKEND_URL": stack.backend_url,
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(stack.passphrase_file),
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.credentials.user,
        "AWS_SECRET_ACCESS_KEY": server.credentials.password,
        "MINIO_ROOT_USER": server.credentials.user,
        "MINIO_ROOT_PASSWORD": server.credentials.password,
        "MC_HOST_local": f"http://{server.credentials.user}:{server.credentials.password}@{server.address}",
    }
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.local", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "clean", "env"])
    command = parser.parse_args(argv).command
    {"up": up, "down": down, "clean": clean, "env": env}[command]()


if __name__ == "__main__":
    main()
