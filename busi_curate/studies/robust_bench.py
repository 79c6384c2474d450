"""Robustness benchmark of the automatic review (``busi-curate bench-robust``): copies of a dataset's own images,
each changed by one common transformation, are planted into a temporary copy of the dataset; the automatic
pipeline (scan, assistant, the one walk of :mod:`busi_curate.review.auto`) runs on it and on the original, and
the benchmark reports

* recall per transformation: a planted copy is *found* when it ends in one same-frame group (grades
  ``identical`` / ``same-frame``) with its source; otherwise it is graded adjacent-frame, left as a question,
  or missed;
* new false groups: pairs of original images merged with the copies planted that the pipeline did not merge
  on the original dataset;
* the known adjacent-frame pairs (graded ``adjacent-frame`` on the original, or in a journal given): how the
  rule grades them in the planted dataset (they must stay adjacent-frame, never merged), plus synthetic
  neighbouring frames (``neighbour``: the source's anatomy with a new speckle realisation, moved a little),
  which must not be graded same-frame either.

Every transformation draws its parameters from the ranges of issue 10 with a generator seeded by ``seed``,
the transformation and the copy number, so a run is reproducible. The dataset is read in place and never
written: the copies and a copy of the originals go to a temporary folder.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.errors import CurateError

Transform = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, str]]


class BenchError(CurateError):
    """The robustness benchmark cannot run on this input."""


def _pil(img: np.ndarray) -> Any:
    """A PIL image of ``img`` (PIL is imported lazily)."""
    from PIL import Image

    return Image.fromarray(img)


def _mirror(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    return img[:, ::-1].copy(), "left-right"


def _rotate(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.transform import rotate

    ang = float(rng.uniform(3.0, 15.0) * rng.choice([-1, 1]))
    out = rotate(img, ang, resize=False, mode="constant", cval=0, preserve_range=True, order=1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), f"{ang:+.1f} deg"


def _gamma(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.exposure import adjust_gamma

    g = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    return adjust_gamma(img, g), f"gamma {g:.2f}"


def _brightness(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    d = float(rng.uniform(25, 60) * rng.choice([-1, 1]))
    return np.clip(img.astype(np.float64) + d, 0, 255).astype(np.uint8), f"{d:+.0f} gray levels"


def _contrast(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    c = float(rng.choice([rng.uniform(0.5, 0.75), rng.uniform(1.3, 1.8)]))
    m = float(img.mean())
    return np.clip((img.astype(np.float64) - m) * c + m, 0, 255).astype(np.uint8), f"contrast x{c:.2f}"


def _histeq(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from skimage.exposure import equalize_hist

    return np.clip(np.rint(equalize_hist(img) * 255), 0, 255).astype(np.uint8), "histogram equalisation"


def _speckle(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from scipy import ndimage

    sd = float(rng.uniform(0.25, 0.5))
    noise = ndimage.gaussian_filter(rng.normal(0, 1, img.shape), 0.7)
    noise *= sd / max(float(noise.std()), 1e-9)
    return np.clip(img.astype(np.float64) * (1 + noise), 0, 255).astype(np.uint8), f"multiplicative sd {sd:.2f}"


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    import io

    from PIL import Image

    q = int(rng.integers(30, 61))
    buf = io.BytesIO()
    _pil(img).save(buf, format="JPEG", quality=q)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L")).copy(), f"quality {q}"


def _crop(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    h, w = img.shape
    fy, fx = float(rng.uniform(0.55, 0.85)), float(rng.uniform(0.55, 0.85))
    ch, cw = round(h * fy), round(w * fx)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return img[y0 : y0 + ch, x0 : x0 + cw].copy(), f"{fx:.0%} x {fy:.0%} at ({x0}, {y0})"


def _rescale(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from PIL import Image

    s = float(rng.choice([rng.uniform(0.4, 0.8), rng.uniform(1.25, 2.0)]))
    h, w = img.shape
    size = (max(16, round(w * s)), max(16, round(h * s)))
    return np.asarray(_pil(img).resize(size, Image.Resampling.BILINEAR)).copy(), f"x{s:.2f}"


def _pad(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    h, w = img.shape
    if rng.random() < 0.5:  # letterbox: bands above and below
        t, b = (int(rng.uniform(0.1, 0.3) * h) for _ in range(2))
        lft = rgt = 0
    else:
        lft, rgt, t, b = (int(rng.uniform(0.05, 0.25) * s) for s in (w, w, h, h))
    out = np.zeros((h + t + b, w + lft + rgt), np.uint8)
    out[t : t + h, lft : lft + w] = img
    return out, f"black bands l{lft} r{rgt} t{t} b{b} px"


def _text(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    from PIL import ImageDraw

    h, w = img.shape
    im = _pil(img.copy())
    d = ImageDraw.Draw(im)
    words = ["RT BREAST", "LT 10 O'CLOCK", "4CM FN", "TRANS", "SAG", "LESION 1", "L12-5", "DEPTH 4.0"]
    n = int(rng.integers(2, 5))
    for _ in range(n):
        x, y = int(rng.integers(0, max(1, w - 90))), int(rng.integers(0, max(1, h - 14)))
        d.text((x, y), str(rng.choice(words)), fill=255)
    for _ in range(2):  # a caliper pair: two crosses and a dotted line between them
        x0, y0 = int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5))
        x1, y1 = x0 + int(rng.integers(-60, 61)), y0 + int(rng.integers(-40, 41))
        for cx, cy in ((x0, y0), (x1, y1)):
            d.line([(cx - 5, cy), (cx + 5, cy)], fill=255)
            d.line([(cx, cy - 5), (cx, cy + 5)], fill=255)
        for k in range(0, 20, 2):
            px, py = x0 + (x1 - x0) * k / 20, y0 + (y1 - y0) * k / 20
            d.point((px, py), fill=255)
    return np.asarray(im).copy(), f"{n} text labels + 2 calipers"


def _neighbour(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Not a copy: a sweep's next frame. The tissue is deformed by a smooth displacement field (structures move
    relative to each other by up to ``amp`` px) and a fraction ``mix`` of the speckle is new: the anatomy (the
    deformed frame smoothed at ``grain * 3`` px) times a fresh speckle realisation of BUSI's grain (``grain`` px,
    about 0.4% of the frame width: finer speckle would vanish in the 256 px working image and stay the old one)."""
    from scipy import ndimage

    h, w = img.shape
    amp, mix = float(rng.uniform(4, 8)), float(rng.uniform(0.3, 0.9))
    grain = max(1.0, 0.004 * max(h, w))
    field = [ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), min(h, w) / 10) for _ in range(2)]
    field = [f * amp / max(float(np.abs(f).max()), 1e-9) for f in field]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    moved = ndimage.map_coordinates(img.astype(np.float64), [yy + field[0], xx + field[1]], order=1, mode="nearest")
    anatomy = ndimage.gaussian_filter(moved, 3 * grain)
    speckle = ndimage.gaussian_filter(rng.rayleigh(1.0, (h, w)), grain)
    speckle = 1 + (speckle - speckle.mean()) * (0.35 / max(float(speckle.std()), 1e-9))  # contrast of BUSI speckle
    fresh = anatomy * speckle
    frame = (1 - mix) * moved + mix * fresh
    return np.clip(frame, 0, 255).astype(np.uint8), f"tissue moved up to {amp:.1f} px, {mix:.0%} new speckle"


