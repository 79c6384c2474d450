"""Training, evaluation, resume, determinism and the CLI on a tiny synthetic dataset (32x32, 2 epochs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from click.testing import CliRunner  # noqa: E402

from benchmark.cli import main  # noqa: E402
from benchmark.data.provisional import build_provisional  # noqa: E402
from benchmark.data.samples import RunInputs  # noqa: E402
from benchmark.errors import BenchError  # noqa: E402
from benchmark.experiments.run import run_fold  # noqa: E402
from benchmark.profiles import resolve_config  # noqa: E402

TINY = {
    "image_size": 32,
    "epochs": 2,
    "subset": 3,
    "images_per_epoch": 8,
    "batch_size": 4,
    "lr": 1e-3,
    "threads": 1,
    "eval_batch_size": 16,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def bench_inputs(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(manifest, folds, data dir) for the synthetic dataset: every image kept, 4 folds."""
    out = tmp_path_factory.mktemp("bench-manifest")
    m, f = build_provisional(synthetic_dir, out)
    return m, f, synthetic_dir


@pytest.fixture(scope="module")
def inputs(bench_inputs) -> RunInputs:
    return RunInputs.read(*bench_inputs)


@pytest.fixture(scope="module")
def reference_run(inputs: RunInputs, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run-a")
    cfg = resolve_config("smoke", None, dict(TINY, augment="monai"))
    return out, run_fold(cfg, inputs, 0, out, progress=False)


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _Killed(Exception):
    pass


def test_outputs_describe_themselves(reference_run) -> None:
    out, metrics = reference_run
    fold = out / "fold0"
    data = json.loads((fold / "metrics.json").read_text())
    for key in (
        "dsc_benign",
        "dsc_malignant",
        "dsc_normal",
        "dsc_avg",
        "jac",
        "hd",
        "rec",
        "pre",
        "f1_benign",
        "f1_malignant",
        "f1_normal",
        "f1_weighted",
        "acc",
        "incoherent_before_pr",
        "before_pr",
    ):
        assert key in data, key
    prov = data["provenance"]
    assert prov["tool"] == "busi-bench" and prov["config"]["image_size"] == 32
    assert set(prov["inputs"]) >= {"manifest_sha256", "folds_sha256"}
    for name in ("per_image.csv", "confusion.csv", "refine_warnings.csv", "predictions.npz"):
        assert (fold / name).is_file() and (fold / f"{name}.meta.json").is_file(), name
    assert (fold / "config.yaml").read_text().startswith("# busi-bench")
    assert (fold / "checkpoint" / "last.pt").is_file() and (fold / "checkpoint" / "best.pt").is_file()
    assert "epoch 2/2" in (fold / "train.log").read_text()
    per = pd.read_csv(fold / "per_image.csv")
    assert {"dice", "before_dice", "hd95", "p_normal", "pred", "before_pred", "refine_action"} <= set(per.columns)
    assert len(per) == metrics["n_test"]
    normal = per[per["true"] == "normal"]
    assert set(normal["dice"]) <= {0.0, 1.0}  # the paper code's convention for normal images


def test_one_training_step_lowers_the_loss(inputs: RunInputs) -> None:
    from benchmark.models import build_model
    from benchmark.models.losses import multitask_loss

    torch.manual_seed(0)
    samples, _ = inputs.samples(32)
    x = torch.from_numpy(samples.images[:6]).unsqueeze(1)
    y = torch.from_numpy(samples.masks[:6].astype(np.float32)).unsqueeze(1)
    lab = torch.from_numpy(samples.labels[:6])
    net = build_model("mt-unetpp")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        out = net(x)
        loss, _ = multitask_loss(out.seg, out.cls, y, lab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_training_with_progress_warns_nothing(inputs: RunInputs, tmp_path: Path) -> None:
    """The progress bar's loss used to be read from a tensor that requires grad (a torch UserWarning per run)."""
    import warnings

    cfg = resolve_config("smoke", None, dict(TINY, epochs=1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_fold(cfg, inputs, 0, tmp_path, progress=True)
    assert not [str(w.message) for w in caught if "requires_grad" in str(w.message)]


def test_same_seed_same_metrics(inputs: RunInputs, reference_run, tmp_path: Path) -> None:
    out_a, metrics_a = reference_run
    cfg = resolve_config("smoke", None, dict(TINY, augment="monai"))
    metrics_b = run_fold(cfg, inputs, 0, tmp_path, progress=False)
    for k in ("dsc_avg", "acc", "hd", "f1_weighted"):
        assert metrics_a[k] == metrics_b[k], k
    assert _same_weights(_weights(out_a / "fold0/checkpoint/last.pt"), _weights(tmp_path / "fold0/checkpoint/last.pt"))


def test_resume_after_a_kill_matches_the_uninterrupted_run(inputs: RunInputs, reference_run, tmp_path: Path) -> None:
    out_a, metrics_a = reference_run
    cfg = resolve_config("smoke", None, dict(TINY, augment="monai"))

    def kill(epoch: int) -> None:
        if epoch == 1:
            raise _Killed

    with pytest.raises(_Killed):
        run_fold(cfg, inputs, 0, tmp_path, progress=False, on_epoch_end=kill)
    assert not (tmp_path / "fold0" / "metrics.json").exists()
    with pytest.raises(BenchError, match="holds a checkpoint already: pass --resume"):
        run_fold(cfg, inputs, 0, tmp_path, progress=False)
    metrics_b = run_fold(cfg, inputs, 0, tmp_path, progress=False, resume=True)
    assert _same_weights(_weights(out_a / "fold0/checkpoint/last.pt"), _weights(tmp_path / "fold0/checkpoint/last.pt"))
    assert _same_weights(_weights(out_a / "fold0/checkpoint/best.pt"), _weights(tmp_path / "fold0/checkpoint/best.pt"))
    for k in ("dsc_avg", "acc", "hd", "f1_weighted", "best_epoch"):
        assert metrics_a[k] == metrics_b[k], k
    assert "resumed from" in (tmp_path / "fold0" / "train.log").read_text()


def test_resume_refuses_other_settings(inputs: RunInputs, reference_run, tmp_path: Path) -> None:
    import shutil

    out_a, _ = reference_run
    shutil.copytree(out_a / "fold0" / "checkpoint", tmp_path / "fold0" / "checkpoint")
    cfg = resolve_config("smoke", None, dict(TINY, augment="monai", lr=0.5))
    with pytest.raises(BenchError, match="cannot resume: the checkpoint was written with other settings"):
        run_fold(cfg, inputs, 0, tmp_path, progress=False, resume=True)


# ----------------------------------------------------------------------------- CLI


def _run_args(bench_inputs, out: Path, *extra: str) -> list[str]:
    m, f, d = bench_inputs
    return [
        "run",
        "--manifest",
        str(m),
        "--folds",
        str(f),
        "--data",
        str(d),
        "--out",
        str(out),
        "--no-progress",
        *(() if "--profile" in extra else ("--profile", "paper")),
        *extra,
    ]


def test_default_profile_is_cpu_without_cuda(bench_inputs, tmp_path: Path, monkeypatch) -> None:
    from benchmark.commands.run import default_profile

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    name, why = default_profile("auto")
    assert name == "cpu" and "no CUDA device" in why and "--profile paper" in why
    m, f, d = bench_inputs
    args = ["run", "--manifest", str(m), "--folds", str(f), "--data", str(d), "--out", str(tmp_path), "--fold", "7"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert res.output.splitlines()[0].startswith("no --profile given: using 'cpu' (no CUDA device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_profile("auto")[0] == "paper" and default_profile("cpu")[0] == "cpu"


def _one_line_error(result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_cli_bad_fold_number(bench_inputs, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, _run_args(bench_inputs, tmp_path, "--fold", "7"))
    line = _one_line_error(res)
    assert "fold 7" in line and "folds.csv" in line


def test_cli_bad_manifest(bench_inputs, tmp_path: Path) -> None:
    m, f, d = bench_inputs
    bad = tmp_path / "manifest.csv"
    pd.read_csv(m, dtype=str, keep_default_na=False).drop(columns=["pixel_sha256"]).to_csv(bad, index=False)
    res = CliRunner().invoke(main, _run_args((bad, f, d), tmp_path / "out", "--fold", "0"))
    line = _one_line_error(res)
    assert "manifest.csv" in line and "pixel_sha256" in line


def test_cli_changed_pixels_are_refused(bench_inputs, tmp_path: Path) -> None:
    m, f, d = bench_inputs
    frame = pd.read_csv(m, dtype=str, keep_default_na=False)
    frame.loc[0, "pixel_sha256"] = "0" * 64
    man = tmp_path / "m" / "manifest.csv"
    man.parent.mkdir()
    frame.to_csv(man, index=False)
    # a consistent manifest folder (sidecar checksums re-recorded) whose hashes no longer match the pixels
    import json
    import shutil

    from busi_curate.fileio import file_sha256

    shutil.copy(f, man.with_name("folds.csv"))
    meta = json.loads(m.with_name("manifest.json").read_text(encoding="utf-8"))
    meta["files"] = {"manifest.csv": file_sha256(man), "folds.csv": file_sha256(man.with_name("folds.csv"))}
    man.with_name("manifest.json").write_text(json.dumps(meta), encoding="utf-8")
    f = man.with_name("folds.csv")
    res = CliRunner().invoke(main, _run_args((man, f, d), tmp_path / "out", "--fold", "0", "--profile", "smoke"))
    line = _one_line_error(res)
    assert "pixel hashes" in line


def test_cli_needs_exactly_one_fold_choice(bench_inputs, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, _run_args(bench_inputs, tmp_path))
    assert "exactly one of --fold" in _one_line_error(res)


def test_cli_unknown_setting(bench_inputs, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, _run_args(bench_inputs, tmp_path, "--fold", "0", "--set", "warp=9"))
    assert "unknown setting 'warp'" in _one_line_error(res)


def test_cli_run_summarize_predict(bench_inputs, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    args = _run_args(
        bench_inputs,
        out,
        "--fold",
        "1",
        "--profile",
        "smoke",
        "--epochs",
        "1",
        *[a for k, v in TINY.items() if k not in ("epochs",) for a in ("--set", f"{k}={v}")],
    )
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "fold 1:" in res.output
    res = runner.invoke(main, ["summarize", str(out)])
    assert res.exit_code == 0, res.output
    assert "DSC Average" in res.output and "Paper MT UNet++" in res.output and (out / "summary.md").is_file()
    _, _, data = bench_inputs
    img = sorted((data / "Dataset_BUSI_with_GT" / "benign").glob("benign (1).png"))[0]
    pred = tmp_path / "pred"
    res = runner.invoke(
        main, ["predict", str(out / "fold1/checkpoint/best.pt"), str(img), "--out", str(pred), "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(pred / "predictions.csv")
    assert rows.loc[0, "class"] in ("benign", "malignant", "normal")
    assert (pred / "benign (1)_mask.png").is_file() and (pred / "predictions.csv.meta.json").is_file()


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from benchmark.cli import main; "
        "r = CliRunner().invoke(main, ['run', '--help']); assert r.exit_code == 0, r.output; "
        "print('torch' in sys.modules, 'monai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_single_task_runs_and_their_combination(inputs: RunInputs, tmp_path: Path) -> None:
    from benchmark.evaluation.combine import combine_runs

    one = dict(TINY, epochs=1, augment="torch")
    seg = run_fold(
        resolve_config("smoke", None, dict(one, task="seg", oversample=False)),
        inputs,
        2,
        tmp_path / "seg",
        progress=False,
    )
    cls = run_fold(resolve_config("smoke", None, dict(one, task="cls")), inputs, 2, tmp_path / "cls", progress=False)
    assert seg["dsc_avg"] is not None and seg["acc"] is None and seg["refined_cases"] == 0
    assert cls["acc"] is not None and cls["dsc_avg"] is None
    (both,) = combine_runs(tmp_path / "seg", tmp_path / "cls", tmp_path / "comb", "paper")
    assert both["dsc_avg"] is not None and both["acc"] is not None
    per = pd.read_csv(tmp_path / "comb" / "fold2" / "per_image.csv")
    seg_per = pd.read_csv(tmp_path / "seg" / "fold2" / "per_image.csv")
    assert np.allclose(per["before_dice"], seg_per["dice"])  # same masks before refining
    res = CliRunner().invoke(main, ["summarize", str(tmp_path / "comb")])
    assert res.exit_code == 0 and "seg+cls" in res.output


def test_resume_refuses_other_inputs(bench_inputs, reference_run, tmp_path: Path) -> None:
    import shutil

    m, f, d = bench_inputs
    out_a, _ = reference_run
    shutil.copytree(out_a / "fold0" / "checkpoint", tmp_path / "run" / "fold0" / "checkpoint")
    other = tmp_path / "man"
    other.mkdir()
    frame = pd.read_csv(m, dtype=str, keep_default_na=False)
    frame.loc[0, "reason"] = "edited"
    frame.to_csv(other / "manifest.csv", index=False)
    import json

    from busi_curate.fileio import file_sha256

    shutil.copy(f, other / "folds.csv")
    meta = json.loads(m.with_name("manifest.json").read_text(encoding="utf-8"))
    meta["files"] = {"manifest.csv": file_sha256(other / "manifest.csv"), "folds.csv": file_sha256(other / "folds.csv")}
    (other / "manifest.json").write_text(json.dumps(meta), encoding="utf-8")
    cfg = resolve_config("smoke", None, dict(TINY, augment="monai"))
    with pytest.raises(BenchError, match="another manifest"):
        run_fold(
            cfg,
            RunInputs.read(other / "manifest.csv", other / "folds.csv", d),
            0,
            tmp_path / "run",
            progress=False,
            resume=True,
        )


@pytest.mark.slow
@pytest.mark.parametrize("mode", [["--concurrent"], ["--workers", "2"]])
def test_all_folds_concurrent(synthetic_dir: Path, tmp_path: Path, mode: list[str]) -> None:
    m, f = build_provisional(synthetic_dir, tmp_path / "k2", k=2)
    out = tmp_path / "run"
    sets = [a for k, v in dict(TINY, epochs=1).items() if k not in ("epochs", "threads") for a in ("--set", f"{k}={v}")]
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--manifest",
            str(m),
            "--folds",
            str(f),
            "--data",
            str(synthetic_dir),
            "--out",
            str(out),
            "--profile",
            "smoke",
            "--epochs",
            "1",
            "--all-folds",
            *mode,
            *sets,
        ],
    )
    assert res.exit_code == 0, res.output + "".join(p.read_text() for p in out.glob("*.stdout.log"))
    for k in (0, 1):
        data = json.loads((out / f"fold{k}" / "metrics.json").read_text())
        assert data["provenance"]["config"]["image_size"] == 32 and data["epochs_run"] == 1
