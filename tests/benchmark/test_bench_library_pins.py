"""Our metrics, soft Dice and augmentations pinned to the field's libraries (scikit-learn, MONAI)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
monai = pytest.importorskip("monai")

from sklearn import metrics as skm  # noqa: E402

from benchmark.evaluation.metrics import accuracy, confusion_matrix, dice_batch, f1_scores, seg_scores, weighted_f1  # noqa: E402
from benchmark.models.losses import soft_dice  # noqa: E402
from benchmark.training.augment import MonaiAugment, TorchAugment  # noqa: E402


@pytest.mark.parametrize("seed", range(6))
def test_classification_metrics_equal_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    y_true = rng.integers(0, 3, n)
    y_pred = rng.integers(0, 3 if seed % 2 else 2, n)  # odd seeds: a class never predicted
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]))
    np.testing.assert_allclose(
        f1_scores(cm), skm.f1_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    )
    assert weighted_f1(cm) == pytest.approx(
        skm.f1_score(y_true, y_pred, labels=[0, 1, 2], average="weighted", zero_division=0)
    )
    assert accuracy(cm) == pytest.approx(skm.accuracy_score(y_true, y_pred))


def _masks(rng: np.random.Generator, n: int, size: int = 24) -> np.ndarray:
    out = np.zeros((n, size, size), bool)
    for m in out:
        y, x = rng.integers(0, size - 6, 2)
        h, w = rng.integers(3, 10, 2)
        m[y : y + h, x : x + w] = True
        m ^= rng.random((size, size)) < 0.05
    return out


@pytest.mark.parametrize("seed", range(4))
def test_dice_equals_monai_dice_metric(seed):
    from monai.metrics import DiceMetric

    rng = np.random.default_rng(seed)
    pred, gt = _masks(rng, 8), _masks(rng, 8)
    pred[0] = gt[0] = False  # both empty: 1 under the paper's convention and MONAI's ignore_empty=False
    gt[1] = False  # one empty: 0
    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    ref = metric(torch.from_numpy(pred[:, None]).float(), torch.from_numpy(gt[:, None]).float()).numpy()[:, 0]
    np.testing.assert_allclose(dice_batch(pred, gt), ref, atol=1e-6)
    np.testing.assert_allclose([seg_scores(p, g).dice for p, g in zip(pred, gt)], ref, atol=1e-6)


@pytest.mark.parametrize("eps", [1.0, 1e-5])
def test_soft_dice_equals_monai_squared_dice(eps):
    from monai.losses import DiceLoss

    gen = torch.Generator().manual_seed(3)
    prob = torch.rand(5, 1, 16, 16, generator=gen)
    target = (torch.rand(5, 1, 16, 16, generator=gen) > 0.6).float()
    target[0] = 0
    loss = DiceLoss(squared_pred=True, smooth_nr=eps, smooth_dr=eps, reduction="none")(prob, target)
    torch.testing.assert_close(1 - soft_dice(prob, target, eps), loss.flatten(), rtol=1e-5, atol=1e-6)


def _aligned_batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    masks = torch.from_numpy(_masks(rng, 6, 32)[:, None].astype(np.float32))
    return masks.clone(), masks  # the image IS its mask: any misalignment shows as a difference


@pytest.mark.parametrize(
    "make", [lambda: TorchAugment(torch.device("cpu"), "nearest"), lambda: MonaiAugment("nearest")]
)
def test_augmentation_keeps_image_and_mask_aligned(make):
    aug = make()
    changed = 0
    for seed in range(4):
        aug.reseed(seed)
        images, masks = _aligned_batch()
        out_i, out_m = aug(images, masks)
        assert out_i.shape == images.shape and out_m.shape == masks.shape
        torch.testing.assert_close(out_i, out_m)
        changed += int(not torch.equal(out_m, masks))
    assert changed > 0  # the augmentation did move things


@pytest.mark.parametrize("make", [lambda: TorchAugment(torch.device("cpu")), lambda: MonaiAugment()])
def test_augmentation_is_reproducible_from_its_seed(make):
    a, b = make(), make()
    images, masks = _aligned_batch()
    a.reseed(7)
    b.reseed(7)
    for x, y in zip(a(images, masks), b(images, masks)):
        torch.testing.assert_close(x, y)
