"""Stage: audit -- which test images of someone's split have a copy in its training images.

Input: a scan of the dataset, the standing decisions of a review journal (the assistant's and a
person's: which pairs are the same frame, identical, or adjacent frames of one sweep), and a split
table, either ``class, id, split`` (split names free; ``test`` is audited against every other split) or
a folds file ``class, id, fold, split`` (each fold's test images against that fold's other splits).

Output (``OUT/``): ``leakage.csv`` (one row per duplicate pair that crosses from a test image to a
training image: ``test_class, test_id, test_split, train_class, train_id, train_split, grade, ssim,
evidence`` and, for folds files, ``fold``), ``leakage.md`` / ``leakage.html`` (summary line and a panel
per leaking pair) and ``audit.json`` (counts, inputs, settings). Same-frame relations are transitive
(a copy of a copy is a copy); adjacent-frame and same-lesion links are direct.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.errors import ManifestError
from busi_curate.fileio import atomic_open, file_sha256, write_csv, write_json, write_text
from busi_curate.review.groups import UnionFind
from busi_curate.review.journal import Decision, effective
from busi_curate.scan.run import ScanResult

#: Grades from the strongest; ``--fail-on G`` fails on G and every stronger grade.
#: ``same-lesion`` (one lesion seen in another view) is a link like an adjacent frame, never a copy.
GRADE_ORDER: tuple[str, ...] = ("identical", "same-frame", "adjacent-frame", "same-lesion")
#: grades that relate two images without making them copies of one frame (direct, not transitive)
LINK_GRADES: tuple[str, ...] = ("adjacent-frame", "same-lesion")
LEAKAGE_COLUMNS = (
    "test_class",
    "test_id",
    "test_split",
    "train_class",
    "train_id",
    "train_split",
    "grade",
    "ssim",
    "evidence",
)
TEST_SPLIT = "test"
MAX_PANELS = 60


@dataclass
class AuditResult:
    """The leaking pairs and the summary of one audit."""

    leakage: pd.DataFrame
    n_test: int
    same_frame_test: int
    adjacent_only_test: int
    summary: str
    meta: dict[str, Any] = field(default_factory=dict)
    #: patients with images in a test split and in training (:mod:`.patients`); empty when none or unknown
    patients: pd.DataFrame = field(default_factory=pd.DataFrame)

    def fails(self, fail_on: str) -> bool:
        """True when a leaking pair has ``fail_on`` or a stronger grade, or a patient is on both sides."""
        if len(self.patients):
            return True
        worst = GRADE_ORDER[: GRADE_ORDER.index(fail_on) + 1]
        return bool(self.leakage["grade"].isin(worst).any()) if len(self.leakage) else False


def read_split(path: str | Path) -> pd.DataFrame:
    """A split table with columns ``class, id, split`` -- or ``image`` (or ``path``) and ``split``, the image
    named by its path -- and optionally ``fold`` (as text).

    Raises:
        ManifestError: unreadable file, missing columns, empty, an image listed twice in one fold, no test image.
    """
    from busi_curate.audit.patients import path_column

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read the split file ({exc})", path) from exc
    by_path = path_column(frame)
    names = [by_path] if by_path else ["class", "id"]
    missing = [c for c in (*names, "split") if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"split file needs columns class, id, split (or image, split; and optionally fold); missing {missing}",
            path,
        )
    if frame.empty:
        raise ManifestError("split file lists no images", path)
    if "fold" not in frame.columns:
        frame["fold"] = ""
    if by_path:
        frame["class"], frame["id"] = "", frame[by_path]  # filled from the scan by audit_split
    dup = frame.duplicated(["fold", "class", "id"])
    if dup.any():
        r = frame[dup].iloc[0]
        raise ManifestError(
            f"image {r['class']} {r['id']} is listed twice{' in fold ' + r['fold'] if r['fold'] else ''}", path
        )
    if not (frame["split"] == TEST_SPLIT).any():
        raise ManifestError(f"no image has split {TEST_SPLIT!r} (the split that is audited against the others)", path)
    return frame[["class", "id", "fold", "split", *([by_path] if by_path else [])]]


def relations(decisions: list[Decision]) -> tuple[UnionFind, dict[tuple[tuple[str, str], tuple[str, str]], Decision]]:
    """Same-frame components (identical or same-frame, transitive) and the standing ``same`` decision per pair."""
    uf = UnionFind()
    same: dict[tuple[tuple[str, str], tuple[str, str]], Decision] = {}
    for pair, d in effective(decisions).items():
        if d.answer != "same":
            continue
        same[pair] = d
        if d.grade in ("identical", "same-frame"):
            uf.union(*pair)
    return uf, same


def _require_in_scan(scan: ScanResult, split: pd.DataFrame) -> set[tuple[str, str]]:
    """The (class, id) of every scanned image; ManifestError when the split names an image the scan lacks."""
    known = {(c, str(i)) for c, i in zip(scan.index["class"], scan.index["id"])}
    absent = [(c, i) for c, i in zip(split["class"], split["id"]) if (c, i) not in known]
    if absent:
        raise ManifestError(
            f"{len(absent)} image(s) of the split file are not in the scan, e.g. "
            f"{absent[0][0]} {absent[0][1]}; scan the dataset the split was made from"
        )
    return known


def _copies_in_training(
    t: tuple[str, str],
    where: dict[tuple[str, str], str],
    group: list[tuple[str, str]],
    same: dict[tuple[tuple[str, str], tuple[str, str]], Decision],
) -> list[tuple[tuple[str, str], str]]:
    """``(image, grade)`` of every member of test image ``t``'s same-frame ``group`` outside the test split of
    this fold (``where``: image -> split); a member joined only through another copy is graded same-frame."""
    hits: list[tuple[tuple[str, str], str]] = []
    for m in group:
        if m != t and m in where and where[m] != TEST_SPLIT:
            hit = same.get((t, m) if t <= m else (m, t))
            grade: str = hit.grade if hit is not None else "same-frame"  # joined through another copy
            hits.append((m, grade))
    return hits


def _leak_row(
    scan: ScanResult,
    fold: Any,
    t: tuple[str, str],
    m: tuple[str, str],
    train_split: str,
    grade: str,
    dec: Decision | None,
) -> dict[str, Any]:
    """One row of ``leakage.csv``: test image ``t`` and its training copy ``m`` (decision ``dec`` or None)."""
    return {
        "fold": fold,
        "test_class": t[0],
        "test_id": t[1],
        "test_split": TEST_SPLIT,
        "train_class": m[0],
        "train_id": m[1],
        "train_split": train_split,
        "grade": grade,
        "ssim": round(scan.pair_ssim(scan.row_of(*t), scan.row_of(*m)), 4),
        "evidence": dec.evidence if dec is not None else "same frame through another copy",
    }


def audit_split(scan: ScanResult, decisions: list[Decision], split: pd.DataFrame) -> AuditResult:
    """Every test-to-training duplicate pair of ``split`` (see the module docstring), and the patients on both
    sides when the scan knows them."""
    from busi_curate.audit.patients import patient_leakage, patient_summary, resolve_split_paths

    split = resolve_split_paths(split, scan)
    uf, same = relations(decisions)
    known = _require_in_scan(scan, split)
    linked: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = {}
    for (a, b), d in same.items():
        if d.grade in LINK_GRADES:
            linked.setdefault(a, []).append((b, d.grade))
            linked.setdefault(b, []).append((a, d.grade))
    members: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for k in known:
        members.setdefault(uf.find(k), []).append(k)
    rows = []
    n_test = n_same = n_adj = n_lesion = 0
    for fold, part in split.groupby("fold", sort=True):
        where = dict(zip(zip(part["class"], part["id"]), part["split"]))
        tests = [k for k, s in where.items() if s == TEST_SPLIT]
        n_test += len(tests)
        for t in tests:
            hits = _copies_in_training(t, where, members.get(uf.find(t), []), same)
            adj = [
                (m, grade)
                for m, grade in linked.get(t, [])
                if m in where and where[m] != TEST_SPLIT and all(m != h for h, _ in hits)
            ]
            n_same += bool(hits)
            n_adj += bool(adj) and not hits
            n_lesion += bool(adj) and not hits and all(g == "same-lesion" for _, g in adj)
            for m, grade in hits + adj:
                dec = same.get((t, m) if t <= m else (m, t))
                rows.append(_leak_row(scan, fold, t, m, where[m], grade, dec))
    leakage = pd.DataFrame(rows, columns=["fold", *LEAKAGE_COLUMNS])
    if not split["fold"].astype(bool).any():
        leakage = leakage.drop(columns="fold")
    summary = (
        f"{n_same} of {n_test} test images ({100 * n_same / max(n_test, 1):.1f} %) have a same-frame copy in "
        f"training; {n_adj} more an adjacent frame"
        + (f" ({n_lesion} of them only the same lesion in another view)" if n_lesion else "")
    )
    patients = patient_leakage(scan, split)
    extra = patient_summary(patients, scan, split)
    return AuditResult(leakage, n_test, n_same, n_adj, summary + (f"; {extra}" if extra else ""), patients=patients)


def _panel(scan: ScanResult, a: tuple[str, str], b: tuple[str, str], side: int = 160) -> bytes:
    from PIL import Image

    from busi_curate.data.imageio import read_gray

    imgs = [Image.fromarray(read_gray(scan.image_path(scan.row_of(*k)))).resize((side, side)) for k in (a, b)]
    canvas = Image.new("L", (2 * side + 4, side), 255)
    canvas.paste(imgs[0], (0, 0))
    canvas.paste(imgs[1], (side + 4, 0))
    import io

    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _report_head(result: AuditResult, inputs: dict[str, str], fail_on: str) -> list[str]:
    """The head of ``leakage.md``: the summary, the inputs, the exit rule and the counts by split and grade."""
    lines = [
        "# Leakage audit",
        "",
        f"**{result.summary}.**",
        "",
        f"- scan: {inputs.get('scan')}; decisions: {inputs.get('decisions')}; split: {inputs.get('split')}",
        f"- exit status rule: 1 when a pair graded {fail_on} or stronger crosses from test to training",
        "- training = every split of the file other than test (of the same fold, for a folds file)",
    ]
    if len(result.patients):
        lines.append(
            f"- {result.patients['patient'].nunique()} patient(s) with images in test and in training "
            "(patient_leakage.csv); any patient on both sides fails the audit"
        )
    if len(result.leakage):
        same = result.leakage[~result.leakage["grade"].isin(LINK_GRADES)]
        keys = ["fold", "test_class", "test_id"] if "fold" in same.columns else ["test_class", "test_id"]
        per = {
            s: int(same[same["train_split"] == s].drop_duplicates(keys).shape[0])
            for s in sorted(same["train_split"].unique())
        }
        lines.append(
            "- test images with a same-frame copy, by the split the copy is in: "
            + ", ".join(f"{s} {n}" for s, n in per.items())
        )
        lines.append(
            "- pairs by grade: " + ", ".join(f"{g} {int((result.leakage['grade'] == g).sum())}" for g in GRADE_ORDER)
        )
    return lines


def _audit_json(
    result: AuditResult, out: Path, inputs: dict[str, str], fail_on: str, files: list[str]
) -> dict[str, Any]:
    """The content of ``audit.json``: the counts, the exit rule and its outcome, and the checksums of ``files``."""
    by_grade = {g: int((result.leakage["grade"] == g).sum()) for g in GRADE_ORDER} if len(result.leakage) else {}
    return {
        "tool": "busi-curate",
        "version": __version__,
        "kind": "audit",
        "summary": result.summary,
        "test_images": result.n_test,
        "test_images_with_same_frame_copy": result.same_frame_test,
        "test_images_with_adjacent_frame_only": result.adjacent_only_test,
        "pairs_by_grade": by_grade,
        "fail_on": fail_on,
        "fails": result.fails(fail_on),
        "inputs": inputs,
        "patients_on_both_sides": int(result.patients["patient"].nunique()) if len(result.patients) else 0,
        "files": {name: file_sha256(out / name) for name in files},
    }


def write_audit(result: AuditResult, scan: ScanResult, out: str | Path, inputs: dict[str, str], fail_on: str) -> None:
    """``leakage.csv``, ``leakage.md``, ``leakage.html``, ``audit.json`` and up to :data:`MAX_PANELS` panels."""
    out = Path(out)
    write_csv(out / "leakage.csv", result.leakage)
    files = ["leakage.csv"]
    if len(result.patients):
        write_csv(out / "patient_leakage.csv", result.patients)
        files.append("patient_leakage.csv")
    lines = _report_head(result, inputs, fail_on)
    lines.append("")
    body = [f"<h1>Leakage audit</h1><p><b>{html.escape(result.summary)}.</b></p>"]
    shown = result.leakage.head(MAX_PANELS)
    if len(result.leakage) > MAX_PANELS:
        lines.append(f"Panels for the first {MAX_PANELS} of {len(result.leakage)} pairs (all are in leakage.csv).")
        lines.append("")
    for n, r in enumerate(shown.itertuples(index=False)):
        name = f"panels/pair{n:04d}.png"
        with atomic_open(out / name, "wb") as fh:
            fh.write(_panel(scan, (r.test_class, r.test_id), (r.train_class, r.train_id)))
        fold = f"fold {r.fold}: " if "fold" in result.leakage.columns else ""
        cap = (
            f"{fold}test {r.test_class} {r.test_id} ~ {r.train_split} {r.train_class} {r.train_id}: {r.grade}, "
            f"SSIM {r.ssim}; {r.evidence}"
        )
        lines += [f"![{cap}]({name})", "", cap, ""]
        body.append(f"<figure><img src='{name}' alt='pair'><figcaption>{html.escape(cap)}</figcaption></figure>")
    write_text(out / "leakage.md", "\n".join(lines) + "\n")
    write_text(
        out / "leakage.html", "<!doctype html><meta charset='utf-8'><title>Leakage audit</title>" + "".join(body) + "\n"
    )
    write_json(out / "audit.json", _audit_json(result, out, inputs, fail_on, files))


def random_split(keys: list[tuple[str, str]], test_fraction: float = 0.2, seed: int = 1993) -> pd.DataFrame:
    """A plain seeded random split (no stratification, no groups): ``class, id, split``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    n_test = int(round(test_fraction * len(keys)))
    test = set(order[:n_test].tolist())
    return pd.DataFrame(
        [{"class": c, "id": i, "split": "test" if n in test else "train"} for n, (c, i) in enumerate(keys)]
    )


