"""Progress on stderr, with counts, for the long steps: report (mask IoU, gallery) and ``busi-bench models``;
silent under ``--quiet``. (The automatic pass: tests/busi_curate/review/test_assess_cache.py; materialize:
tests/busi_curate/publish/test_export_materialize.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import review_planted, run_cli_captured


def test_report_progress_and_quiet(scan_copy: Path, synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    review_planted(scan_copy, synthetic_dir)
    code, out, err = run_cli_captured(["report", str(scan_copy), "--out", str(tmp_path / "r"), "--dpi", "72"], capsys)
    assert code == 0, err
    assert "mask IoU" in err and "gallery" in err and "pair" in err  # tqdm bars: description and unit
    code, out, err = run_cli_captured(
        ["report", str(scan_copy), "--out", str(tmp_path / "q"), "--dpi", "72", "--quiet"], capsys
    )
    assert code == 0 and "mask IoU" not in err and "gallery" not in err


def test_models_progress_and_quiet(monkeypatch, capsys) -> None:
    pytest.importorskip("torch")
    import benchmark.models as models
    from benchmark.cli import main

    monkeypatch.setattr(models, "MODELS", {k: models.MODELS[k] for k in ("unet", "mt-unetpp")})

    def run(*extra: str) -> tuple[int, str, str]:
        try:
            main(["models", *extra])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        cap = capsys.readouterr()
        return code, cap.out, cap.err

    code, out, err = run()
    assert code == 0 and "| unet |" in out and "| mt-unetpp |" in out
    assert "models" in err and "2/2" in err  # the bar: count of models done
    code, out, err = run("--quiet")
    assert code == 0 and "2/2" not in err
