"""``bench-ssim`` and ``size-study`` run end to end on small inputs (their figures are checked for shape
and consistency, never for speed: timings are not unit-tested)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from busi_curate.commands.bench import bench_ssim, size_study
from busi_curate.review.journal import Decision, Journal


def test_bench_ssim_synthetic(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    res = CliRunner().invoke(
        bench_ssim,
        [
            "--synthetic",
            "60",
            "--size",
            "32",
            "--sample-pairs",
            "7",
            "--backends",
            "numba,reference",
            "--prune-k",
            "5",
            "--json",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "scikit-image loop: 7 pairs" in res.output and "numba (cpu): 1,770 pairs" in res.output
    assert "pruned mode on 60 synthetic images" in res.output
    fig = json.loads(out.read_text())
    assert fig["n_images"] == 60 and fig["all_pairs"] == 1770 and fig["reference"]["pairs"] == 7
    (nb,) = fig["backends"]
    assert nb["name"] == "numba" and nb["max_abs_diff_vs_reference"] < 1e-6 and nb["ratio_to_reference"] > 0
    assert fig["pruned"]["planted"] == 1 and fig["pruned"]["planted_ranked_first"] == 1
    assert fig["hardware"]["cpus"] >= 1


def test_bench_ssim_dataset_and_bad_backend(synthetic_dir: Path) -> None:
    res = CliRunner().invoke(bench_ssim, [str(synthetic_dir), "--size", "32", "--sample-pairs", "5", "--quiet"])
    assert res.exit_code == 0, res.output
    assert f"images: {synthetic_dir}, 36 at 32x32" in res.output
    res = CliRunner().invoke(bench_ssim, ["--backends", "numba,cuda-magic", "--quiet"])
    assert res.exit_code == 2 and "unknown backend 'cuda-magic'" in res.output


def test_size_study_with_journal(synthetic_dir: Path, tmp_path: Path) -> None:
    planted = pd.read_csv(synthetic_dir / "planted.csv", dtype=str)
    journal = Journal(tmp_path / "decisions.csv")
    for p in planted.itertuples():
        journal.append(Decision(p.source_class, p.source_id, p.copy_class, p.copy_id, "same", "same-frame", "test"))
    journal.append(Decision("normal", "1", "normal", "2", "different", "", "test"))
    out = tmp_path / "study.json"
    res = CliRunner().invoke(
        size_study,
        [
            str(synthetic_dir),
            "--sizes",
            "32,64",
            "--journal",
            str(tmp_path / "decisions.csv"),
            "--json",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "| 32 |" in res.output and "| 64 |" in res.output and "top-5 agreement" in res.output
    fig = json.loads(out.read_text())
    assert [s["size"] for s in fig["sizes"]] == [32, 64]
    assert fig["n_images"] == 36 and "32-64" in fig["top_k_agreement"]
    # the synthetic set has three pixel-identical pairs (identical, relabel, remask), each ranked first
    assert len(fig["identical_pairs"]) == 3
    for s in fig["sizes"]:
        assert s["identical_pairs_worst_rank"] == 1
        assert s["confirmed_pairs"] == 8 and s["confirmed_ranked_first"] == 8
        assert 0 < s["confirmed_rank_auc_min"] <= 1
        assert s["different_pairs"] == 1 and s["same_vs_different_auc"] == 1.0


def test_size_study_bad_sizes(synthetic_dir: Path) -> None:
    res = CliRunner().invoke(size_study, [str(synthetic_dir), "--sizes", "64,abc"])
    assert res.exit_code == 2 and "sizes must be integers" in res.output
    res = CliRunner().invoke(size_study, [str(synthetic_dir), "--sizes", "8"])
    assert res.exit_code == 2


@pytest.mark.parametrize("args", [["bench-ssim", "--help"], ["size-study", "--help"]])
def test_help_is_registered(args: list[str]) -> None:
    from busi_curate.cli import cli

    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0 and "Usage" in res.output
