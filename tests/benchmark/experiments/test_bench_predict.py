"""``busi-bench predict`` against the run's own prediction path: for every (cls_head, head_norm) a tiny checkpoint is
saved and predict's masks and classes equal what the run scores (:func:`benchmark.evaluation.evaluate.evaluate_fold` on the
network built by :func:`benchmark.models.build_network`, post-processed by the run's
:class:`benchmark.inference.postprocess.Postprocess`, holes filled as the run fills them); folders are accepted; the
overlay carries a caption; the pixel count is the saved native-size mask's."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from benchmark.profiles import CLS_HEADS, HEAD_NORMS, resolve_config  # noqa: E402
from benchmark.training.checkpoint import save_checkpoint  # noqa: E402

SIZE = 64


def _images(folder: Path, n: int, size: tuple[int, int] | None = None, seed: int = 0) -> list[Path]:
    """``n`` speckled grey images with a dark blob (network size unless ``size``)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        h, w = size or (SIZE, SIZE)
        yy, xx = np.mgrid[0:h, 0:w]
        img = 120 + 60 * rng.random((h, w))
        r = ((yy - h * rng.uniform(0.3, 0.7)) ** 2 + (xx - w * rng.uniform(0.3, 0.7)) ** 2) ** 0.5
        img[r < min(h, w) * rng.uniform(0.1, 0.3)] *= 0.2
        p = folder / f"img{k}.png"
        Image.fromarray(img.astype(np.uint8)).save(p)
        out.append(p)
    return out


def _checkpoint(tmp_path: Path, **overrides) -> tuple[Path, object]:
    """A checkpoint of a freshly built ``mt-unetpp`` (smoke profile at 64 px) with ``overrides``."""
    from benchmark.models import build_network

    cfg = resolve_config("smoke", overrides={"model": "mt-unetpp", "image_size": SIZE, "device": "cpu", **overrides})
    model = build_network(cfg, torch.device("cpu"))
    with torch.no_grad():  # a non-trivial head: the tumour logit depends on the image
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        # lean the classifier to "benign" so that refining keeps the masks (a "normal" class clears them)
        bias = [p for n, p in model.named_parameters() if n.endswith("bias") and tuple(p.shape) == (3,)][-1]
        bias[0] += 2.0
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": cfg.to_dict()})
    return path, cfg


@pytest.mark.parametrize(("cls_head", "head_norm"), list(itertools.product(CLS_HEADS, HEAD_NORMS)))
def test_predict_gives_the_runs_masks_and_classes(tmp_path, cls_head, head_norm):
    from benchmark.data.samples import preprocess_image
    from benchmark.evaluation.evaluate import evaluate_fold
    from benchmark.experiments.predict import predict_images
    from benchmark.inference.postprocess import Postprocess
    from benchmark.models import build_network
    from benchmark.training.checkpoint import load_checkpoint
    from benchmark.training.train import predict
    from busi_curate.data.imageio import read_gray

    ck_path, cfg = _checkpoint(tmp_path, cls_head=cls_head, head_norm=head_norm, fill_holes=True, refine="paper")
    images = _images(tmp_path / "imgs", 6)
    rows = predict_images(ck_path, [tmp_path / "imgs"], tmp_path / "pred")  # a folder
    assert [Path(r["image"]).name for r in rows] == [p.name for p in images]
    masks = np.stack([np.asarray(Image.open(tmp_path / "pred" / r["mask"])) > 0 for r in rows])
    # the run's own path: the network built by training's builder, predictions scored by evaluate_fold
    model = build_network(cfg, torch.device("cpu"))
    model.load_state_dict(load_checkpoint(ck_path)["model"])
    x = torch.from_numpy(np.stack([preprocess_image(read_gray(p), SIZE, cfg.image_interp) for p in images]))
    pred = predict(model, x.unsqueeze(1), cfg, torch.device("cpu"))
    keys = [("benign", str(k)) for k in range(len(images))]
    labels = np.zeros(len(images), np.int64)
    post = Postprocess.of(cfg)
    assert post == Postprocess(cfg.threshold, fill_holes=True, rule="paper")
    res = evaluate_fold(keys, labels, masks, pred.seg_prob, pred.cls_prob, post)
    per = res["per_image"]
    assert list(per["dice"]) == [1.0] * len(images)  # predict's masks are the run's, pixel for pixel
    assert list(per["pred"]) == [r["class"] for r in rows]
    assert list(per["tumour_pixels"]) == [r["tumour_pixels"] for r in rows]
    assert [r["p_class"] for r in rows] == pytest.approx(
        [float(p[np.argmax(p)]) for p in pred.cls_prob], abs=1e-6
    ) or any(r["refine_action"] for r in rows)
    assert 0 < masks.sum() < masks.size  # not a trivial all-empty or all-full case


def test_predict_builds_from_the_saved_config_not_the_defaults(tmp_path):
    """A head other than the default must load: the old predict built ``build_model(model, task)`` without the
    saved ``cls_head`` / ``head_norm`` and failed on such checkpoints."""
    from benchmark.experiments.predict import predict_images

    ck_path, _ = _checkpoint(tmp_path, cls_head="authors", head_norm="instance")
    _images(tmp_path / "imgs", 2)
    rows = predict_images(ck_path, [tmp_path / "imgs"], tmp_path / "pred")
    assert len(rows) == 2 and all(r["class"] for r in rows)


def test_cli_folder_native_pixels_and_overlay_caption(tmp_path):
    from click.testing import CliRunner

    from benchmark.cli import main

    ck_path, _ = _checkpoint(tmp_path)
    _images(tmp_path / "imgs", 2, size=(150, 230), seed=4)
    r = CliRunner().invoke(main, ["predict", str(ck_path), str(tmp_path / "imgs"), "--out", str(tmp_path / "pred")])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if "tumour px at native size" in ln]
    assert len(lines) == 2
    for k, line in enumerate(lines):
        mask = np.asarray(Image.open(tmp_path / "pred" / f"img{k}_mask.png"))
        assert mask.shape == (150, 230)
        assert f", {int((mask > 0).sum())} tumour px at native size" in line
        overlay = Image.open(tmp_path / "pred" / f"img{k}_overlay.png")
        assert overlay.size[0] == 230 and overlay.size[1] > 150  # the caption band above the image
        band = np.asarray(overlay.convert("L"))[: overlay.size[1] - 150]
        assert (band > 200).sum() > 50  # the caption's text is drawn


def test_overlay_marks_a_mask_cleared_by_refining():
    from benchmark.experiments.predict import CLEARED, overlay_figure

    gray = np.full((80, 100), 90, np.uint8)
    cleared = np.zeros((80, 100), bool)
    cleared[20:50, 30:70] = True
    row = {"class": "normal", "p_class": 0.91, "tumour_pixels": 0, "refine_action": "mask cleared"}
    img = np.asarray(overlay_figure(gray, np.zeros_like(cleared), row, cleared))
    body = img[img.shape[0] - 80 :]
    assert ((body == CLEARED).all(axis=-1)).sum() > 50  # the cleared mask's outline, in orange
    assert ((img[: img.shape[0] - 80] == CLEARED).all(axis=-1)).sum() > 0  # and the caption says so, in orange
