"""busi-bench pack / run --packed, and the device script's CPU dry run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.data.packed import PackedInputs, pack_dataset  # noqa: E402
from benchmark.data.provisional import build_provisional  # noqa: E402
from benchmark.errors import BenchError  # noqa: E402
from benchmark.experiments.run import RunInputs  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def packed(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    out = tmp_path_factory.mktemp("packed")
    m, f = build_provisional(synthetic_dir, out / "manifest", k=2)
    return pack_dataset(m, f, synthetic_dir, 64, out / "data64.npz"), m, f, synthetic_dir


def test_packed_samples_equal_the_raw_pipeline(packed) -> None:
    path, m, f, data = packed
    raw, _ = RunInputs.read(m, f, data).samples(64)
    pk = PackedInputs.read(path)
    got, _ = pk.samples(64)
    assert got.keys == raw.keys
    assert np.array_equal(got.images, raw.images) and np.array_equal(got.masks, raw.masks)
    assert np.array_equal(got.labels, raw.labels)
    assert pk.folds.split(0) == RunInputs.read(m, f, data).folds.split(0)
    assert pk.checksums["manifest_sha256"] == RunInputs.read(m, f, data).checksums["manifest_sha256"]


def test_a_damaged_packed_file_is_refused(packed, tmp_path: Path) -> None:
    path = packed[0]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    (tmp_path / "bad.json").write_text(path.with_suffix(".json").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(BenchError, match="SHA-256"):
        PackedInputs.read(bad)


def test_run_from_a_packed_file_says_so_in_its_provenance(packed, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from benchmark.cli import main

    path = packed[0]
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main,
        [
            "run",
            "--packed",
            str(path),
            "--fold",
            "0",
            "--out",
            str(out),
            "--profile",
            "smoke",
            "--image-size",
            "64",
            "--epochs",
            "1",
            "--threads",
            "1",
            "--no-progress",
            "--set",
            "images_per_epoch=8",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    prov = json.loads((out / "fold0" / "metrics.json").read_text(encoding="utf-8"))["provenance"]
    assert prov["inputs"]["packed"] == str(path) and prov["inputs"]["packed_sha256"]
    r = CliRunner().invoke(
        main,
        [
            "run",
            "--packed",
            str(path),
            "--fold",
            "0",
            "--out",
            str(tmp_path / "r2"),
            "--profile",
            "smoke",
            "--image-size",
            "128",
        ],
    )
    assert r.exit_code == 2 and "packed at 64x64" in r.output
