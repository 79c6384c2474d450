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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.errors import CurateError
from busi_curate.studies.robust_transforms import CROSS_CLASS, NOT_COPIES, TRANSFORMS, Transform, _pil

__all__ = ["CROSS_CLASS", "NOT_COPIES", "TRANSFORMS", "Transform", "bench_robust", "plant", "table"]


class BenchError(CurateError):
    """The robustness benchmark cannot run on this input."""


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
    jobs = [(k, c) for k in (*kinds, *CROSS_CLASS, "neighbour") for c in range(n)]
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
        if kind in CROSS_CLASS:
            name = CROSS_CLASS[kind] or str(rng.choice(sorted(TRANSFORMS)))
            target_cls = str(rng.choice([c for c in classes if c != cls]))
        copy, params = table[name](img, rng)
        if kind in CROSS_CLASS:
            params = f"{name} {params}, filed as {target_cls}"
        new_id = str(next_id[target_cls])
        next_id[target_cls] += 1
        _write_png(root / target_cls / f"{target_cls} ({new_id}).png", copy)
        m = np.asarray(_pil(mask.astype(np.uint8) * 255).resize(copy.shape[1::-1]))  # same size as the copy
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
        _grade_planted(res, planted, scan, assistant, dec, uf)
        _new_false_groups(res, planted, dec, uf, base_dec)
        _grade_known_adjacent(res, base_dec, journal, scan, assistant, uf)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return res


def _grade_planted(res: RobustResult, planted: list[Any], scan: Any, assistant: Any, dec: list[Any], uf: Any) -> None:
    """Each planted copy's outcome (found / adjacent / question / missed) in ``res.planted`` and ``res.recall``."""
    from busi_curate.review.journal import effective

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


def _new_false_groups(res: RobustResult, planted: list[Any], dec: list[Any], uf: Any, base_dec: list[Any]) -> None:
    """New false groups in ``res.false_groups``: original images merged now but not in the original run."""
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


def _grade_known_adjacent(
    res: RobustResult, base_dec: list[Any], journal: str | Path | None, scan: Any, assistant: Any, uf: Any
) -> None:
    """The known adjacent-frame pairs (the original run's and the journal's), assessed in the planted dataset,
    in ``res.adjacent`` and ``res.adjacent_pairs``."""
    from busi_curate.review.journal import effective, read_journal

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


def _outcome(rows: list[dict[str, Any]], kinds: list[str]) -> dict[str, int]:
    tot = dict.fromkeys(("found", "adjacent", "question", "missed"), 0)
    for r in rows:
        for kind in kinds:
            for k in tot:
                tot[k] += r["recall"].get(kind, {}).get(k, 0)
    return tot


def seeds_table(results: list[dict[str, Any]], in_sample: set[int]) -> str:
    """Markdown of several :func:`bench_robust` results (``--json`` files): one row per run, then the outcome per
    transformation summed over the runs, with the runs whose seed is in ``in_sample`` (the bounds were set on them)
    kept apart from the others (out-of-sample)."""
    lines = ["| data | seed | N | bounds | copies found | adjacent-frame | question | not reached or different "
             "| new false groups | neighbours merged | known adjacent pairs merged | questions (original / planted) "
             "| wall |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    groups: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for r in sorted(results, key=lambda r: (r["settings"]["seed"] not in in_sample, r["settings"]["seed"])):
        st = r["settings"]
        inside = st["seed"] in in_sample
        groups[inside].append(r)
        copies = [k for k in r["recall"] if k not in NOT_COPIES]
        t = _outcome([r], copies)
        nb = r["recall"].get("neighbour", {})
        merged = r["adjacent"].get("same-frame (merged)", 0)
        name = Path(st["data_dir"]).name
        name = Path(st["data_dir"]).parent.name if name == "data" else name  # the synthetic sets: OUT/synS/data
        lines.append(f"| {name} | {st['seed']} | {st['n']} | {'set on' if inside else 'after'} "
                     f"| **{t['found']} / {sum(t.values())}** | {t['adjacent']} | {t['question']} | {t['missed']} "
                     f"| {len(r['false_groups'])} | {nb.get('found', 0)} of {sum(nb.values())} "
                     f"| {merged} of {sum(r['adjacent'].values())} "
                     f"| {r['questions'].get('original')} / {r['questions'].get('planted')} "
                     f"| {sum(r['seconds'].values()):.0f} s |")  # fmt: skip
    for inside, rows in ((True, groups[True]), (False, groups[False])):
        if not rows:
            continue
        seeds = ", ".join(str(r["settings"]["seed"]) for r in rows)
        lines += ["", f"Per transformation, {'in-sample' if inside else 'out-of-sample'} seeds ({seeds}):", "",
                  "| transformation | planted | found | adjacent-frame | question | not reached or different |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        kinds = list(dict.fromkeys(k for r in rows for k in r["recall"]))
        for kind in kinds:
            t = _outcome(rows, [kind])
            label = f"{kind} (not a copy: found = wrongly merged)" if kind in NOT_COPIES else kind
            lines.append(f"| {label} | {sum(t.values())} | {t['found']} | {t['adjacent']} | {t['question']} "
                         f"| {t['missed']} |")  # fmt: skip
        t = _outcome(rows, [k for k in kinds if k not in NOT_COPIES])
        lines.append(f"| **all copies** | {sum(t.values())} | **{t['found']}** | {t['adjacent']} | {t['question']} "
                     f"| {t['missed']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m busi_curate.studies.robust_bench R.json [R.json ...] --in-sample 0 1 [--out TABLE.md]``: the table
    of several ``busi-curate bench-robust --json`` results."""
    import argparse
    import json

    from busi_curate.fileio import atomic_open

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("results", type=Path, nargs="+")
    p.add_argument("--in-sample", type=int, nargs="*", default=[], help="seeds the bounds were set on")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    try:
        results = [json.loads(f.read_text()) for f in a.results]
    except (OSError, ValueError) as e:
        raise SystemExit(f"bench-robust table: cannot read a result: {e}") from None
    text = seeds_table(results, set(a.in_sample))
    if a.out:
        with atomic_open(a.out, "w") as fh:
            fh.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
