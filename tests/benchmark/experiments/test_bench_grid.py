"""busi-bench grid: parsing, skip finished / resume unfinished jobs, combine, status, and a local Ray instance."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.data.provisional import build_provisional  # noqa: E402
from benchmark.errors import ConfigError  # noqa: E402
from benchmark.experiments.grid import (  # noqa: E402
    STATUS_DONE,
    STATUS_PARTIAL,
    STATUS_PENDING,
    job_status,
    jobs,
    load_grid,
    run_local,
)

TINY = "{image_size: 32, epochs: 2, subset: 3, images_per_epoch: 8, batch_size: 4, lr: 0.001, eval_batch_size: 16, device: cpu}"


def _grid(tmp_path: Path, manifest: Path, folds: Path, data: Path, body: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(
        f"name: test\ndefaults:\n  profile: smoke\n  manifest: {manifest}\n  folds: {folds}\n  data: {data}\n"
        f"  fold: [0, 1]\n{body}",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def k2(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    m, f = build_provisional(synthetic_dir, tmp_path_factory.mktemp("k2"), k=2)
    return m, f, synthetic_dir


def _runs_body() -> str:
    import yaml

    tiny = yaml.safe_load(TINY)
    lines = ["runs:"]
    for name, task in (("seg", "seg"), ("cls", "cls")):
        lines.append(f"  - name: {name}")
        lines.append(f"    task: {task}")
        lines += [f"    {k}: {v}" for k, v in tiny.items()]
    lines += ["combine:", "  - {name: both, seg: seg, cls: cls}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "body,match",
    [
        ("runs:\n  - {name: a, epochz: 3}\n", "unknown setting"),
        ("runs:\n  - {name: a}\n  - {name: a}\n", "used twice"),
        ("runs:\n  - {name: a, task: banana}\n", "task must be one of"),
        ("runs:\n  - {name: a}\ncombine:\n  - {name: c, seg: a, cls: nope}\n", "not a run of this grid"),
        ("runs: []\n", "non-empty 'runs'"),
        ("runs:\n  - {name: a, fold: zero}\n", "'fold' must be"),
    ],
)
def test_bad_grid_files_are_config_errors(tmp_path: Path, k2, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_grid(_grid(tmp_path, *k2, body))


def test_grid_skips_finished_and_resumes_unfinished_jobs(tmp_path: Path, k2) -> None:
    path = _grid(tmp_path, *k2, _runs_body())
    assert [j.label for j in jobs(load_grid(path))] == ["seg/fold0", "seg/fold1", "cls/fold0", "cls/fold1"]
    # trained on one fold per run (CI time: each job is a child process that imports torch)
    grid = load_grid(path, overrides={"fold": [0]})
    out = tmp_path / "runs"
    assert [j.label for j in jobs(grid)] == ["seg/fold0", "cls/fold0"]
    assert all(job_status(j, out)[0] == STATUS_PENDING for j in jobs(grid))
    assert run_local(grid, out, workers=2, nice=0, echo=lambda m: None) == 0
    assert all(job_status(j, out)[0] == STATUS_DONE for j in jobs(grid))
    assert (out / "both" / "fold0" / "metrics.json").is_file()  # the combine ran once both runs were done
    before = (out / "seg" / "fold0" / "metrics.json").stat().st_mtime_ns
    # a finished grid is skipped job by job: nothing is retrained
    messages: list[str] = []
    assert run_local(grid, out, workers=1, nice=0, echo=messages.append) == 0
    assert "0 job(s) to run" in messages[0]
    assert (out / "seg" / "fold0" / "metrics.json").stat().st_mtime_ns == before
    # an unfinished job (checkpoint, no metrics) is resumed, not restarted
    (out / "cls" / "fold0" / "metrics.json").unlink()
    job = [j for j in jobs(grid) if j.label == "cls/fold0"][0]
    assert job_status(job, out)[0] == STATUS_PARTIAL
    assert run_local(grid, out, workers=1, nice=0, only=["cls"], echo=lambda m: None) == 0
    assert job_status(job, out)[0] == STATUS_DONE
    assert "resumed from" in (out / "cls" / "fold0" / "train.log").read_text(encoding="utf-8")


def test_grid_status_command(tmp_path: Path, k2) -> None:
    from click.testing import CliRunner

    from benchmark.cli import main

    path = _grid(tmp_path, *k2, _runs_body())
    r = CliRunner().invoke(main, ["grid", str(path), "--out", str(tmp_path / "runs"), "--status"])
    assert r.exit_code == 0, r.output
    assert "| seg |" in r.output and "0 of 4 fold jobs done" in r.output


REPO = Path(__file__).resolve().parents[3]


def test_shipped_grids_parse() -> None:
    for name in ("paper.yaml", "smoke.yaml", "cpu.yaml"):
        grid = load_grid(REPO / "grids" / name, base=REPO)
        assert grid.runs, name
    paper = load_grid(REPO / "grids" / "paper.yaml", base=REPO)
    models = {r.settings.get("model", "mt-unetpp") for r in paper.runs}
    assert {
        "unet",
        "attention-unet",
        "residual-unet",
        "segresnet",
        "unetpp",
        "swin-unetr",
        "nnunet",
        "bts-unet",
        "mt-unetpp",
        "mt-nnunet",
        "mt-adityan",
    } <= models


def test_the_cpu_table4_grid_holds_every_table4_row_of_the_paper_grid_in_the_authors_configuration() -> None:
    paper = load_grid(REPO / "grids" / "paper.yaml", base=REPO)
    cpu = load_grid(REPO / "grids" / "cpu_table4.yaml", base=REPO)
    t4 = {r.name: r for r in paper.runs if r.table == "4"}
    assert {r.name for r in cpu.runs} == set(t4) and len(t4) == 16
    for r in cpu.runs:
        assert r.profile == "cpu-fair" and r.folds is None, r.name  # fold: all (the 4 folds of folds.csv)
        assert r.settings.get("baseline_config", "authors") == "authors", r.name
        for key in ("model", "task", "class_subset", "oversample", "fill_holes"):
            assert r.settings[key] == t4[r.name].settings[key], (r.name, key)


#: The rows of grids/smoke.yaml trained through Ray in CI, one per distinct training path (every row is built and
#: run forward in test_grid_rows_build.py): a Table 4 baseline (segmentation-only network, benign-malignant subset,
#: hole filling), the two single-task ablations of a multi-task backbone (seg-only and cls-only losses) that the
#: combine joins (ST (Seg + Cls) + PR), and the multi-task network with a reconstruction head, oversampling and no
#: refining. Training all 34 rows here took 1,244 s of CI.
RAY_ROWS = ("t4-unet-bm", "t6-nnunet-st-seg", "t6-nnunet-st-cls", "t8-adityan-do")
RAY_COMBINE = "t6-nnunet-st-seg-cls-pr"


@pytest.mark.slow
def test_smoke_grid_runs_representative_rows_and_a_combine_through_a_local_ray_instance(tmp_path: Path, k2) -> None:
    pytest.importorskip("ray")
    from benchmark.experiments.grid import run_ray

    m, f, data = k2
    grid = load_grid(
        REPO / "grids" / "smoke.yaml",
        base=REPO,
        overrides={"manifest": str(m), "folds": str(f), "data": str(data), "fold": [0], "cpus": 1},
    )
    paper = load_grid(REPO / "grids" / "paper.yaml", base=REPO)
    assert {r.name for r in grid.runs} == {r.name for r in paper.runs}  # a tiny version of every row
    assert {grid.run(n).settings["task"] for n in RAY_ROWS} == {"seg", "cls", "mt"}
    combine = [c for c in grid.combines if c.name == RAY_COMBINE][0]
    assert {combine.seg, combine.cls} <= set(RAY_ROWS)
    out = tmp_path / "ray-runs"
    messages: list[str] = []
    assert run_ray(grid, out, only=RAY_ROWS, echo=messages.append, num_cpus=2) == 0
    assert f"{len(RAY_ROWS)} job(s) to run" in messages[0]
    assert all(job_status(j, out)[0] == STATUS_DONE for j in jobs(grid, RAY_ROWS))
    assert all(job_status(j, out)[0] == STATUS_PENDING for j in jobs(grid) if j.run.name not in RAY_ROWS)
    assert (out / RAY_COMBINE / "fold0" / "metrics.json").is_file()  # its two runs were done: it ran
    others = [c.name for c in grid.combines if c.name != RAY_COMBINE]
    assert not any((out / name).exists() for name in others)  # the others wait for their runs
    assert sum("waiting for" in msg for msg in messages) == len(others)
