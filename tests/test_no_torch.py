"""The curation half works without torch; the torch backend and busi-bench say what is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['monai'] = None; sys.modules['segmentation_models_pytorch'] = None; "


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK + code], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_demo_runs_without_torch(tmp_path):
    r = _run("from busi_curate.cli import main; main(['demo', '--out', 'demo', '--size', '64'])", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "planted duplicates ranked first" in r.stdout


def test_torch_backend_without_torch_is_a_clear_error(tmp_path):
    r = _run(
        "from busi_curate.cli import main; main(['demo', '--out', 'demo', '--size', '64', '--backend', 'torch'])",
        tmp_path,
    )
    assert r.returncode == 2
    assert "[bench]" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("argv", [["speed"], ["models"], ["pack", "a", "b", "c", "--out", "x.npz"]])
def test_busi_bench_without_torch_is_a_clear_error(tmp_path, argv):
    for name in ("a", "b"):
        (tmp_path / name).write_text("x")
    (tmp_path / "c").mkdir()
    r = _run(f"from benchmark.cli import main; main({argv!r})", tmp_path)
    assert r.returncode == 2, r.stderr
    assert "[bench]" in r.stderr and "Traceback" not in r.stderr


def test_the_python_api_imports_without_torch(tmp_path):
    r = _run("import busi_curate; print(busi_curate.load_split.__name__, busi_curate.run_scan.__name__)", tmp_path)
    assert r.returncode == 0 and "load_split run_scan" in r.stdout, r.stderr