#: transformation name -> function(image, rng) -> (copy, parameters). All are copies of the same frame except
#: ``neighbour`` (expected: never same-frame). ``cross-class`` copies are one of the others filed in another class.
TRANSFORMS: dict[str, Transform] = {
    "mirror": _mirror,
    "rotate": _rotate,
    "gamma": _gamma,
    "brightness": _brightness,
    "contrast": _contrast,
    "histeq": _histeq,
    "speckle": _speckle,
    "jpeg": _jpeg,
    "crop": _crop,
    "rescale": _rescale,
    "pad": _pad,
    "text": _text,
}
NOT_COPIES = {"neighbour": _neighbour}


@dataclass(frozen=True)
class Planted:
    """One planted image: ``copy`` is ``kind`` (with ``params``) applied to ``source``."""

    kind: str
    source_class: str
    source_id: str
    copy_class: str
    copy_id: str
    params: str


@dataclass
class RobustResult:
    """What :func:`bench_robust` measured."""

    planted: list[dict[str, Any]] = field(default_factory=list)  # one row per planted image with its outcome
    recall: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> {found, adjacent, question, missed}
    false_groups: list[list[str]] = field(default_factory=list)  # original pairs merged only with the copies
    adjacent: dict[str, int] = field(default_factory=dict)  # grade of the known adjacent-frame pairs -> count
    adjacent_pairs: list[dict[str, str]] = field(default_factory=list)
    questions: dict[str, int] = field(default_factory=dict)  # questions left: original run / planted run
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _copy_dataset(data_dir: Path, dst: Path) -> tuple[Path, list[tuple[str, str]]]:
    """Copy the image and mask files of a BUSI-layout dataset (read in place) to ``dst``; returns (root, keys)."""
    from busi_curate.data.dataset import load_dataset

    ds = load_dataset(data_dir)
    if ds.layout != "busi":
        raise BenchError(f"bench-robust needs a BUSI-layout dataset (class folders of 'class (id).png'): {data_dir}")
    keys = []
    for rec in ds.records:
        rel_dir = dst / "Dataset_BUSI_with_GT" / rec.cls
        rel_dir.mkdir(parents=True, exist_ok=True)
        for rel in (rec.image, *rec.masks):
            p = Path(ds.root) / rel
            shutil.copyfile(p, rel_dir / p.name)
        keys.append((rec.cls, rec.id))
    return dst, keys


