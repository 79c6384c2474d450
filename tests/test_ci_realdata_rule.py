"""The CI rule for real-data tests (tests/conftest.py): where the real BUSI is present and ``CI`` is set (``.ci/run``
runs with ``CI=true``), a skipped ``realdata`` test fails the run with a message saying why; elsewhere it stays a
skip. Checked by running the real ``tests/conftest.py`` over a tiny test file in a subprocess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

TINY = """
import pytest

@pytest.mark.realdata
def test_realdata_that_skips():
    pytest.skip("an optional library is missing")

@pytest.mark.realdata
def test_realdata_that_runs(busi_dir):
    assert (busi_dir / "Dataset_BUSI_with_GT").is_dir()

def test_plain_skip():
    pytest.skip("not a real-data test")
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    d = tmp_path / "suite"
    d.mkdir()
    shutil.copy(TESTS / "conftest.py", d / "conftest.py")
    shutil.copy(TESTS / "helpers.py", d / "helpers.py")
    (d / "test_tiny.py").write_text(TINY)
    (d / "pytest.ini").write_text("[pytest]\nmarkers =\n    realdata: needs the real BUSI\n")
    return d


def _run(suite: Path, ci: str | None, busi: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BUSI_DIR", "PYTEST_ADDOPTS")}
    env.update(PYTHONPATH=str(REPO), BUSI_DIR=str(busi), PYTHONDONTWRITEBYTECODE="1")
    if ci is not None:
        env["CI"] = ci
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", "-c", str(suite / "pytest.ini")]
    proc = subprocess.run([*cmd, str(suite)], cwd=suite, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _fake_busi(tmp_path: Path) -> Path:
    busi = tmp_path / "BUSI"
    (busi / "Dataset_BUSI_with_GT").mkdir(parents=True)
    return busi


def test_in_ci_with_the_data_a_skipped_realdata_test_fails(tiny: Path, tmp_path: Path) -> None:
    code, out = _run(tiny, "true", _fake_busi(tmp_path))
    assert code == 1, out
    assert "1 failed, 1 passed, 1 skipped" in out
    assert "FAILED" in out and "test_realdata_that_skips" in out
    assert "realdata test skipped in CI although the real BUSI is at" in out
    assert "an optional library is missing" in out  # the skip's own reason is kept


def test_outside_ci_the_skip_stays_a_skip(tiny: Path, tmp_path: Path) -> None:
    code, out = _run(tiny, None, _fake_busi(tmp_path))
    assert code == 0, out
    assert "1 passed, 2 skipped" in out


def test_in_ci_without_the_data_realdata_tests_skip(tiny: Path, tmp_path: Path) -> None:
    code, out = _run(tiny, "true", tmp_path / "no-such-folder")
    assert code == 0, out
    assert "3 skipped" in out and "real BUSI not found" in out
