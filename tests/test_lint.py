"""The code keeps the project's lint rules (pyproject.toml [tool.ruff]): pyflakes' real bugs (undefined names, unused
imports and variables), bugbear, sorted imports, 120 columns, timezone-aware datetimes, no bare excepts."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