def plant(
    data_dir: str | Path, out: str | Path, n: int = 3, seed: int = 0, kinds: tuple[str, ...] | None = None
) -> list[Planted]:
    """Write a copy of ``data_dir`` to ``out`` with ``n`` copies per transformation (+ ``n`` cross-class copies and
    ``n`` synthetic neighbouring frames); returns what was planted (also written to ``out/planted.csv``)."""
    import pandas as pd

    from busi_curate.data.imageio import read_gray, read_mask_union
    from busi_curate.fileio import write_csv

    out = Path(out)
    _, keys = _copy_dataset(Path(data_dir), out)
    classes = sorted({c for c, _ in keys})
    next_id = {c: max(int(i) for k, i in keys if k == c and i.isdigit()) + 1 for c in classes}
    kinds = tuple(kinds or TRANSFORMS)
    table = {**TRANSFORMS, **NOT_COPIES}
    jobs = [(k, c) for k in (*kinds, "cross-class", "neighbour") for c in range(n)]
    if len(jobs) > len(keys):
        raise BenchError(
            f"{data_dir}: {len(keys)} images, but {len(jobs)} planted copies need as many distinct sources; "
            "use a smaller --n"
        )
    if any(k not in TRANSFORMS for k in kinds):
        raise BenchError(
            f"unknown transformation(s) {sorted(set(kinds) - set(TRANSFORMS))}; known: {sorted(TRANSFORMS)}"
        )
    root = out / "Dataset_BUSI_with_GT"
    planted: list[Planted] = []
    used: set[tuple[str, str]] = set()
    for kind, copy_no in jobs:
        rng = np.random.default_rng([seed, sum(map(ord, kind)), copy_no])
        while True:  # each source is used once, so the planted pairs do not chain into each other
            src = keys[int(rng.integers(len(keys)))]
            if src not in used:
                used.add(src)
                break
        cls, id_ = src
        img = read_gray(root / cls / f"{cls} ({id_}).png")
        mask = read_mask_union([p for p in (root / cls).glob(f"{cls} ({id_})_mask*.png")], img.shape)
        name, target_cls = kind, cls
        if kind == "cross-class":
            name = str(rng.choice(sorted(TRANSFORMS)))
            target_cls = str(rng.choice([c for c in classes if c != cls]))
        copy, params = table[name](img, rng)
        if kind == "cross-class":
            params = f"{name} {params}, filed as {target_cls}"
        new_id = str(next_id[target_cls])
        next_id[target_cls] += 1
        _write_png(root / target_cls / f"{target_cls} ({new_id}).png", copy)
        m = np.asarray(_pil(mask.astype(np.uint8) * 255).resize(copy.shape[::-1]))  # same size as the copy
        _write_png(root / target_cls / f"{target_cls} ({new_id})_mask.png", m)
        planted.append(Planted(kind, cls, id_, target_cls, new_id, params))
    write_csv(out / "planted.csv", pd.DataFrame([asdict(p) for p in planted]))
    return planted