def _hard_link(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to ``src``; a copy where the file system cannot link (another device)."""
    import os
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def union_dataset(train_dir: str | Path, test_dir: str | Path, out: str | Path) -> tuple[Path, Path]:
    """A generic-layout dataset of hard links to the images and masks of two datasets, ids prefixed ``A-``
    (train) and ``B-`` (test), and the split that audits B against A.

    Hard links, not symbolic ones: every reader refuses a link that leaves its data folder
    (:func:`busi_curate.fileio.check_inside`), and a hard link is a file of the union itself. Nothing is
    copied on one file system; across file systems (where hard links cannot reach) the files are copied.

    Returns:
        The union's folder and its ``split.csv``.

    Raises:
        DatasetError: either dataset does not load.
    """
    from busi_curate.data.dataset import load_dataset

    out = Path(out)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    (out / "masks").mkdir()
    labels, split = [], []
    for side, root, part in (("A", Path(train_dir), "train"), ("B", Path(test_dir), "test")):
        ds = load_dataset(root)
        for r in ds.records:
            stem = f"{side}-{r.cls}-{r.id}"
            src = (ds.root / r.image).resolve()
            _hard_link(src, out / "images" / f"{stem}{src.suffix.lower()}")
            masks = []
            for k, m in enumerate(r.masks):
                msrc = (ds.root / m).resolve()
                name = f"{stem}_mask{'' if k == 0 else f'_{k}'}{msrc.suffix.lower()}"
                _hard_link(msrc, out / "masks" / name)
                masks.append(name)
            labels.append(
                {
                    "image": f"{stem}{src.suffix.lower()}",
                    "class": r.cls,
                    "id": f"{side}-{r.id}",
                    "masks": ";".join(masks),
                }
            )
            split.append({"class": r.cls, "id": f"{side}-{r.id}", "split": part})
    write_csv(out / "labels.csv", pd.DataFrame(labels))
    write_csv(out / "split.csv", pd.DataFrame(split))
    return out, out / "split.csv"


def seed_union_journal(decisions_file: str | Path, train_dir: str | Path, journal: str | Path) -> int:
    """Start the cross-dataset audit's journal from the training dataset's own review journal: each line of
    ``decisions_file`` (naming ``train_dir``'s images by their own ids) written to ``journal`` with the union's
    ``A-`` ids (:func:`union_dataset`). The automatic review then resumes from it: the pairs those decisions decide,
    or imply through their groups, are not asked again (a test image that is a copy of a training image inherits the
    answers about that image's sweep). Nothing is written when ``journal`` already has lines (a resumed audit).

    Returns:
        The number of lines written.

    Raises:
        JournalError: the file is not a journal, or it names an image ``train_dir`` does not hold.
    """
    from dataclasses import replace

    from busi_curate.data.dataset import load_dataset
    from busi_curate.review.journal import Journal, read_journal

    journal = Path(journal)
    if journal.is_file() and journal.stat().st_size:
        return 0
    known = {(r.cls, str(r.id)) for r in load_dataset(train_dir).records}
    decisions = read_journal(decisions_file, known)
    with Journal(journal) as out:
        out.extend(
            replace(d, reference_id=f"A-{d.reference_id}", candidate_id=f"A-{d.candidate_id}") for d in decisions
        )
    return len(decisions)
