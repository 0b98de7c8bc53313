"""The code type-checks under the project's mypy settings (pyproject.toml [tool.mypy]: django-stubs' and
djangorestframework-stubs' plugins, with the models and settings of config.settings.test)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_nothing():
    mypy = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(mypy), "--no-error-summary", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