def _write_png(path: Path, arr: np.ndarray) -> None:
    from busi_curate.fileio import atomic_open

    with atomic_open(path, "wb") as fh:
        _pil(np.ascontiguousarray(arr)).save(fh, format="PNG")


def automatic_review(
    data_dir: Path, scan_dir: Path, feature_dir: Path, scan_settings: Any, workers: int = 2
) -> tuple[Any, Any, list[Any], Any]:
    """Scan ``data_dir`` and run the automatic pass (no journal); returns (scan, assistant, decisions, summary)."""
    from busi_curate.assistant import Assistant, AssistantSettings
    from busi_curate.review.auto import collect, run_auto
    from busi_curate.review.walk import Walk
    from busi_curate.scan.run import read_scan, run_scan

    run_scan(data_dir, scan_dir, scan_settings)
    scan = read_scan(scan_dir)
    assistant = Assistant(scan, cache_dir=feature_dir, settings=AssistantSettings(workers=workers))
    decisions: list[Any] = []
    walk = Walk(scan, (), assistant.settings.threshold, extra_pairs=assistant.extra_pairs())
    summary = run_auto(walk, assistant, collect(decisions))
    return scan, assistant, decisions, summary


def _same_frame_roots(decisions: list[Any]) -> Any:
    from busi_curate.review.groups import SAME_FRAME_GRADES, UnionFind

    uf = UnionFind()
    for d in decisions:
        if d.answer == "same" and d.grade in SAME_FRAME_GRADES:
            uf.union(d.reference, d.candidate)
    return uf


