"""Distinct synthetic ultrasound frames at scale, with planted copies and neighbouring frames (ground truth).

Unlike :func:`busi_curate.studies.ssim_bench.synthetic_thumbnails` (N images cut from N/8 base frames),
every image here is its own base frame (layers, speckle, a lesion with its posterior shadow or enhancement:
:func:`busi_curate.data.synthetic._frame`), except the planted ones:

* copies: one of :data:`busi_curate.studies.robust_bench.TRANSFORMS` (mirror, rotate, gamma, brightness,
  contrast, histogram equalisation, speckle, JPEG, crop, rescale, padding, text/calipers) of a base frame,
  plus ``exact`` copies and ``cross-class`` copies (a transformation filed under another class);
* neighbours: the base's anatomy deformed with new speckle (``robust_bench._neighbour``), which must never be
  merged with its source.

Each image is a function of ``(seed, index)`` alone, so the set is the same whatever the number of workers.
Written in the BUSI layout (``Dataset_BUSI_with_GT/<class>/<class> (<id>).png`` + ``_mask.png``), with
``planted.csv`` (``kind, source_class, source_id, copy_class, copy_id, params``) and ``scale.json`` (``n``, ``seed``,
the tool's version; written last, so its presence says the set is complete) beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ("benign", "malignant", "normal")
#: share of the base frames per class (about BUSI's 437 / 210 / 133).
CLASS_SHARE = (0.56, 0.27, 0.17)
#: planted copies per 1,000 images, and neighbouring frames per 1,000 images.
COPIES_PER_1000 = 20
NEIGHBOURS_PER_1000 = 5
COPY_KINDS = ("exact", "mirror", "rotate", "gamma", "brightness", "contrast", "histeq", "speckle", "jpeg", "crop",
              "rescale", "pad", "text", "cross-class")  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What image ``index`` is: a base frame, or ``kind`` applied to base ``source``."""

    index: int
    cls: str
    kind: str  # "base", a copy kind, or "neighbour"
    source: int = -1
    source_cls: str = ""


def plan(n: int, seed: int = 0) -> list[Plan]:
    """The role of each of ``n`` images: bases first, then the planted copies and neighbours (distinct sources)."""
    n_copy = max(len(COPY_KINDS), n * COPIES_PER_1000 // 1000)
    n_neigh = max(2, n * NEIGHBOURS_PER_1000 // 1000)
    n_base = n - n_copy - n_neigh
    if n_base < n_copy + n_neigh:
        raise ValueError(f"--n {n} is too small: at least {2 * (n_copy + n_neigh)} images are needed")
    rng = np.random.default_rng([seed, 1])
    classes = rng.choice(len(CLASSES), size=n_base, p=CLASS_SHARE)
    out = [Plan(i, CLASSES[int(c)], "base") for i, c in enumerate(classes)]
    sources = rng.choice(n_base, size=n_copy + n_neigh, replace=False)  # each source planted once: no chains
    for k, src in enumerate(sources.tolist()):
        kind = COPY_KINDS[k % len(COPY_KINDS)] if k < n_copy else "neighbour"
        cls = out[src].cls
        if kind == "cross-class":
            cls = CLASSES[(CLASSES.index(cls) + 1 + int(rng.integers(2))) % 3]
        out.append(Plan(n_base + k, cls, kind, int(src), out[src].cls))
    return out


def base_frame(seed: int, index: int, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """Base frame ``index``: ``(h, w) uint8`` image (h 180-260, w 220-320) and its lesion mask."""
    from busi_curate.data.synthetic import _frame

    rng = np.random.default_rng([seed, 2, index])
    h, w = int(rng.integers(180, 261)), int(rng.integers(220, 321))
    return _frame(rng, h, w, None if cls == "normal" else cls)


def make_image(seed: int, p: Plan) -> tuple[np.ndarray, np.ndarray, str]:
    """Pixels, mask and parameters of planned image ``p``."""
    from PIL import Image

    from busi_curate.studies.robust_bench import NOT_COPIES, TRANSFORMS

    if p.kind == "base":
        img, mask = base_frame(seed, p.index, p.cls)
        return img, mask, ""
    img, mask = base_frame(seed, p.source, p.source_cls)
    rng = np.random.default_rng([seed, 3, p.index])
    if p.kind == "exact":
        return img, mask, "exact copy"
    name = p.kind
    if p.kind == "cross-class":
        name = str(rng.choice(sorted(TRANSFORMS)))
    fn: Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]] = {**TRANSFORMS, **NOT_COPIES}[name]
    out, params = fn(img, rng)
    # PIL takes (width, height); a transform may return an RGB file (clahe-tint), (H, W, 3)
    m = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((out.shape[1], out.shape[0]))) > 0
    return out, m, (f"{name} {params}" if p.kind == "cross-class" else params)


def _write_chunk(args: tuple[Path, int, list[Plan], list[int]]) -> list[str]:
    root, seed, plans, ids = args
    from PIL import Image

    params = []
    for p, id_ in zip(plans, ids):
        img, mask, par = make_image(seed, p)
        stem = root / p.cls / f"{p.cls} ({id_})"
        Image.fromarray(img).save(stem.with_name(stem.name + ".png"), compress_level=1)
        Image.fromarray(mask.astype(np.uint8) * 255).save(stem.with_name(stem.name + "_mask.png"), compress_level=1)
        params.append(par)
    return params


def write_scale_dataset(
    out: str | Path, n: int, seed: int = 0, workers: int = 2, progress: Callable[[int], None] | None = None
) -> list[dict[str, str]]:
    """Write ``n`` images (:func:`plan`) under ``out/Dataset_BUSI_with_GT`` and ``out/planted.csv``.

    Returns:
        The planted rows (copies and neighbours) as dicts, the content of ``planted.csv``.
    """
    import pandas as pd

    from busi_curate import __version__
    from busi_curate.fileio import write_csv, write_json

    plans = plan(n, seed)
    root = Path(out) / "Dataset_BUSI_with_GT"
    for c in CLASSES:
        (root / c).mkdir(parents=True, exist_ok=True)
    counters = dict.fromkeys(CLASSES, 0)
    ids = []
    for p in plans:
        counters[p.cls] += 1
        ids.append(counters[p.cls])
    chunk = 256
    jobs = [(root, seed, plans[s : s + chunk], ids[s : s + chunk]) for s in range(0, n, chunk)]
    params: list[str] = []
    with ProcessPoolExecutor(max(1, workers)) as pool:
        for job, res in zip(jobs, pool.map(_write_chunk, jobs)):
            params.extend(res)
            if progress is not None:
                progress(len(job[2]))
    rows = []
    for p, id_, par in zip(plans, ids, params):
        if p.kind != "base":
            src = plans[p.source]
            rows.append({"kind": p.kind, "source_class": src.cls, "source_id": str(ids[p.source]),
                         "copy_class": p.cls, "copy_id": str(id_), "params": par})  # fmt: skip
    write_csv(Path(out) / "planted.csv", pd.DataFrame(rows))
    write_json(Path(out) / "scale.json", {"tool": "busi-curate", "version": __version__, "n": n, "seed": seed})
    return rows
