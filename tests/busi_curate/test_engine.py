"""The engine registry (busi_curate.engine): blocks mapped in order, one clear error for a missing Ray, and the
scan and review --auto writing the same bytes on a local Ray instance as on the local engine (issue 21 item 5)."""

from __future__ import annotations

import json
import operator
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli, run_cli_captured

from busi_curate.engine import ENGINES, LocalEngine, open_engine
from busi_curate.errors import CurateError, MissingExtraError

#: scan.json keys that may differ between engines (the clock and what ran the work)
TIMING_KEYS = {"engine", "pairs_per_s", "timings_s"}


def test_local_engine_maps_in_order_with_progress() -> None:
    ticks: list[int] = []
    with open_engine("local") as engine:
        assert isinstance(engine, LocalEngine)
        out = list(engine.map(operator.mul, [1, 2, 3], shared=10, progress=ticks.append))
        shared = engine.share(2)
        again = list(engine.map(operator.mul, [4, 5], shared=shared))
    assert out == [10, 20, 30] and ticks == [1, 1, 1] and again == [8, 10]


def test_map_items_joins_blocks_in_order() -> None:
    ticks: list[int] = []
    items = list(range(1000))
    out = LocalEngine().map_items(_doubled, items, 64, shared=None, progress=ticks.append)
    assert out == [2 * i for i in items] and ticks == [64] * 15 + [40]
    assert LocalEngine().map_items(_doubled, [], 64, shared=None) == []


def _doubled(_: None, block: list[int]) -> list[int]:
    return [2 * i for i in block]


def test_open_engine_refuses_unknown_names_and_a_local_address() -> None:
    assert set(ENGINES) == {"local", "ray"}
    with pytest.raises(CurateError, match="unknown engine 'spark'"):
        open_engine("spark")
    with pytest.raises(CurateError, match="--address is for --engine ray"):
        open_engine("local", address="10.0.0.1:6379")


def test_missing_ray_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, synthetic_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    with pytest.raises(MissingExtraError, match="needs Ray"):
        open_engine("ray")
    code, _, err = run_cli_captured(
        ["scan", str(synthetic_dir), "--out", str(tmp_path / "s"), "--engine", "ray"], capsys
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--engine ray needs Ray" in lines[0], err
    assert not (tmp_path / "s" / "scan.json").exists()


def test_review_engine_needs_auto(synthetic_scan_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli_captured(["review", str(synthetic_scan_dir), "--no-browser", "--engine", "ray"], capsys)
    assert code == 2 and "use it with --auto" in err


# ---------------------------------------------------------------------------------------------- on a Ray instance
@pytest.fixture(scope="module")
def ray_instance() -> Iterator[object]:
    """A local Ray instance of 2 CPUs for this module; the engines join it (and leave it running)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def scale_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 distinct synthetic frames with planted copies and neighbouring frames (seed 5)."""
    from busi_curate.studies.scale_data import write_scale_dataset

    out = tmp_path_factory.mktemp("scale80")
    write_scale_dataset(out, 80, seed=5, workers=1)
    return out


def test_ray_engine_keeps_block_order_beyond_its_window(ray_instance: object) -> None:
    ticks: list[int] = []
    with open_engine("ray") as engine:
        assert engine.workers == 2
        blocks = list(range(37))  # more than the 4 x workers tasks kept in flight
        assert list(engine.map(operator.mul, blocks, shared=3, progress=ticks.append)) == [3 * b for b in blocks]
    assert len(ticks) == 37


def test_ray_task_error_is_the_project_error(ray_instance: object, tmp_path: Path) -> None:
    """A bad image found by a task is the same DatasetError (one line, exit 2) as on the local engine."""
    from busi_curate.data.dataset import load_dataset

    root = tmp_path / "Dataset_BUSI_with_GT" / "benign"
    root.mkdir(parents=True)
    (root / "benign (1).png").write_bytes(b"not a png")
    for name in ("local", "ray"):
        with open_engine(name) as engine, pytest.raises(CurateError, match=r"benign \(1\)\.png"):
            load_dataset(tmp_path, engine=engine)


def _same_files(a: Path, b: Path) -> None:
    """Every file of scan folder ``a`` equals ``b``'s byte for byte; scan.json equal but for timing and engine."""
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in names:
        if name == Path("scan.json"):
            ja, jb = (json.loads((d / name).read_text()) for d in (a, b))
            assert {k: v for k, v in ja.items() if k not in TIMING_KEYS} == {
                k: v for k, v in jb.items() if k not in TIMING_KEYS
            }
            assert ja["engine"]["name"] == "local" and jb["engine"]["name"] == "ray"
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode", [["--mode", "exhaustive"], ["--mode", "pruned", "--prune-k", "8"]], ids=["exhaustive", "pruned"]
)
def test_scan_and_review_auto_identical_on_ray(
    ray_instance: object, scale_dir: Path, tmp_path: Path, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import busi_curate.review.journal as journal
    import busi_curate.scan.blocks as blocks

    monkeypatch.setattr(journal, "now", lambda: "2026-12-07T12:00:00Z")  # the journal's clock, same for both
    out = {}
    for engine in ("local", "ray"):
        out[engine] = tmp_path / engine
        argv = ["scan", str(scale_dir), "--out", str(out[engine]), "--size", "64", "--quiet", *mode]
        # the local scan scores its pairs in one tile (all images prepared at once), Ray's in tiles of 16 images
        monkeypatch.setattr(blocks, "TILE_PIXELS", 16 * 64 * 64 if engine == "ray" else blocks.TILE_PIXELS)
        assert run_cli([*argv, "--engine", engine]) == 0
    _same_files(out["local"], out["ray"])
    for engine in ("local", "ray"):
        assert run_cli(["review", str(out[engine]), "--auto", "--no-browser", "--quiet", "--engine", engine]) == 0
    journal_text = (out["local"] / "decisions.csv").read_text()
    assert journal_text.count("\n") > 5 and ",auto," in journal_text  # the assistant decided pairs
    _same_files(out["local"], out["ray"])  # decisions.csv, extra pairs, features cache, assessments
