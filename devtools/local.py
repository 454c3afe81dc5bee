"""``make local-up|local-down|local-clean|local-env``: the cache on a MinIO of your own, on loopback.

Everything lives under ``.local/`` (git-ignored): MinIO's drives and generated root credentials, the
Pulumi file backend and its passphrase. The stack is called ``local``; its config is
``Pulumi.local.yaml`` (git-ignored too), so plain ``pulumi`` commands work after ``make local-env``.

Two switches, chosen at the first ``up`` and kept until ``make local-clean``:

- ``--state minio`` (``make local-up STATE=minio``): the stack's state in bucket ``pulumi-state`` of the
  same MinIO, through Pulumi's S3 backend, with a user that may touch only that bucket
  (``devtools.state_on_minio``). The passphrase stays in ``.local/pulumi/``.
- ``--layout distributed`` (``make local-up LAYOUT=distributed``): four MinIO nodes, one drive each, in
  network namespace ``nixcache-local`` at 10.254.0.1:9201-9204 (``devtools.distributed_minio``; root and
  ``ip`` needed). Everything that talks to it runs inside: ``ip netns exec nixcache-local …``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.distributed_minio import (
    ADDRESS,
    BASE_PORT,
    DistributedMinio,
    NamespaceError,
    NetworkNamespace,
    namespace_unavailable,
)
from devtools.minio_server import MinioServer, RootCredentials, free_port
from devtools.pulumi_stack import PulumiStack
from devtools.state_on_minio import (
    STATE_BUCKET,
    STATE_USER,
    StateBackend,
    backend_url,
    ensure_state_backend,
)
from devtools.toolchain import ROOT, Toolchain, ensure_tools

LOCAL = ROOT / ".local"
STACK = "local"
SETTINGS = LOCAL / "minio.json"
#: The switches of the first ``up`` (absent: the default, a single MinIO and a file backend).
CHOICE = LOCAL / "choice.json"
DISTRIBUTED_SETTINGS = LOCAL / "distributed.json"
STATE_SETTINGS = LOCAL / "state-backend.json"
NAMESPACE = "nixcache-local"
LAYOUTS = ("single", "distributed")
STATES = ("file", "minio")


@dataclass(frozen=True)
class Choice:
    layout: str = "single"
    state: str = "file"

    @property
    def is_default(self) -> bool:
        return self == Choice()


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def private_dir(path: Path) -> None:
    """Make ``path`` (mode 0700, also when it exists): it holds the root password, the stack's
    passphrase and MinIO's drives, whose IAM files keep most of each user's secret in clear."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def _saved_secret(path: Path, make: dict[str, Any]) -> dict[str, Any]:
    """Settings with secrets, made the first time and kept since (mode 0600)."""
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        return saved
    private_dir(LOCAL)
    path.touch(mode=0o600)
    path.write_text(json.dumps(make))
    return make


def _current_choice() -> Choice | None:
    """What the local cache was set up with; None when there is none yet."""
    if CHOICE.exists():
        return Choice(**json.loads(CHOICE.read_text()))
    if SETTINGS.exists():
        return Choice()
    return None


def _choose(layout: str | None, state: str | None) -> Choice:
    """The switches given now, checked against those the local cache was made with."""
    current = _current_choice()
    if current is None:
        return Choice(layout or "single", state or "file")
    asked = Choice(layout or current.layout, state or current.state)
    if asked != current:
        sys.exit(
            f"the local cache was made with LAYOUT={current.layout} STATE={current.state}; "
            f"`make local-clean` first to start over with LAYOUT={asked.layout} STATE={asked.state}"
        )
    return current


def _cluster(toolchain: Toolchain) -> DistributedMinio:
    """The local four-node MinIO in namespace ``nixcache-local``, root credentials kept in .local/."""
    credentials = RootCredentials.generate()
    saved = _saved_secret(DISTRIBUTED_SETTINGS, {"user": credentials.user, "password": credentials.password})
    return DistributedMinio(
        minio_binary=toolchain.tool("minio"),
        home=LOCAL / "distributed",
        credentials=RootCredentials(saved["user"], saved["password"]),
        namespace=NetworkNamespace(NAMESPACE),
    )


def _server(toolchain: Toolchain, choice: Choice) -> MinioServer:
    """The MinIO the stack and its clients talk to (node 1 of the distributed layout)."""
    return _cluster(toolchain).node(1) if choice.layout == "distributed" else _minio(toolchain)


def _state_backend(server: MinioServer) -> StateBackend:
    """Make or keep the state bucket and user (admin API), with the secret kept in .local/."""
    saved = _saved_secret(STATE_SETTINGS, {"secret": secrets.token_urlsafe(30)})
    return ensure_state_backend(server, secret_key=saved["secret"])


def _saved_backend(server: MinioServer) -> StateBackend:
    """The state backend as ``up`` made it, without asking MinIO."""
    secret = json.loads(STATE_SETTINGS.read_text())["secret"]
    return StateBackend(backend_url(server.endpoint_url), STATE_BUCKET, STATE_USER, secret)


def _minio(toolchain: Toolchain) -> MinioServer:
    """The local server, with the port and root credentials chosen the first time and kept since."""
    credentials = RootCredentials.generate()
    chosen = {"port": free_port(), "console_port": free_port(), "user": credentials.user}
    saved = _saved_secret(SETTINGS, {**chosen, "password": credentials.password})
    return MinioServer(
        minio_binary=toolchain.tool("minio"),
        home=LOCAL / "minio",
        port=saved["port"],
        console_port=saved["console_port"],
        credentials=RootCredentials(saved["user"], saved["password"]),
    )


