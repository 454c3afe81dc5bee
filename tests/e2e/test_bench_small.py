"""``make bench`` cannot rot: the same script at the small size (4 MB), two rounds, every figure written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.run import FIGURES
from devtools.toolchain import ROOT


def test_small_bench_writes_every_figure_and_the_machine(tmp_path: Path) -> None:
    output = tmp_path / "BENCH.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--size", "small", "--runs", "2", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = output.read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    for figure in FIGURES:
        assert figure.label in rows, f"{figure.label} is missing"
        cells = [cell.strip() for cell in rows[figure.label].strip().strip("|").split("|")]
        assert cells[1] == figure.goal
        numbers = [re.fullmatch("(\\d+\\.\\d\\d)\u00d7", cell) for cell in cells[2:6]]
        assert all(numbers), rows[figure.label]
        low, median, high, first = (float(n[1]) for n in numbers if n)
        assert 0 < low <= median <= high, rows[figure.label]
        assert low <= first <= high, rows[figure.label]
        assert cells[6] in ({"-"} if figure.at_least is None else {"yes", "**no**"})
    machine = re.search(r"- Machine: (.+), (\d+) cores \(`nproc`\), ([\d.]+) GiB memory", text)
    assert machine is not None, text[:600]
    assert "- Closure: 9 input-addressed store paths built by Nix" in text
    assert "The program's no-op preview proposed no change: yes." in text
