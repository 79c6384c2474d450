"""The GPU window (benchmark/device): the bundle, the machine check, and a window that cannot exit 0 on a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.device.bundle import PACKAGES, build, check, torch_minimum  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "benchmark" / "device" / "run_paper.sh"


def _bundle(tmp_path: Path, torch_min: str) -> Path:
    """A bundle without packages (the test interpreter has them) that asks for torch >= ``torch_min``."""
    b = tmp_path / "bundle"
    (b / "site").mkdir(parents=True)
    (b / "requires.json").write_text(json.dumps({"packages": {}, "torch_min": torch_min}))
    return b


def _window(
    bundle: Path, packed: Path, tmp_path: Path, folds: str, time_step: bool = True
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        OUT=str(tmp_path / "out"),
        BUNDLE=str(bundle),
        PACKED=str(packed),
        RUNS=str(tmp_path / "runs" / "mt"),
        PYTHON=sys.executable,
        FOLDS=folds,
        BUDGET_S="1500",
        TIME_STEP="1" if time_step else "0",
    )
    return subprocess.run(["bash", str(SCRIPT), "--dry-run"], env=env, capture_output=True, text=True, timeout=1800)


def test_torch_minimum_reads_the_lower_bounds_without_extras() -> None:
    assert torch_minimum(["numpy>=1.24", "torch>=2.8.0", 'torchio; extra == "all"']) == "2.8.0"
    assert torch_minimum(["torch (>=1.11)", "torch>=2.4"]) == "2.4"
    assert torch_minimum(["torch", "einops"]) == "0"


@pytest.mark.slow
def test_the_bundle_pins_what_is_installed_here_and_states_the_real_torch_minimum(tmp_path: Path) -> None:
    from importlib import metadata

    info = build(tmp_path / "b")
    versions = info["packages"]
    assert isinstance(versions, dict) and set(versions) == set(PACKAGES)
    assert all(versions[p] == metadata.version(p) for p in PACKAGES)
    monai_min = torch_minimum(metadata.distribution("monai").requires or [])
    assert info["torch_min"] == monai_min != "0"  # MONAI's bound is the strictest (1.6.1: torch >= 2.8)
    site = tmp_path / "b" / "site"
    assert (site / "monai" / "__init__.py").is_file()
    assert not (site / "torch").exists() and not (site / "numpy").exists()
    assert not list(site.rglob("*.so")), "the bundle holds only pure-Python files"


def test_the_machine_check_names_a_torch_older_than_the_bundle_needs(tmp_path: Path) -> None:
    problems = check(_bundle(tmp_path, "99.0"))
    assert len(problems) == 1 and "older than 99.0" in problems[0]
    assert check(_bundle(tmp_path / "ok", "2.0")) == []
    assert "requires.json: missing" in check(tmp_path / "nothing")[0]


def test_a_machine_that_fails_the_check_stops_the_window_with_exit_3(tmp_path: Path) -> None:
    r = _window(_bundle(tmp_path, "99.0"), tmp_path / "none.npz", tmp_path, "0")
    assert r.returncode == 3, r.stdout + r.stderr
    status = (tmp_path / "out" / "status.txt").read_text()
    assert status.startswith("FAILED: this machine cannot run the bundle") and "older than 99.0" in status


@pytest.mark.slow
def test_a_failing_fold_makes_the_window_exit_nonzero_and_say_why(
    synthetic_manifest_dir: Path, synthetic_dir: Path, tmp_path: Path
) -> None:
    """Fold 0 trains (paper profile, 128 px pack, 1 epoch of 4 images); fold 9 does not exist and fails."""
    from benchmark.data.packed import pack_dataset

    m, f = synthetic_manifest_dir / "manifest.csv", synthetic_manifest_dir / "folds.csv"
    packed = pack_dataset(m, f, synthetic_dir, 128, tmp_path / "p128.npz")
    r = _window(_bundle(tmp_path, "2.0"), packed, tmp_path, "0 9", time_step=False)
    assert r.returncode == 1, r.stdout + r.stderr
    status = (tmp_path / "out" / "status.txt").read_text().splitlines()
    assert status[0] == "FAILED: 1 step(s) failed" and status[1].startswith("fold 9: exit 2"), status
    assert any(line.startswith("fold 0: done") for line in status), status
    assert json.loads((tmp_path / "out" / "fold9.json").read_text())["exit_status"] == 2
    config = (tmp_path / "runs" / "mt" / "fold0" / "config.yaml").read_text()
    assert "profile: paper" in config and "image_size: 128" in config and "precision: auto" in config


@pytest.mark.slow
@pytest.mark.realdata
def test_the_dry_run_with_the_bundle_make_device_bundle_builds(busi_dir: Path, tmp_path: Path) -> None:
    """CI: the bundle exactly as ``make device-bundle`` builds it (128 px pack), the paper profile, precision auto."""
    venv = Path(sys.executable).parents[1]
    bundle = tmp_path / "bundle"
    make = [
        "make",
        "-s",
        "-o",
        str(venv / ".installed"),
        "device-bundle",
        f"VENV={venv}",
        f"DEVICE_BUNDLE={bundle}",
        f"BUSI_DIR={busi_dir}",
    ]
    mk = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert mk.returncode == 0, mk.stdout + mk.stderr
    r = _window(bundle, bundle / "curated128.npz", tmp_path, "0 1")
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out"
    status = (out / "status.txt").read_text()
    assert status.startswith("ok: no step failed") and "fold 0: done" in status and "fold 1: done" in status
    assert len(list(out.iterdir())) <= 8
    speed = [json.loads(line) for line in (out / "speed.jsonl").read_text().splitlines()]
    assert [s["precision"] for s in speed][0] == "fp32" and all(s["precision_reason"] for s in speed)


def test_speed_prints_fp32_and_bf16_side_by_side_with_the_auto_choice() -> None:
    from click.testing import CliRunner

    from benchmark.cli import main

    r = CliRunner().invoke(main, ["speed", "--models", "segresnet", "--size", "32", "--steps", "1", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert "precision auto on this device: " in r.output and "auto: " in r.output
    row = next(line for line in r.output.splitlines() if line.startswith("| segresnet |") and "x |" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert len(cells) == 4 and float(cells[1]) > 0 and float(cells[2]) > 0 and cells[3].endswith("x")


def test_speed_on_a_cpu_counts_cpu_seconds_and_writes_its_tables_with_the_command(tmp_path: Path) -> None:
    import time

    import torch
    from click.testing import CliRunner

    from benchmark.cli import main
    from benchmark.experiments.speed import clock_of

    # CPU-seconds on a CPU (other processes do not inflate them), wall time around synchronised CUDA steps
    assert clock_of(torch.device("cpu")) is time.process_time and clock_of(torch.device("cuda")) is time.perf_counter
    out = tmp_path / "speed"
    args = ["speed", "--models", "segresnet", "--size", "32", "--steps", "1", "--threads", "1", "--precision", "fp32"]
    r = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (out / "speed.jsonl").read_text().splitlines()]
    assert [(s["model"], s["precision"], s["clock"]) for s in rows] == [("segresnet", "fp32", "cpu-s")]
    md = (out / "speed.md").read_text()
    assert "CPU-seconds of this process" in md and "torch CPU capability" in md and "- commit " in md
    assert "| segresnet |" in md
