"""The audit of a BreastMNIST-style derivative of BUSI (issue 20): every BUSI image greyscale, resized to a
``size x size`` square (aspect ignored), split 7:1:2 at random with a seed into ``train`` / ``val`` / ``test``,
written as a generic-layout dataset; then the documented commands

* ``busi-curate audit --train BUSI --test DERIVATIVE --out OUT/cross``: which derivative images have a copy in
  BUSI, checked against the truth (every one is a copy of its source, or of a member of its source's duplicate
  group in the published journal);
* ``busi-curate audit DERIVATIVE --split DERIVATIVE/split.csv --out OUT/split``: how many of the derivative's test
  images have a same-frame copy in its train (or val) images, checked against the truth the journal implies.

Run as ``python -m busi_curate.studies.derivative_audit BUSI --size 128 --out OUT`` (``--help``); it writes
``OUT/summary.json`` and ``OUT/summary.md``. The dataset is read in place; the derivative goes to ``OUT``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = (("train", 0.7), ("val", 0.1), ("test", 0.2))


def derivative_plan(busi_dir: str | Path, seed: int = 0) -> Any:
    """Which BUSI image becomes which derivative image in which split (the truth, without writing anything): a
    DataFrame ``class, id, split, source_class, source_id`` in BUSI's record order, split by a permutation drawn
    with ``seed`` (the first 70% train, the next 10% val, the rest test)."""
    import pandas as pd

    from busi_curate.data.dataset import load_dataset

    records = load_dataset(busi_dir).records
    order = np.random.default_rng(seed).permutation(len(records))
    cuts = np.cumsum([round(f * len(order)) for _, f in SPLITS])[:-1]
    part = {int(k): name for name, idx in zip((s for s, _ in SPLITS), np.split(order, cuts)) for k in idx}
    rows = [{"class": r.cls, "id": f"{k:04d}", "split": part[k], "source_class": r.cls, "source_id": r.id}
            for k, r in enumerate(records)]  # fmt: skip
    return pd.DataFrame(rows)


def make_derivative(busi_dir: str | Path, out: str | Path, size: int, seed: int = 0) -> Any:
    """Write the derivative to ``out`` (``images/<split>/<n>.png``, masks alike, ``labels.csv``, ``split.csv``) and
    return its truth (:func:`derivative_plan`, kept out of the dataset folder)."""
    from PIL import Image

    from busi_curate.data.dataset import load_dataset
    from busi_curate.data.imageio import read_mask_union
    from busi_curate.fileio import write_csv

    ds = load_dataset(busi_dir)
    out = Path(out)
    truth = derivative_plan(busi_dir, seed)
    images, masks = [], []
    for rec, part, id_ in zip(ds.records, truth["split"], truth["id"]):
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        images.append(f"{part}/{id_}.png")
        orig = Image.open(Path(ds.root) / rec.image).convert("L")
        orig.resize((size, size), Image.Resampling.BICUBIC).save(out / "images" / images[-1])
        masks.append("")
        if rec.masks:  # the loader wants a mask per lesion image (BreastMNIST has none): BUSI's, resized alike
            (out / "masks" / part).mkdir(parents=True, exist_ok=True)
            masks[-1] = f"{part}/{id_}_mask.png"
            union = read_mask_union([Path(ds.root) / m for m in rec.masks], (orig.height, orig.width))
            mask = Image.fromarray(union.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
            mask.save(out / "masks" / masks[-1])
    (out / "masks").mkdir(exist_ok=True)
    labels = truth.assign(image=images, masks=masks)
    write_csv(out / "labels.csv", labels[["image", "class", "id", "masks"]])
    write_csv(out / "split.csv", truth[["class", "id", "split"]])
    return truth


def _groups(journal: Path) -> dict[tuple[str, str], frozenset[tuple[str, str]]]:
    """Image -> its same-frame group (itself alone when in none) in the journal."""
    from busi_curate.review.groups import build_groups
    from busi_curate.review.journal import read_journal

    out: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
    for g in build_groups(read_journal(journal)):
        members = frozenset((str(c), str(i)) for c, i in g.members)
        for m in members:
            out[m] = members
    return out


def _run(args: list[str]) -> tuple[int, str, dict[str, float]]:
    """Run ``busi-curate ARGS``; exit status, output, and its wall and CPU seconds (user + system, the process and
    its workers: the CPU-seconds are what compares on a shared machine)."""
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    t0, c0 = time.perf_counter(), cpu()
    proc = subprocess.run([sys.executable, "-m", "busi_curate", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr, {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu() - c0}


def _questions(text: str) -> int | None:
    m = re.search(r"(\d+) questions left for a person", text)
    return int(m.group(1)) if m else None


def _same_frame(leakage: Path) -> Any:
    import pandas as pd

    df = pd.read_csv(leakage, dtype=str)
    return df[df["grade"].isin(["identical", "same-frame"])]


QUESTIONS = "questions.csv"


def write_questions(out: Path) -> Any:
    """Write ``out/questions.csv``: the review questions the audit's automatic pass left open (its scan and journal
    in ``out``), each with the assistant's evidence (from the pass's assessment cache, ``SCAN/features``), so that
    the summary can be re-derived from the committed files without the scan. Returns the table."""
    import pandas as pd

    from busi_curate.assistant import Assistant
    from busi_curate.fileio import write_csv
    from busi_curate.publish.export import open_questions as walk_questions
    from busi_curate.review.assess_cache import AssessmentStore, pair_key
    from busi_curate.review.journal import read_journal
    from busi_curate.scan.run import read_scan

    scan = read_scan(out / "scan")
    store = AssessmentStore.for_assistant(out / "scan" / "features", Assistant(scan))
    row = {(str(c), str(i)): r for r, c, i in zip(scan.index["row"], scan.index["class"], scan.index["id"])}
    sha = list(scan.index["pixel_sha256"])
    rows = []
    for a, b in walk_questions(scan, read_journal(out / "decisions.csv")):
        ra, rb = row[a], row[b]
        ssim = scan.pair_ssim(ra, rb)
        got = store.get(pair_key(sha[ra], sha[rb], ssim)) or store.get(pair_key(sha[rb], sha[ra], ssim))
        rows.append({"a_class": a[0], "a_id": a[1], "b_class": b[0], "b_id": b[1], "ssim": round(ssim, 4),
                     "evidence": "" if got is None else got.evidence})  # fmt: skip
    table = pd.DataFrame(rows, columns=["a_class", "a_id", "b_class", "b_id", "ssim", "evidence"])
    write_csv(out / QUESTIONS, table)
    return table


def open_questions(out: Path) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """The review questions the audit's automatic pass left open: ``out/questions.csv`` (written from the scan by
    :func:`write_questions` when absent)."""
    import pandas as pd

    if (out / QUESTIONS).is_file():
        df = pd.read_csv(out / QUESTIONS, dtype=str, keep_default_na=False)
    else:
        df = write_questions(out).astype(str)
    return [((a, b), (c, d)) for a, b, c, d in zip(df["a_class"], df["a_id"], df["b_class"], df["b_id"])]


def check_cross(truth: Any, out: Path, groups: dict[tuple[str, str], frozenset[tuple[str, str]]]) -> dict[str, Any]:
    """Per derivative image: matched as a copy (same-frame / identical) to its source or a member of its source's
    group; matched only to other BUSI images (wrong); not matched. And the questions left open: in all, with a
    derivative image, between a derivative image and its source (or a member of the source's group)."""
    same = _same_frame(out / "leakage.csv")
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for tc, ti, ac, ai in zip(same["test_class"], same["test_id"], same["train_class"], same["train_id"]):
        found.setdefault((tc, ti.removeprefix("B-")), set()).add((ac, ai.removeprefix("A-")))
    right = wrong = missed = also = 0
    missed_ids = []
    for c, i, sc, si in zip(truth["class"], truth["id"], truth["source_class"], truth["source_id"]):
        ok = groups.get((sc, si), frozenset({(sc, si)}))
        got = found.get((c, i), set())
        if got & ok:
            right += 1
            also += bool(got - ok)  # also a copy of a BUSI image outside the source's group: a false match
        elif got:
            wrong += 1
        else:
            missed += 1
            missed_ids.append(f"{c} {i} (source {sc} {si})")
    source = {
        (c, f"B-{i}"): groups.get((sc, si), frozenset({(sc, si)})) for c, i, _, sc, si in truth.itertuples(index=False)
    }
    asked = open_questions(out)
    with_b = [(a, b) for a, b in asked if a[1].startswith("B-") or b[1].startswith("B-")]
    to_source = [(a, b) for a, b in with_b if (a[0], a[1].removeprefix("A-")) in source.get(b, ())
                 or (b[0], b[1].removeprefix("A-")) in source.get(a, ())]  # fmt: skip
    return {"images": len(truth), "matched_to_source": right, "also_matched_elsewhere": also,
            "matched_elsewhere_only": wrong, "not_matched": missed,
            "not_matched_ids": missed_ids[:50], "questions_open": len(asked),
            "questions_with_derivative": len(with_b), "questions_derivative_to_source": len(to_source)}  # fmt: skip


def check_split(truth: Any, out: Path, groups: dict[tuple[str, str], frozenset[tuple[str, str]]]) -> dict[str, Any]:
    """The own-split audit against the truth: test images whose source's group has a member in train / val."""
    where = {(sc, si): (c, i, s) for c, i, s, sc, si in truth.itertuples(index=False)}
    expected = set()
    for c, i, s, sc, si in truth.itertuples(index=False):
        if s == "test" and any(where[m][2] != "test" for m in groups.get((sc, si), frozenset()) if m != (sc, si)):
            expected.add((c, i))
    same = _same_frame(out / "leakage.csv")
    got = set(zip(same["test_class"], same["test_id"]))
    in_train = set(zip(*[same[same["train_split"] == "train"][k] for k in ("test_class", "test_id")]))
    n_test = int((truth["split"] == "test").sum())
    return {"test_images": n_test, "with_copy_in_train_or_val": len(got), "with_copy_in_train": len(in_train),
            "expected_from_journal": len(expected), "found_of_expected": len(got & expected),
            "found_not_expected": sorted(f"{c} {i}" for c, i in got - expected)}  # fmt: skip


JOURNAL = Path(__file__).resolve().parents[2] / "manifests" / "curated_busi_v1" / "decisions.csv"
RUN = "run.json"


def _portable(path: Path) -> str:
    """``path`` relative to the repository when inside it (the summaries are committed), else as given."""
    try:
        return str(Path(path).resolve().relative_to(JOURNAL.parents[2]))
    except ValueError:
        return str(path)


def _times(out: Path) -> dict[str, Any]:
    """How the audit in ``out`` ran (``run.json``, written by :func:`run_audit`): exit status, wall and CPU seconds,
    load, code version; nothing when it was run otherwise."""
    f = out / RUN
    return json.loads(f.read_text()) if f.is_file() else {"seconds": None}


def evaluate(busi_dir: Path, out: Path, size: int, seed: int = 0, journal: Path | None = None) -> dict[str, Any]:
    """The summary of audits already written to ``out`` (``cross-<size>``, ``split-<size>``; their leakage.csv,
    questions.csv and run.json) against the truth and the journal's groups."""
    journal = journal or JOURNAL
    groups, truth = _groups(journal), derivative_plan(busi_dir, seed)
    res: dict[str, Any] = {"size": size, "seed": seed, "busi": str(busi_dir), "journal": _portable(journal)}
    cross = out / f"cross-{size}"
    res["cross"] = {**check_cross(truth, cross, groups), **_times(cross)}
    split = out / f"split-{size}"
    if (split / "leakage.csv").is_file():  # the own-split audit, when it was run
        asked = len(open_questions(split))
        res["split"] = {**check_split(truth, split, groups), "questions_open": asked, **_times(split)}
    return res


def _commit() -> str:
    """The code that ran: the commit, and the SHA-256 of ``git diff HEAD -- busi_curate`` when the package had
    uncommitted changes (so that the commit that records them can be checked against it)."""
    import hashlib

    git = ["git", "-C", str(JOURNAL.parents[2])]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    diff = subprocess.run([*git, "diff", "HEAD", "--", "busi_curate"], capture_output=True, text=True).stdout
    sha = hashlib.sha256(diff.encode()).hexdigest()[:12]
    return (head or "unknown") + (f" + uncommitted diff {sha}" if diff.strip() else "")


def run_audit(args: list[str], out: Path) -> None:
    """``busi-curate ARGS`` (an audit into ``out``) on a fresh walk, then ``out/questions.csv`` and ``out/run.json``
    (command, exit status, wall and CPU seconds, load before and after, code version). A scan and per-image features
    already in ``out/scan`` are kept (neither depends on the rule); the journal and the assessment cache are not.
    RuntimeError when the audit fails (exit status other than 0 / 1)."""
    import os

    for stale in (out / "decisions.csv", out / "scan" / "features" / "assessments.json", out / QUESTIONS):
        stale.unlink(missing_ok=True)
    load, code = list(os.getloadavg()), _commit()  # the code that runs, before anything is committed meanwhile
    rc, text, times = _run(args)
    if rc not in (0, 1):
        raise RuntimeError(f"busi-curate {' '.join(args)} failed ({rc}):\n{text}")
    write_questions(out)
    run = {"command": "busi-curate " + " ".join(args), "exit": rc, "auto_questions": _questions(text), **times,
           "load": [round(x, 1) for x in load + list(os.getloadavg())], "code": code}  # fmt: skip
    (out / RUN).write_text(json.dumps(run, indent=1))


def derivative_audit(
    busi_dir: Path, out: Path, size: int, seed: int = 0, journal: Path | None = None, split: bool = True
) -> dict[str, Any]:
    """Build the derivative at ``size`` px and run both audits (module docstring; ``split=False``: the cross audit
    only); returns the summary (:func:`evaluate`)."""
    deriv = out / f"derivative-{size}"
    make_derivative(busi_dir, deriv, size, seed)
    run_audit(["audit", "--train", str(busi_dir), "--test", str(deriv), "--out", str(out / f"cross-{size}"),
               "--train-decisions", str(journal or JOURNAL), "--quiet"], out / f"cross-{size}")  # fmt: skip
    if split:
        run_audit(["audit", str(deriv), "--split", str(deriv / "split.csv"), "--out", str(out / f"split-{size}"),
                   "--quiet"], out / f"split-{size}")  # fmt: skip
    return evaluate(busi_dir, out, size, seed, journal)


def _sec(r: dict[str, Any]) -> str:
    if r.get("seconds") is None:
        return "-"
    cpu = r.get("cpu_seconds")
    return f"{r['seconds']:.0f} s" + ("" if cpu is None else f" / {cpu:.0f} CPU-s")


def summary_md(results: list[dict[str, Any]]) -> str:
    """The results as Markdown tables (time: wall / CPU seconds of the audit, as run.json recorded them)."""
    lines = ["| size | derivative images | matched to their source (or its group) | of which also to another image "
             "| matched elsewhere only | not matched "
             "| questions open (with a derivative image / derivative-source) | time (wall / CPU) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        c = r["cross"]
        lines.append(f"| {r['size']} px | {c['images']} | **{c['matched_to_source']}** | {c['also_matched_elsewhere']} | "
                     f"{c['matched_elsewhere_only']} | "
                     f"{c['not_matched']} | {c['questions_open']} ({c['questions_with_derivative']} / "
                     f"{c['questions_derivative_to_source']}) | {_sec(c)} |")  # fmt: skip
    if not any("split" in r for r in results):
        return "\n".join(lines) + "\n"
    lines += ["", "| size | test images | with a same-frame copy in train or val (audit) | in train | expected from the "
              "journal | found of expected | found, not expected | questions open | time (wall / CPU) |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        if "split" not in r:
            continue
        s = r["split"]
        lines.append(f"| {r['size']} px | {s['test_images']} | **{s['with_copy_in_train_or_val']}** | "
                     f"{s['with_copy_in_train']} | {s['expected_from_journal']} | {s['found_of_expected']} | "
                     f"{len(s['found_not_expected'])} | {s['questions_open']} | {_sec(s)} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """``python -m busi_curate.studies.derivative_audit BUSI --size 128 [--size 64 ...] --out OUT [--seed S]``."""
    import argparse

    from busi_curate.errors import CurateError
    from busi_curate.fileio import atomic_open

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("busi", type=Path)
    p.add_argument("--size", type=int, action="append", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evaluate", action="store_true", help="only summarise the audits already in --out")
    p.add_argument("--cross-only", action="store_true", help="run the cross-dataset audit, not the own-split one")
    p.add_argument("--pairwise", type=int, metavar="N", help="only the pairwise check of N images (pairwise_check)")
    a = p.parse_args(argv)
    if a.pairwise:
        from busi_curate.fileio import write_csv

        df = pairwise_check(a.busi, a.size, n=a.pairwise, seed=a.seed)
        a.out.mkdir(parents=True, exist_ok=True)
        write_csv(a.out / "pairwise.csv", df)
        counts = df.groupby(["size", "pair", "verdict", "grade"]).size().rename("pairs").reset_index()
        write_csv(a.out / "pairwise-summary.csv", counts)
        print(counts.to_string(index=False))
        return
    results = []
    for size in a.size:
        try:
            if a.evaluate:
                results.append(evaluate(a.busi, a.out, size, a.seed))
            else:
                results.append(derivative_audit(a.busi, a.out, size, a.seed, split=not a.cross_only))
        except (CurateError, OSError) as exc:  # a dataset that does not load, an audit folder without its files
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        with atomic_open(a.out / f"summary-{size}.json", "w") as fh:
            fh.write(json.dumps(results[-1], indent=1))
    with atomic_open(a.out / "summary.md", "w") as fh:
        fh.write(summary_md(results))
    print(summary_md(results))


def pairwise_check(busi_dir: Path, sizes: list[int], n: int = 100, seed: int = 0, journal: Path | None = None) -> Any:
    """The assistant's verdict on ``n`` derivative images (drawn with ``seed``) against their source and against the
    source's adjacent-frame partners in the journal, per size, without the audit's scan and walk (the evidence the
    walk would use for those pairs): a DataFrame ``size, pair (source / neighbour), verdict, grade, evidence``."""
    import pandas as pd
    from PIL import Image

    from busi_curate.assistant.features import extract
    from busi_curate.assistant.rule import decide
    from busi_curate.assistant.verify import VerifyCache, verify_pair
    from busi_curate.data.dataset import load_dataset
    from busi_curate.review.journal import effective, read_journal

    ds = load_dataset(busi_dir)
    by_key = {(r.cls, r.id): r for r in ds.records}
    adjacent: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for (a, b), d in effective(read_journal(journal or JOURNAL)).items():
        if d.answer == "same" and d.grade == "adjacent-frame":
            adjacent.setdefault(a, []).append(b)
            adjacent.setdefault(b, []).append(a)
    keys = sorted(by_key)
    pick = [keys[int(k)] for k in np.random.default_rng(seed).choice(len(keys), size=min(n, len(keys)), replace=False)]
    gray = {k: np.asarray(Image.open(Path(ds.root) / by_key[k].image).convert("L")) for k in pick}
    feats = {k: extract(g) for k, g in gray.items()}
    for k in pick:
        for m in adjacent.get(k, []):
            if m not in feats:
                feats[m] = extract(np.asarray(Image.open(Path(ds.root) / by_key[m].image).convert("L")))
    cache, rows = VerifyCache(), []
    for size in sizes:
        for k in pick:
            small = np.asarray(Image.fromarray(gray[k]).resize((size, size), Image.Resampling.BICUBIC))
            fd = extract(small)
            for kind, other in [("source", k)] + [("neighbour", m) for m in adjacent.get(k, [])]:
                ans = decide(verify_pair(fd, feats[other], seed=seed, cache=cache), float("nan"))
                rows.append({"size": size, "image": f"{k[0]} {k[1]}", "pair": kind, "other": f"{other[0]} {other[1]}",
                             "verdict": ans.verdict, "grade": ans.grade, "evidence": ans.evidence})  # fmt: skip
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
