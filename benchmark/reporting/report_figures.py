"""Figures of ``busi-bench report``: learning curves per run and the Fig. 6-style qualitative grid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.inference.postprocess import Postprocess
from benchmark.profiles import SEG_TASKS
from busi_curate.fileio import atomic_open


def _save(fig: Any, path: Path) -> Path:
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=150, bbox_inches="tight")
    return path


def learning_curves(runs: Sequence[Any], out: Path) -> list[Path]:
    """``out/<run>.png`` per run: training and validation loss, validation DSC and accuracy per epoch, per fold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for run in runs:
        hist = [(f["fold"], f.get("history") or []) for f in run.folds]
        if not any(h for _, h in hist):
            continue
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        for fold, h in hist:
            ep = [r["epoch"] for r in h]
            axes[0].plot(ep, [r.get("train_loss") for r in h], label=f"fold {fold} train", alpha=0.8)
            axes[0].plot(ep, [r.get("val_loss") for r in h], "--", label=f"fold {fold} val", alpha=0.8)
            if any("val_dsc" in r for r in h):
                axes[1].plot(ep, [r.get("val_dsc") for r in h], label=f"fold {fold}")
            if any("val_acc" in r for r in h):
                axes[2].plot(ep, [r.get("val_acc") for r in h], label=f"fold {fold}")
        for ax, t in zip(axes, ("loss", "validation DSC (unrefined)", "validation accuracy")):
            ax.set_title(t)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=6, ncol=2)
        cfg = run.config
        fig.suptitle(
            f"{run.name}: {cfg.get('model')} task {cfg.get('task')}, profile {cfg.get('profile')} "
            f"({cfg.get('image_size')} px, {cfg.get('epochs')} epochs max)",
            fontsize=9,
        )
        written.append(_save(fig, out / f"{run.name}.png"))
        plt.close(fig)
    return written


def fig6_grid(
    runs: Sequence[Any],
    entries: Sequence[Any],
    cases: Sequence[tuple[str, str]],
    out: Path,
    data_dir: str | Path | None = None,
) -> list[Path]:
    """``out/fig6.png``: per case the image (when ``data_dir`` is given), its ground truth and each segmenting
    configuration's mask (thresholded, after the configuration's refining)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seg_entries = [e for e in entries if e.run.config.get("task") in SEG_TASKS]
    if not seg_entries:
        return []

    def prediction(entry: Any, key: tuple[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
        for f in entry.run.folds:
            z = np.load(entry.run.path / f"fold{f['fold']}" / "predictions.npz", allow_pickle=False)
            keys = [str(k) for k in z["keys"]]
            name = f"{key[0]} {key[1]}"
            if name in keys:
                i = keys.index(name)
                prob = z["seg_prob_u8"][i : i + 1].astype(np.float32) / 255.0
                cls = z["cls_prob"][i : i + 1] if entry.scoring == "after" and "cls_prob" in z else None
                out = Postprocess.of(entry.run.config)([key], prob, cls)  # the masks the entry was scored on
                mask = (out.masks if entry.scoring == "after" else out.raw_masks)[0]  # type: ignore[index]
                return mask, z["gt_u8"][i] if "gt_u8" in z else np.zeros_like(mask)
        return None

    image_of = _image_loader(seg_entries[0].run, data_dir)
    rows = [c for c in cases if prediction(seg_entries[0], c) is not None]
    if not rows:
        return []
    ncol = 2 + len(seg_entries)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.6 * ncol, 1.7 * len(rows)), squeeze=False)
    for r, key in enumerate(rows):
        gt = prediction(seg_entries[0], key)[1]  # type: ignore[index]
        img = image_of(key, gt.shape[-1]) if image_of else None
        panels = [("US image", img), ("Ground truth", gt)] + [
            (e.label, (prediction(e, key) or (None,))[0]) for e in seg_entries
        ]
        for c, (title, arr) in enumerate(panels):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if arr is not None:
                ax.imshow(arr, cmap="gray", vmin=0, vmax=1)
            if r == 0:
                ax.set_title(title, fontsize=6)
            if c == 0:
                ax.set_ylabel(f"{key[0]} {key[1]}", fontsize=7)
    path = _save(fig, out / "fig6.png")
    plt.close(fig)
    return [path]


def _image_loader(run: Any, data_dir: str | Path | None) -> Any:
    if data_dir is None:
        return None
    from benchmark.data.samples import preprocess_image
    from busi_curate.data.imageio import read_gray
    from busi_curate.publish.manifest import read_manifest

    manifest = read_manifest(run.provenance["inputs"]["manifest"])

    def load(key: tuple[str, str], size: int) -> np.ndarray | None:
        row = manifest.get(key)
        if row is None:
            return None
        return preprocess_image(read_gray(Path(data_dir) / row.image), size)

    return load