def bench_robust(
    data_dir: str | Path,
    n: int = 3,
    seed: int = 0,
    out: str | Path | None = None,
    journal: str | Path | None = None,
    scan_size: int = 128,
    workers: int = 2,
    kinds: tuple[str, ...] | None = None,
) -> RobustResult:
    """Plant, run the automatic review on the original and the planted dataset, and compare (module docstring).

    Args:
        data_dir: a BUSI-layout dataset (read only).
        n: copies per transformation.
        out: a folder to keep the planted dataset and scans in (default: a temporary folder, removed).
        journal: a review journal of the original dataset; its ``adjacent-frame`` pairs join the known ones.
        scan_size: SSIM thumbnail size of both scans (exhaustive, numba backend).
    """
    from busi_curate.review.journal import effective, read_journal
    from busi_curate.scan.run import ScanSettings

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchError(f"{data_dir}: not a folder")
    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-robust-")
        work = Path(tmp.name)
    else:
        work = Path(out)
        work.mkdir(parents=True, exist_ok=True)
    res = RobustResult(settings={"n": n, "seed": seed, "scan_size": scan_size, "data_dir": str(data_dir)})
    settings = ScanSettings(size=scan_size, backend="numba", mode="exhaustive", top_k=10)
    try:
        t0 = time.perf_counter()
        planted = plant(data_dir, work / "planted", n=n, seed=seed, kinds=kinds)
        res.seconds["plant"] = time.perf_counter() - t0
        feats = work / "features"
        t0 = time.perf_counter()
        _, _, base_dec, base_sum = automatic_review(data_dir, work / "scan-original", feats, settings, workers)
        res.seconds["original"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        scan, assistant, dec, summ = automatic_review(work / "planted", work / "scan-planted", feats, settings, workers)
        res.seconds["planted"] = time.perf_counter() - t0
        res.questions = {"original": base_sum.uncertain, "planted": summ.uncertain}
        uf = _same_frame_roots(dec)
        standing = effective(dec)
        for p in planted:
            a, b = (p.source_class, p.source_id), (p.copy_class, p.copy_id)
            [ass] = assistant.assess([(scan.row_of(*a), scan.row_of(*b))])
            d = standing.get((a, b) if a <= b else (b, a))
            if uf.connected(a, b):
                outcome = "found"
            elif d is not None and d.answer == "same":
                outcome = "adjacent"
            elif d is None and ass.verdict == "uncertain":
                outcome = "question"
            else:
                outcome = "missed"
            res.planted.append({**asdict(p), "outcome": outcome, "verdict": ass.verdict, "grade": ass.grade,
                                "evidence": ass.evidence})  # fmt: skip
            kind = p.kind
            row = res.recall.setdefault(kind, dict.fromkeys(("found", "adjacent", "question", "missed"), 0))
            row[outcome] += 1
        # new false groups: original images merged now but not in the original run
        base_uf = _same_frame_roots(base_dec)
        copies = {(p.copy_class, p.copy_id) for p in planted}
        originals = [k for k in {d.reference for d in dec} | {d.candidate for d in dec} if k not in copies]
        by_root: dict[Any, list[Any]] = {}
        for k in originals:
            by_root.setdefault(uf.find(k), []).append(k)
        for members in by_root.values():
            members.sort()
            for i, x in enumerate(members):
                for y in members[i + 1 :]:
                    if not base_uf.connected(x, y):
                        res.false_groups.append([f"{x[0]} {x[1]}", f"{y[0]} {y[1]}"])
        # the known adjacent-frame pairs, assessed in the planted dataset
        known = {pair for pair, d in effective(base_dec).items() if d.answer == "same" and d.grade == "adjacent-frame"}
        if journal is not None:
            jd = effective(read_journal(journal))
            known |= {pair for pair, d in jd.items() if d.answer == "same" and d.grade == "adjacent-frame"}
        for a, b in sorted(known):
            [ass] = assistant.assess([(scan.row_of(*a), scan.row_of(*b))])
            grade = "same-frame (merged)" if uf.connected(a, b) else (ass.grade or ass.verdict)
            res.adjacent[grade] = res.adjacent.get(grade, 0) + 1
            res.adjacent_pairs.append({"a": f"{a[0]} {a[1]}", "b": f"{b[0]} {b[1]}", "grade": grade,
                                       "evidence": ass.evidence})  # fmt: skip
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res


def table(res: RobustResult) -> str:
    """The result as Markdown (recall per transformation, false groups, adjacent frames)."""
    lines = ["| transformation | planted | found (same-frame group) | adjacent-frame | question | missed |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    tot = dict.fromkeys(("found", "adjacent", "question", "missed"), 0)
    for kind, row in res.recall.items():
        n = sum(row.values())
        if kind not in NOT_COPIES:
            for k in tot:
                tot[k] += row[k]
        label = f"{kind} (not a copy: found = wrongly merged)" if kind in NOT_COPIES else kind
        lines.append(f"| {label} | {n} | {row['found']} | {row['adjacent']} | {row['question']} | {row['missed']} |")
    copies = sum(tot.values())
    lines.append(
        f"| **all copies** | {copies} | **{tot['found']}** ({tot['found'] / max(copies, 1):.0%}) | {tot['adjacent']} | "
        f"{tot['question']} | {tot['missed']} |"
    )
    lines.append("")
    lines.append(f"new false groups: {len(res.false_groups)}" + (f" {res.false_groups}" if res.false_groups else ""))
    adj = ", ".join(f"{g} {c}" for g, c in sorted(res.adjacent.items())) or "none known"
    merged = res.adjacent.get("same-frame (merged)", 0)
    lines.append(
        f"known adjacent-frame pairs ({sum(res.adjacent.values())}), graded in the planted set: {adj}; "
        f"merged into a same-frame group: {merged}"
    )
    lines.append(f"questions left for a person: original {res.questions.get('original')}, "
                 f"planted {res.questions.get('planted')}")  # fmt: skip
    return "\n".join(lines)
