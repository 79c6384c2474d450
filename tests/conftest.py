"""Shared fixtures: the real BUSI folder (skipped when absent; in CI with the data present a skip fails), a synthetic dataset and its scan."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli  # noqa: F401  (re-exported for `from conftest import run_cli`)

REPO = Path(__file__).resolve().parents[1]
BUSI_DIR = Path(os.environ.get("BUSI_DIR", REPO.parent / "shared" / "data" / "BUSI"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    have_busi = (BUSI_DIR / "Dataset_BUSI_with_GT").is_dir()
    skip = pytest.mark.skip(reason=f"real BUSI not found at {BUSI_DIR} (set BUSI_DIR)")
    for item in items:
        if "realdata" in item.keywords and not have_busi:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """In CI (``CI`` set) with the real BUSI present, a skipped ``realdata`` test fails the run, saying why.

    The real-data tests are the only ones that see the published manifest against the real images; a skip there
    (a missing extra, a fixture that could not find something) would otherwise pass CI silently.
    """
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and "realdata" in item.keywords and os.environ.get("CI")):
        return
    if not (BUSI_DIR / "Dataset_BUSI_with_GT").is_dir() or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"realdata test skipped in CI although the real BUSI is at {BUSI_DIR} (CI={os.environ['CI']!r}): {reason}. "
        "A real-data test must run where the data is; fix what made it skip."
    )


@pytest.fixture(scope="session")
def busi_dir() -> Path:
    """The real BUSI dataset (tests using it must also be marked ``realdata``)."""
    if not (BUSI_DIR / "Dataset_BUSI_with_GT").is_dir():
        pytest.skip(f"real BUSI not found at {BUSI_DIR}")
    return BUSI_DIR


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic BUSI-layout dataset with planted duplicates (``planted.csv`` beside it). Read-only."""
    from busi_curate.data.synthetic import make_synthetic_busi

    out = tmp_path_factory.mktemp("synthetic")
    make_synthetic_busi(out, seed=0)
    return out


@pytest.fixture(scope="session")
def synthetic_scan_dir(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scan of :func:`synthetic_dir` at 64 px (read-only: copy it before writing a journal into it)."""
    from busi_curate.scan.run import ScanSettings, run_scan

    out = tmp_path_factory.mktemp("synthetic-scan")
    run_scan(synthetic_dir, out, ScanSettings(size=64))
    return out


@pytest.fixture()
def scan_copy(synthetic_scan_dir: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the synthetic scan folder."""
    import shutil

    dst = tmp_path / "scan"
    shutil.copytree(synthetic_scan_dir, dst)
    return dst


@pytest.fixture(scope="session")
def synthetic_manifest_dir(
    synthetic_dir: Path, synthetic_scan_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A manifest folder exported from the synthetic scan after reviewing its planted pairs. Read-only."""
    import shutil

    from helpers import review_planted

    from busi_curate.publish.export import export_manifest

    scan = tmp_path_factory.mktemp("synthetic-manifest") / "scan"
    shutil.copytree(synthetic_scan_dir, scan)
    review_planted(scan, synthetic_dir)
    out = scan.parent / "m"
    export_manifest(scan, out)
    return out
