"""Each rule of ``benchmark/`` written once (issue 23): option vocabularies, post-processing, the run-folder reader,
the child-run launcher, the metric table and the paper's figures, the training step ``speed`` times, the
settings folds may differ in; and the unpaired leakage report, provenance and summary they feed."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import BenchError, ConfigError
from benchmark.profiles import CHOICES, FOLD_FREE, PROFILES, REFINES, RESUME_FREE, SEED_FREE, RunConfig

ROOT = Path(__file__).resolve().parents[2]


# --- one vocabulary per option ---------------------------------------------------------------------------------


def test_every_choice_of_busi_bench_run_is_its_literal() -> None:
    import click

    from benchmark.commands.run import run as run_cmd

    choices = {p.name: tuple(p.type.choices) for p in run_cmd.params if isinstance(p.type, click.Choice)}
    assert {"task", "refine", "precision", "cls_head", "head_norm", "class_subset", "baseline_config"} <= set(choices)
    for name, allowed in choices.items():
        assert allowed == CHOICES[name], name
    profile = next(p for p in run_cmd.params if p.name == "profile")
    assert all(name in (profile.help or "") for name in PROFILES)  # cpu-grid included


def test_literals_are_the_vocabularies() -> None:
    from benchmark.inference.refine import REFINERS

    hints = typing.get_type_hints(RunConfig)
    for name, allowed in CHOICES.items():
        if typing.get_origin(hints[name]) is typing.Literal:
            assert typing.get_args(hints[name]) == allowed, name
    assert tuple(REFINERS) == REFINES


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_a_bad_value_is_named_with_its_choices(name: str) -> None:
    with pytest.raises(ConfigError) as exc:
        RunConfig(**{name: "nonsense"}).validate()  # type: ignore[arg-type]
    assert str(exc.value).startswith(f"{name} must be one of {', '.join(CHOICES[name])}")


def test_the_settings_free_between_folds_resumes_and_seeds_nest() -> None:
    assert FOLD_FREE < RESUME_FREE and FOLD_FREE < SEED_FREE
    assert RESUME_FREE - FOLD_FREE == {"epochs"} and SEED_FREE - FOLD_FREE == {"seed", "extra"}


# --- one post-processing ----------------------------------------------------------------------------------------


def _ring(size: int = 16) -> np.ndarray:
    """``(1, size, size)`` tumour probability: a ring (0.9) around a hole (0.1)."""
    p = np.full((1, size, size), 0.05, np.float32)
    p[0, 3:13, 3:13] = 0.9
    p[0, 6:10, 6:10] = 0.1
    return p


@pytest.mark.parametrize(
    ("cfg", "rule"),
    [
        ({"task": "mt", "refine": "paper"}, "paper"),
        ({"task": "seg", "refine": "paper"}, "none"),
        ({"task": "cls", "refine": "probability"}, "none"),
        ({"task": "seg+cls", "refine": "probability"}, "probability"),
    ],
)
def test_postprocess_of_a_config_refines_only_refined_tasks(cfg: dict, rule: str) -> None:
    from benchmark.inference.postprocess import Postprocess

    assert Postprocess.of({**cfg, "threshold": 0.4, "fill_holes": True}) == Postprocess(0.4, True, rule)  # type: ignore[arg-type]
    assert Postprocess.of(cfg, "none").rule == "none"
    with pytest.raises(ConfigError, match="refine must be one of"):
        Postprocess.of(cfg, "sharpen")


def test_postprocess_fills_holes_before_refining_sees_the_mask() -> None:
    from benchmark.inference.postprocess import Postprocess

    keys = [("benign", "1")]
    cls = np.array([[0.9, 0.05, 0.05]], np.float32)  # benign: the paper rule keeps the mask
    plain = Postprocess(0.5, False, "paper")(keys, _ring(), cls)
    filled = Postprocess(0.5, True, "paper")(keys, _ring(), cls)
    assert plain.masks is not None and filled.masks is not None and filled.raw_masks is not None
    assert plain.masks[0].sum() == 100 - 16 and filled.masks[0].sum() == 100
    assert np.array_equal(filled.raw_masks, filled.masks)
    normal = Postprocess(0.5, True, "paper")(keys, _ring(), np.array([[0.05, 0.05, 0.9]], np.float32))
    assert normal.masks is not None and normal.masks[0].sum() == 0 and len(normal.events) == 1  # cleared, logged
    seg_only = Postprocess(0.5, True, "paper")(keys, _ring(), None)
    assert seg_only.classes is None and seg_only.masks is not None and seg_only.masks[0].sum() == 100


# --- one run-folder reader, one launcher ------------------------------------------------------------------------


def test_finished_folds_are_in_fold_order(tmp_path: Path) -> None:
    from benchmark.run_folder import finished_folds, require_finished_folds

    for k in (10, 2, 0, 1):
        (tmp_path / f"fold{k}").mkdir()
        (tmp_path / f"fold{k}" / "metrics.json").write_text("{}")
    (tmp_path / "fold3").mkdir()  # unfinished
    (tmp_path / "fold4.bak").mkdir()
    (tmp_path / "fold4.bak" / "metrics.json").write_text("{}")
    assert [p.name for p in finished_folds(tmp_path)] == ["fold0", "fold1", "fold2", "fold10"]
    with pytest.raises(BenchError, match="no fold") as exc:
        require_finished_folds(tmp_path / "fold3")
    assert "fold3" in str(exc.value)


def test_one_child_command_for_run_and_grid(tmp_path: Path) -> None:
    from benchmark.experiments.launcher import ChildRun

    c = ChildRun(Path("m.csv"), Path("f.csv"), Path("data"), tmp_path, "cpu", tmp_path / "c.yaml", 3, True, 2)
    cmd = c.command()
    assert cmd[1:4] == ["-m", "benchmark.cli", "run"]
    pairs = dict(zip(cmd[4::1], cmd[5::1]))
    assert pairs["--fold"] == "3" and pairs["--threads"] == "2" and pairs["--profile"] == "cpu"
    assert "--resume" in cmd and "--no-progress" in cmd
    assert c.env()["OMP_NUM_THREADS"] == "2"
    bare = ChildRun(Path("m"), Path("f"), Path("d"), tmp_path, "cpu", tmp_path / "c.yaml", 0).command()
    assert "--resume" not in bare and "--threads" not in bare


# --- one metric table, the paper's figures once -----------------------------------------------------------------


def test_metric_table_and_paper_figures() -> None:
    from benchmark.evaluation.metric_table import LABELS, METRIC_KEYS, PAPER_KEYS
    from benchmark.reporting import paper_figures as paper
    from benchmark.reporting.summarize import ROWS

    assert set(PAPER_KEYS) <= set(METRIC_KEYS) and set(METRIC_KEYS) <= set(LABELS)
    assert [k for _, k in ROWS] == list(PAPER_KEYS)
    assert paper.TABLE89["MT UNet++"] is paper.TABLE5["MT + PR + DO"]
    assert paper.TABLE89["MT UNet++"]["acc"] == (0.802, 0.018) and paper.TABLE89["MT nnU-Net"]["f1_benign"] == (
        0.806,
        0.005,
    )
    assert set(paper.TABLE89_MODELS.values()) == set(paper.TABLE89)


# --- speed times the real training step -------------------------------------------------------------------------


def test_speed_times_the_runs_own_training_step(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from benchmark.experiments import speed
    from benchmark.training.train import Fit

    calls: list[tuple[int, ...]] = []
    real = Fit.step

    def counting(self, xb, yb, lb, augmenter):  # type: ignore[no-untyped-def]
        calls.append(tuple(xb.shape))
        assert augmenter is not None  # the run's augmentation is part of the step
        return real(self, xb, yb, lb, augmenter)

    monkeypatch.setattr(Fit, "step", counting)
    monkeypatch.setattr(speed, "conv_rate", lambda *a, **k: 1e9)  # not what is tested here, and slow
    monkeypatch.setattr(speed, "training_flops", lambda *a, **k: (0.0, 1.0))
    res = speed.measure("mt-unetpp", image_size=32, batch_size=2, steps=1, device="cpu", precision="fp32")
    assert calls == [(2, 1, 32, 32)] * 2 and res.step_s > 0  # one warm-up, one timed


# --- provenance, summary and the unpaired leakage report --------------------------------------------------------


def _fold(tmp_path: Path, k: int, **config: object) -> None:
    from busi_curate.fileio import write_json

    prov = {"tool": "busi-bench", "config": {"model": "mt-unetpp", "epochs": 5, "threads": 2, **config}, "inputs": {}}
    write_json(tmp_path / f"fold{k}" / "metrics.json", {"fold": k, "acc": 0.5 + k / 10, "provenance": prov})


def test_provenance_is_checked_on_read(tmp_path: Path) -> None:
    from benchmark.provenance import read_checked_json

    _fold(tmp_path, 0)
    assert read_checked_json(tmp_path / "fold0" / "metrics.json")["fold"] == 0
    (tmp_path / "other.json").write_text(json.dumps({"acc": 1.0}))
    (tmp_path / "broken.json").write_text("{")
    for name, why in (("other.json", "no provenance"), ("broken.json", "cannot read"), ("none.json", "not found")):
        with pytest.raises(BenchError, match=why):
            read_checked_json(tmp_path / name)


def test_summary_folds_may_differ_only_in_fold_free_settings(tmp_path: Path) -> None:
    from benchmark.reporting.summarize import load_folds

    _fold(tmp_path, 0)
    _fold(tmp_path, 10, threads=8, eval_batch_size=64)  # free between folds
    _fold(tmp_path, 2)
    assert [f["fold"] for f in load_folds(tmp_path)] == [0, 2, 10]
    _fold(tmp_path, 3, epochs=6)
    with pytest.raises(BenchError, match="epochs"):
        load_folds(tmp_path)


@pytest.mark.skipif(
    not (ROOT / "reports" / "leakage_inflation" / "subsets.csv").is_file(), reason="no committed report"
)
def test_leakage_report_reproduces_the_committed_one(tmp_path: Path) -> None:
    """The unpaired report of ``reports/leakage_inflation`` from the committed naive run and decisions."""
    import pandas as pd

    from benchmark.reporting.leakage import leakage_report

    runs = ROOT / "reports" / "bench_cpu_table5" / "runs"
    naive = ROOT / "manifests" / "raw_busi_naive"
    leakage_report(
        runs / "naive-mt-do",
        ROOT / "manifests" / "curated_busi_v1" / "decisions.csv",
        tmp_path,
        curated_run=runs / "mt-do",
        manifest=naive / "manifest.csv",
        folds=naive / "folds.csv",
    )
    committed = pd.read_csv(ROOT / "reports" / "leakage_inflation" / "subsets.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "subsets.csv"), committed)
    assert committed["n_test_images"].iloc[:4].sum() == committed["n_test_images"].iloc[4]
