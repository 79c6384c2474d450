"""The committed speed measurements (reports/speed/) are complete, tool-written and quoted by their command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from benchmark.models import MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SPEED = ROOT / "reports" / "speed"


def _rows(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (SPEED / name / "speed.jsonl").read_text(encoding="utf-8").splitlines()]


def _command(name: str) -> str:
    md = (SPEED / name / "speed.md").read_text(encoding="utf-8")
    return md.split("```\n", 2)[1].strip()


def test_the_fp32_report_times_every_registered_model_in_cpu_seconds() -> None:
    rows = _rows("zen3-avx2-fp32")
    assert sorted(str(r["model"]) for r in rows) == sorted(MODELS)
    assert all(r["clock"] == "cpu-s" and r["precision"] == "fp32" and float(str(r["s_per_image"])) > 0 for r in rows)


def test_bf16_without_native_support_is_the_slower_and_auto_picks_fp32() -> None:
    rows = {(r["model"], r["precision"]): r for r in _rows("zen3-avx2-bf16")}
    for model in ("mt-unetpp", "segresnet"):
        fp32, bf16 = rows[(model, "fp32")], rows[(model, "bf16")]
        assert float(str(bf16["s_per_image"])) > float(str(fp32["s_per_image"]))
        assert "emulates bf16" in str(bf16["precision_reason"])
    assert "precision auto on this device: fp32" in (SPEED / "zen3-avx2-bf16" / "speed.md").read_text()


@pytest.mark.parametrize("name", ["zen3-avx2-fp32", "zen3-avx2-bf16"])
def test_the_readme_quotes_each_report_by_the_command_that_wrote_it(name: str) -> None:
    readme = (ROOT / "benchmark" / "README.md").read_text(encoding="utf-8")
    assert f"`{_command(name)}`" in readme
