"""The cache users make by hand with ``mc``, following the usual recipe, for the adoption tests.

Command by command, with the real ``mc``: bucket, writer user, a writer policy that carries the
recipe's ``Principal`` (MinIO drops it), the canned ``download`` anonymous policy (which also allows
listing), ``nix-cache-info``, one bucket-wide expiry rule (which will one day delete
``nix-cache-info``), and whatever objects the test brings. The admin credentials reach ``mc`` through
``MC_HOST_<alias>`` only, and ``mc`` keeps its configuration under ``workdir``, never in ``~/.mc``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devtools.minio_server import MinioServer

ALIAS = "homelab"
BUCKET = "nix-cache"
WRITER = "nixbuilder"
#: A throwaway test secret; on ``mc``'s argv, as in the recipe. Hex, so it never starts with "-".
WRITER_SECRET = "5e1f0c7a9b3d42e68f10a2c4b6d8e0f1a3c5e7d9"
POLICY_NAME = "nix-cache-write"
EXPIRE_DAYS = 30
CACHE_INFO = b"StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n"
WRITER_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
    "s3:ListBucketMultipartUploads",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
]


class ManualRecipeError(RuntimeError):
    """One step of the recipe failed; the message names the ``mc`` command (secrets masked)."""


def writer_policy_with_principal() -> dict[str, Any]:
    """The recipe's writer policy, copied from a bucket-policy example: hence the ``Principal``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NixCacheWrite",
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": WRITER_ACTIONS,
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }


def build_manual_recipe_cache(mc: str, server: MinioServer, workdir: Path, objects: dict[str, bytes]) -> None:
    """Make ``BUCKET`` on ``server`` exactly as the hand-made recipe does, then upload ``objects``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_dir = workdir / "mc-config"
    env = _mc_env(server, config_dir)
    target = f"{ALIAS}/{BUCKET}"
    policy_file = workdir / f"{POLICY_NAME}.json"
    policy_file.write_text(json.dumps(writer_policy_with_principal(), indent=2) + "\n")

    run_mc(mc, env, "mb", target)
    run_mc(mc, env, "admin", "user", "add", ALIAS, WRITER, WRITER_SECRET)
    run_mc(mc, env, "admin", "policy", "create", ALIAS, POLICY_NAME, str(policy_file))
    run_mc(mc, env, "admin", "policy", "attach", ALIAS, POLICY_NAME, "--user", WRITER)
    run_mc(mc, env, "anonymous", "set", "download", target)
    run_mc(mc, env, "pipe", f"{target}/nix-cache-info", stdin=CACHE_INFO)
    run_mc(mc, env, "ilm", "rule", "add", "--expire-days", str(EXPIRE_DAYS), target)
    for key, body in objects.items():
        run_mc(mc, env, "pipe", f"{target}/{key}", stdin=body)


def mc_env(server: MinioServer, workdir: Path) -> dict[str, str]:
    """The environment :func:`build_manual_recipe_cache` gives ``mc``, for a test's own ``mc`` calls."""
    return _mc_env(server, workdir / "mc-config")


def _mc_env(server: MinioServer, config_dir: Path) -> dict[str, str]:
    user = quote(server.credentials.user, safe="")
    password = quote(server.credentials.password, safe="")
    host = f"{'https' if server.secure else 'http'}://{user}:{password}@{server.address}"
    if server.ca_file is not None:
        # mc trusts the CAs in <config dir>/certs/CAs/ besides the system's.
        cas = config_dir / "certs" / "CAs"
        cas.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(server.ca_file, cas / "nix-cache-test-ca.crt")
    config_dir.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "MC_CONFIG_DIR": str(config_dir), f"MC_HOST_{ALIAS}": host}


def run_mc(mc: str, env: dict[str, str], *args: str, stdin: bytes | None = None) -> str:
    """One ``mc`` command with ``env`` (see :func:`mc_env`); its stdout, or a ManualRecipeError."""
    result = subprocess.run(
        [mc, "--quiet", "--no-color", *args], env=env, input=stdin, capture_output=True, check=False
    )
    if result.returncode != 0:
        shown = " ".join("***" if arg == WRITER_SECRET else arg for arg in args)
        detail = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise ManualRecipeError(f"`mc {shown}` failed (exit {result.returncode}): {detail}")
    return result.stdout.decode(errors="replace")
