"""precision auto: bf16 on a CPU only where it is native and measured faster; the choice is recorded."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.profiles import PROFILES, RunConfig  # noqa: E402
from benchmark.training import precision as P  # noqa: E402
from benchmark.training.train import amp_dtype, epoch_draws  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _fresh_cache():
    P._auto_cpu.cache_clear()
    yield
    P._auto_cpu.cache_clear()


def test_auto_on_cpu_without_native_bf16_is_fp32(monkeypatch):
    monkeypatch.setattr(P, "cpu_native_bf16", lambda: False)
    choice = P.choose_precision(RunConfig(precision="auto"), CPU)
    assert choice.dtype is None and choice.name == "fp32"
    assert "without native bf16" in choice.reason
    assert amp_dtype(RunConfig(precision="auto"), CPU) is None


@pytest.mark.parametrize(("speedup", "expected"), [(1.8, "bf16"), (1.0, "fp32")])
def test_auto_on_native_bf16_cpu_follows_the_micro_benchmark(monkeypatch, speedup, expected):
    monkeypatch.setattr(P, "cpu_native_bf16", lambda: True)
    monkeypatch.setattr(P, "cpu_bf16_speedup", lambda: speedup)
    choice = P.choose_precision(RunConfig(precision="auto"), CPU)
    assert choice.name == expected
    assert f"{speedup:.2f}x" in choice.reason


def test_explicit_choices_are_kept():
    assert P.choose_precision(RunConfig(precision="fp32"), CPU).dtype is None
    assert P.choose_precision(RunConfig(precision="bf16"), CPU).dtype == torch.bfloat16
    assert P.choose_precision(RunConfig(precision="bf16", amp=False), CPU).dtype is None
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        P.choose_precision(RunConfig(precision="fp16"), CPU)


def test_as_dict_names_precision_and_reason(monkeypatch):
    monkeypatch.setattr(P, "cpu_native_bf16", lambda: False)
    d = P.choose_precision(RunConfig(), CPU).as_dict()
    assert set(d) == {"precision", "precision_reason"} and d["precision"] == "fp32"


def test_micro_benchmark_returns_a_positive_ratio():
    assert P.cpu_bf16_speedup(0.02) > 0


def test_table_profile_uses_auto_precision_and_fixed_draws():
    fair = PROFILES["cpu-fair"]
    assert fair.precision == "auto" and fair.draws == "fixed"
    # the committed grid's profile keeps what its runs used
    assert PROFILES["cpu-grid"].precision == "bf16" and PROFILES["cpu-grid"].draws == "list"


@pytest.mark.parametrize(
    ("draws", "n_list", "expected"),
    [("list", 272, 272), ("fixed", 272, 400), ("list", 5000, 400), ("fixed", 5000, 400)],
)
def test_epoch_draws_fixed_trains_every_row_on_the_same_number(draws, n_list, expected):
    cfg = RunConfig(images_per_epoch=400, draws=draws)
    assert epoch_draws(cfg, n_list) == expected
    assert epoch_draws(RunConfig(images_per_epoch=0, draws=draws), n_list) == n_list
