"""Profiles registry and config resolution: profile -> YAML -> flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.errors import ConfigError
from benchmark.profiles import PROFILES, RunConfig, parse_set_options, resolve_config


def test_registry_holds_dataclasses_and_the_paper_settings() -> None:
    assert {"paper", "cpu", "smoke"} <= set(PROFILES)
    p = PROFILES["paper"]
    assert isinstance(p, RunConfig)
    assert (p.image_size, p.batch_size, p.lr, p.epochs, p.lambda_seg, p.focal_gamma, p.dice_eps) == (
        128,
        2,
        1e-4,
        200,
        0.85,
        2.0,
        1.0,
    )
    assert (p.plateau_patience, p.plateau_factor, p.min_lr, p.early_stopping) == (20, 0.5, 1e-6, 50)
    assert p.oversample and p.refine == "paper" and p.task == "mt"
    assert "NOT the paper" in PROFILES["cpu"].label


def test_yaml_then_flags(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("epochs: 7\nlr: 0.002\noversample: false\n")
    cfg = resolve_config("paper", y, {"epochs": 3, "batch_size": None, **parse_set_options(("refine=probability",))})
    assert (cfg.epochs, cfg.lr, cfg.oversample, cfg.refine, cfg.batch_size) == (3, 0.002, False, "probability", 2)


@pytest.mark.parametrize(
    "over,msg",
    [
        ({"nope": 1}, "unknown setting"),
        ({"task": "both"}, "task must be"),
        ({"refine": "magic"}, "refine must be"),
        ({"image_size": 100}, "multiple of 32"),
        ({"epochs": "many"}, "expects an integer"),
        ({"lambda_seg": 2}, "lambda_seg"),
    ],
)
def test_bad_settings(over: dict, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg):
        resolve_config("paper", None, over)


def test_unknown_profile_and_bad_set_option() -> None:
    with pytest.raises(ConfigError, match="unknown profile"):
        resolve_config("fast")
    with pytest.raises(ConfigError, match="key=value"):
        parse_set_options(("epochs",))


def test_saved_config_round_trip_and_version_check() -> None:
    d = PROFILES["cpu"].to_dict()
    assert RunConfig.from_dict(d) == PROFILES["cpu"]
    with pytest.raises(ConfigError, match="another busi-bench version"):
        RunConfig.from_dict(dict(d, future_knob=1))
