"""Losses of section 3.4 against hand-computed values."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from benchmark.models.losses import deep_supervision_weights, focal_loss, multitask_loss, seg_loss, soft_dice  # noqa: E402


def test_dice_eq1_with_squared_denominator() -> None:
    p = torch.tensor([0.5, 1.0, 0.0, 0.25]).view(1, 1, 2, 2)
    t = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    # S.T = 1.5; S^2 = 0.25 + 1 + 0.0625 = 1.3125; T^2 = 2; eps = 1
    assert soft_dice(p, t, 1.0).item() == pytest.approx((2 * 1.5 + 1) / (1.3125 + 2 + 1))


def test_dice_of_empty_prediction_and_target_is_one() -> None:
    z = torch.zeros(2, 1, 4, 4)
    assert torch.allclose(soft_dice(z, z), torch.ones(2))


def test_deep_supervision_weights_favour_the_top_output() -> None:
    assert deep_supervision_weights(4) == [1.0, 0.5, 1 / 3, 0.25]


def test_seg_loss_eq2() -> None:
    t = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    big = torch.full((1, 1, 2, 2), 50.0)  # sigmoid ~ 1 everywhere
    small = torch.full((1, 1, 2, 2), -50.0)  # sigmoid ~ 0
    d_big = (2 * 1 + 1) / (4 + 1 + 1)  # S.T = 1, S^2 = 4, T^2 = 1
    d_small = (0 + 1) / (0 + 1 + 1)
    got = seg_loss([big, small], t).item()
    assert got == pytest.approx(1.0 * (1 - d_big) + 0.5 * (1 - d_small), abs=1e-6)


def test_focal_loss_eq3_gamma2() -> None:
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    want = -((1 - 0.7) ** 2) * math.log(0.7)
    assert focal_loss(logits, torch.tensor([0]), 2.0).item() == pytest.approx(want, rel=1e-5)
    assert focal_loss(logits, torch.tensor([0]), 0.0).item() == pytest.approx(-math.log(0.7), rel=1e-5)


def test_multitask_loss_eq4_and_single_task_branches() -> None:
    t = torch.zeros(1, 1, 2, 2)
    seg = [torch.full((1, 1, 2, 2), -50.0)]
    cls = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    lab = torch.tensor([0])
    ls = seg_loss(seg, t).item()
    lc = focal_loss(cls, lab).item()
    total, parts = multitask_loss(seg, cls, t, lab, lambda_seg=0.85)
    assert total.item() == pytest.approx(0.85 * ls + 0.15 * lc, rel=1e-6)
    assert set(parts) == {"seg", "cls"}
    assert multitask_loss(seg, None, t, lab)[0].item() == pytest.approx(ls)
    assert multitask_loss([], cls, t, lab)[0].item() == pytest.approx(lc)
