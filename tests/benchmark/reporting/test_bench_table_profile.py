"""The profile line of every report table (benchmark/reporting/table_profile.py): from the runs' own files only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.reporting.table_profile import fold_draws, fold_hardware, profile_lines

REPO = Path(__file__).resolve().parents[3]


@dataclass
class FakeRun:
    name: str
    path: Path
    folds: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)


def _run(tmp: Path, name: str, oversample: bool, drawn: int, draws: str = "list") -> FakeRun:
    (tmp / name / "fold0").mkdir(parents=True)
    (tmp / name / "fold0" / "train.log").write_text(
        f"x INFO training: 272 images ({837 if oversample else 272} after oversampling, {drawn} drawn per epoch)\n"
    )
    prov = {
        "hardware": "2-core CPU (AMD EPYC)",
        "git_commit": "abc1234",
        "precision": "fp32",
        "precision_reason": "auto: AVX2",
    }
    cfg = {
        "profile": "p",
        "epochs": 20,
        "image_size": 64,
        "oversample": oversample,
        "images_per_epoch": 400,
        "draws": draws,
    }
    return FakeRun(name, tmp / name, [{"fold": 0, "epochs_run": 20, "n_train": 272, "provenance": prov}], cfg)


def test_rows_with_and_without_do_on_different_draws_are_flagged(tmp_path: Path) -> None:
    lines = profile_lines([_run(tmp_path, "a", True, 400), _run(tmp_path, "b", False, 272)])
    assert "precision fp32 (auto: AVX2)" in lines[0] and "commit abc1234" in lines[0] and "AMD EPYC" in lines[0]
    assert "with DO 400; without DO 272" in lines[1] and "DO confound" in lines[1]


def test_rows_on_the_same_draws_say_so(tmp_path: Path) -> None:
    lines = profile_lines([_run(tmp_path, "a", True, 400, "fixed"), _run(tmp_path, "b", False, 400, "fixed")])
    assert lines[1].endswith("(the same with and without DO)") and "confound" not in lines[1]


def test_draws_without_a_log_come_from_the_config_only_where_they_are_exact(tmp_path: Path) -> None:
    fold = {"fold": 0, "n_train": 272}
    assert fold_draws(tmp_path, fold, {"images_per_epoch": 400, "draws": "fixed", "oversample": False}) == 400
    assert fold_draws(tmp_path, fold, {"images_per_epoch": 400, "draws": "list", "oversample": False}) == 272
    assert fold_draws(tmp_path, fold, {"images_per_epoch": 400, "draws": "list", "oversample": True}) is None


def test_the_committed_cpu_grid_tables_carry_the_do_confound_and_bf16() -> None:
    for t in ("table5", "table6"):
        text = (REPO / "reports" / "bench_cpu_table5" / f"{t}.md").read_text(encoding="utf-8")
        if "_no finished run" in text:
            continue
        assert "**DO confound**" in text and "precision bf16" in text, t


def test_a_row_whose_folds_ran_on_two_machines_names_both(tmp_path: Path) -> None:
    run = _run(tmp_path, "a", False, 272)
    other = {**run.folds[0]["provenance"], "hardware": "2-core CPU (Intel Xeon)", "precision_reason": "auto: AVX512"}
    run.folds.append({"fold": 1, "epochs_run": 20, "n_train": 272, "provenance": other})
    assert fold_hardware(run) == "2-core CPU (AMD EPYC), 2-core CPU (Intel Xeon)"
    line = profile_lines([run])[0]
    assert "fp32 (auto: AVX2), fp32 (auto: AVX512)" in line and "AMD EPYC), 2-core CPU (Intel Xeon)" in line