def _stack(
    toolchain: Toolchain, choice: Choice = Choice(), backend: StateBackend | None = None
) -> PulumiStack:
    return PulumiStack(
        toolchain=toolchain,
        state_dir=LOCAL / "pulumi",
        stack=STACK,
        command_prefix=NetworkNamespace(NAMESPACE).prefix if choice.layout == "distributed" else (),
        backend=backend.url if backend else None,
        extra_env=backend.env() if backend else {},
    )


def _start_cluster(toolchain: Toolchain) -> MinioServer:
    if reason := namespace_unavailable():
        sys.exit(f"LAYOUT=distributed: {reason}")
    cluster = _cluster(toolchain)
    first, last = cluster.node(1), cluster.node(cluster.nodes)
    stopped = [str(n) for n in range(1, cluster.nodes + 1) if n not in cluster.running()]
    if stopped:
        say(
            f"starting MinIO node(s) {', '.join(stopped)} of {cluster.nodes} in network namespace "
            f"{NAMESPACE} ({first.host}:{first.port}-{last.port}, one drive each under {cluster.home})"
        )
    else:
        say(f"MinIO's {cluster.nodes} nodes already running in network namespace {NAMESPACE}")
    try:
        cluster.start()
    except NamespaceError as error:
        sys.exit(f"LAYOUT=distributed: {error}")
    return first


def up(layout: str | None = None, state: str | None = None) -> None:
    private_dir(LOCAL)  # also a .local/ made before it was private
    choice = _choose(layout, state)
    toolchain = ensure_tools()
    if choice.layout == "distributed":
        server = _start_cluster(toolchain)
    else:
        server = _minio(toolchain)
        if server.is_running():
            say(f"MinIO already running on {server.endpoint_url}")
        else:
            say(
                f"starting MinIO on {server.endpoint_url} "
                f"({server.drives} erasure-coded drives in {server.home})"
            )
            server.start()
    if not choice.is_default and not CHOICE.exists():
        CHOICE.write_text(json.dumps({"layout": choice.layout, "state": choice.state}))
    backend = None
    if choice.state == "minio":
        say(f"state in bucket {STATE_BUCKET!r} of {server.endpoint_url}, its own user {STATE_USER!r}")
        backend = _state_backend(server)
    stack = _stack(toolchain, choice, backend)
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
    if choice.state == "minio":
        print(f"State: {stack.backend_url} (keys in .local/state-backend.json; `make -s local-env` has them)")
    if choice.layout == "distributed":
        print(_distributed_help())


def _distributed_help() -> str:
    run = f"ip netns exec {NAMESPACE}"
    nodes = LOCAL.relative_to(ROOT) / "distributed"
    commands = [
        (f"{run} pulumi preview", "anything that talks to MinIO: pulumi, mc, aws, nix"),
        (f"{run} mc admin info local", "nodes and drives online, EC:2"),
        (f"kill $(cat {nodes}/node4/minio.pid)", "one node down: reads and writes still work"),
        (f"kill $(cat {nodes}/node3/minio.pid)", "two down: reads only, `pulumi up` fails"),
        ("make local-up", "starts what is down, then `pulumi up`"),
    ]
    width = max(len(command) for command, _ in commands) + 2
    lines = "\n".join(f"  {command.ljust(width)}# {what}" for command, what in commands)
    return (
        f"\nDistributed MinIO: 4 nodes at http://{ADDRESS}:{BASE_PORT}..{BASE_PORT + 3}, reachable only "
        f'inside network\nnamespace {NAMESPACE}. After `eval "$(make -s local-env)"`:\n{lines}'
    )


def down() -> None:
    choice = _current_choice() or Choice()
    toolchain = ensure_tools()
    if choice.layout == "distributed":
        cluster = _cluster(toolchain)
        if cluster.running() or cluster.namespace.exists():
            cluster.stop()
            say(f"MinIO's nodes stopped and namespace {NAMESPACE} removed; data stays under .local/")
        else:
            say("MinIO is not running")
        return
    server = _minio(toolchain)
    if server.is_running():
        server.stop()
        say("MinIO stopped; its data stays under .local/ until `make local-clean`")
    else:
        say("MinIO is not running")


def clean() -> None:
    if SETTINGS.exists() or DISTRIBUTED_SETTINGS.exists():
        down()
    shutil.rmtree(LOCAL, ignore_errors=True)
    (ROOT / f"Pulumi.{STACK}.yaml").unlink(missing_ok=True)
    say("removed .local/ and Pulumi.local.yaml")


def env() -> None:
    """``export`` lines for a shell: ``eval "$(make -s local-env)"``."""
    choice = _current_choice()
    if choice is None:
        sys.exit("no local cache yet: run `make local-up` first")
    toolchain = ensure_tools()
    server = _server(toolchain, choice)
    stack = _stack(toolchain, choice)
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
    if choice.state == "minio":
        # Pulumi reads the state backend's keys from AWS_*: the state user's here; root stays in MINIO_ROOT_*.
        backend = _saved_backend(server)
        variables.update({"PULUMI_BACKEND_URL": backend.url, **backend.env()})
    if choice.layout == "distributed":
        print(f"# MinIO is reachable only inside its namespace: ip netns exec {NAMESPACE} <command>")
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.local", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "clean", "env"])
    parser.add_argument("--layout", choices=LAYOUTS, help="up: one MinIO (default) or 4 nodes in a netns")
    parser.add_argument("--state", choices=STATES, help="up: a file backend (default) or a MinIO bucket")
    args = parser.parse_args(argv)
    if args.command != "up" and (args.layout or args.state):
        parser.error("--layout and --state go with `up`; down, clean and env follow what up chose")
    if args.command == "up":
        up(args.layout, args.state)
    else:
        {"down": down, "clean": clean, "env": env}[args.command]()


if __name__ == "__main__":
    main()
