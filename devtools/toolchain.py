"""The pinned tools (Pulumi CLI and Python host, MinIO, mc), built once by ``tools/ensure-tools.sh``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Toolchain:
    cache_dir: Path

    @property
    def bin_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def pulumi_home(self) -> Path:
        return self.cache_dir / "pulumi-home"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def offline_env(self) -> dict[str, str]:
        """Variables that keep the Pulumi CLI off the network: no plugin downloads, no update check."""
        return {
            "PATH": os.pathsep.join([str(self.bin_dir), str(ROOT / ".venv" / "bin"), os.environ["PATH"]]),
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
        }


def ensure_tools() -> Toolchain:
    """Build the tools if this machine has not yet (minutes, once), else find them (seconds)."""
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "ensure-tools.sh")],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        check=True,
    )
    return Toolchain(Path(result.stdout.strip().splitlines()[-1]))
