"""The dev helpers must never touch the project's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import ROOT, Toolchain


def test_a_stack_kept_elsewhere_may_not_take_a_committed_stack_name(tmp_path: Path) -> None:
    """`stack init` writes Pulumi.<stack>.yaml beside Pulumi.yaml; for 'homelab' that is the example."""
    stack = PulumiStack(
        Toolchain(tmp_path / "no-tools"), tmp_path, "homelab", config_file=tmp_path / "Pulumi.homelab.yaml"
    )
    with pytest.raises(ValueError, match="needs another name"):
        stack.init()
    assert (ROOT / "Pulumi.homelab.yaml").exists()
    assert not (tmp_path / "backend").exists()
