"""Profiles registry and config resolution: profile -> YAML -> flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.errors import ConfigError
from benchmark.profiles import (
    AUGMENTS,
    BASELINE_CONFIGS,
    CLS_HEADS,
    HEAD_NORMS,
    OVERSAMPLE_RULES,
    PRECISIONS,
    PROFILES,
    SELECT_ON,
    TASKS,
    RunConfig,
    parse_set_options,
    resolve_config,
)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_validates_and_round_trips(name: str, tmp_path: Path) -> None:
    """Each registered profile is a valid RunConfig that resolves to itself, from a dict and from YAML."""
    import yaml

    p = PROFILES[name]
    assert isinstance(p, RunConfig) and p.profile == name
    assert p.validate() is p
    assert resolve_config(name) == p
    assert RunConfig.from_dict(p.to_dict()) == p
    y = tmp_path / "saved.yaml"
    y.write_text(yaml.safe_dump(p.to_dict()), encoding="utf-8")
    assert resolve_config("paper", y) == p
    if name != "paper":  # reduced profiles say so wherever their label is shown
        assert "NOT the paper" in p.label or "not a result" in p.label


def test_paper_profile_holds_the_settings_of_section_5_3() -> None:
    """Pinned: the committed reports and the paper grid depend on these defaults."""
    p = PROFILES["paper"]
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
    # the authors trained in fp32 and built the Table 4 baselines in their own configurations
    assert p.precision == "fp32" and p.baseline_config == "authors"


def test_a_config_saved_before_baseline_config_existed_rebuilds_the_monai_baselines() -> None:
    saved = PROFILES["smoke"].to_dict()
    del saved["baseline_config"]
    assert RunConfig.from_dict(saved).baseline_config == "monai"
    assert RunConfig.from_dict(PROFILES["smoke"].to_dict()).baseline_config == "authors"


@pytest.mark.parametrize(
    "setting,choices",
    [
        ("task", TASKS),
        ("precision", PRECISIONS),
        ("cls_head", CLS_HEADS),
        ("head_norm", HEAD_NORMS),
        ("augment", AUGMENTS),
        ("select_on", SELECT_ON),
        ("oversample_rule", OVERSAMPLE_RULES),
        ("baseline_config", BASELINE_CONFIGS),
    ],
)
def test_every_choice_setting_accepts_its_choices_and_names_itself_otherwise(
    setting: str, choices: tuple[str, ...]
) -> None:
    for value in choices:
        assert getattr(resolve_config("smoke", None, {setting: value}), setting) == value
    with pytest.raises(ConfigError, match=f"^{setting} must be"):
        resolve_config("smoke", None, {setting: "bogus"})


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
