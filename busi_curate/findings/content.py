"""Findings, content: what the report says, as :class:`~busi_curate.findings.document.Block` s.

One function per section; :func:`build_blocks` puts them in order. Nothing here renders or writes.
"""

from __future__ import annotations

import math
from typing import Any

from busi_curate import __version__
from busi_curate.findings.compute import Findings
from busi_curate.findings.document import (
    CODE,
    GALLERY,
    IMG,
    LINKS,
    Block,
    H,
    P,
    T,
    fmt_cell,
    fmt_p,
    fmt_pct,
    fmt_table_p,
    ordinal,
)
from busi_curate.findings.group_tables import CLASS_ORDER, PAPER, key_str
from busi_curate.findings.masks import iou_bin_labels
from busi_curate.findings.registration import RegistrationSettings
from busi_curate.findings.settings import ReportSettings
from busi_curate.review.groups import merged_grades


def _ref(paper: Any) -> str:
    return "–" if paper is None else str(paper)


def intro(f: Findings, meta: dict[str, Any], settings: ReportSettings) -> list[Block]:
    """Title, what was scanned and decided, notes."""
    j = f.journal
    grades = ", ".join(merged_grades(settings.include_adjacent))
    b = [
        H(1, f"Curation report: {meta['dataset']}"),
        P(
            f"Scan: {meta['n_images']} images of {meta['dataset']} ({meta['data_dir']}), SSIM at "
            f"{meta['scan_size']} px, {meta['scan_mode']} mode, {meta['pairs_scored']:,} pairs scored. "
            f"Decisions journal: {meta['journal_name']} (sha256 {meta['journal_sha256'][:12]}), "
            f"{j['lines']} lines, {j['standing']} standing decisions: {j['same']} same, "
            f"{j['different']} different, {j['skip']} skipped; decided automatically "
            f"{j['decided_by']['auto']}, by a person {j['decided_by']['person']}. "
            f"Grades merged into groups: {grades}. Policy of the paper: every image of a duplicate group is removed."
        ),
        P(f"Written by busi-curate {__version__}; inputs and checksums are in report.json."),
    ]
    return b + [P("Note: " + n) for n in f.notes]


def summary(f: Findings) -> list[Block]:
    """Our counts beside the paper's."""
    c, s, ref = f.counts, f.ssim, PAPER
    dist = f.distribution.set_index("policy")
    larger = sorted({(g.size, g.kind) for g in f.groups if g.size > 4}, reverse=True)
    rows: list[tuple[Any, ...]] = [(k + "s", c.get(k, 0), "–") for _, k in larger]
    rows += [(k + "s", c.get(k, 0), _ref(ref["groups"][k])) for k in ("quadruplet", "triplet", "duplet")]
    rows += [
        ("duplicate groups", c["groups"], sum(ref["groups"].values())),
        ("images in duplicate groups", c["images"], ref["images_in_groups"]),
        ("groups whose members disagree on class", c["class_conflicts"], "–"),
        ("images after curation (remove all)", int(dist.at["remove-all", "total"]), ref["curated"]["total"]),
    ]
    rows += [(f"  {cls} after curation", int(dist.at["remove-all", cls]), ref["curated"][cls]) for cls in CLASS_ORDER]
    rows += [
        ("SSIM threshold suggested", fmt_cell(s.threshold), f"≈ {ref['threshold']}"),
        ("Mann-Whitney p (two-sided)", fmt_p(s.mannwhitney_p_two_sided), ref["mann_whitney_p"]),
    ]
    return [H(2, "Summary (beside the paper's figures)"), T(["measure", "this report", "paper"], rows)]


def conflicts(f: Findings) -> list[Block]:
    """Groups whose members disagree on class."""
    b = [H(2, "Groups whose members disagree on class")]
    if not len(f.conflicts):
        return b + [P("None.")]
    rows = [(r.group, r.kind, r.classes.replace(";", ", "), r.members) for r in f.conflicts.itertuples()]
    b.append(P(f"{len(f.conflicts)} of {f.counts['groups']} groups mix classes: the same frame carries two labels."))
    return b + [T(["group", "kind", "classes", "members"], rows)]


def _iou_method(f: Findings, settings: ReportSettings) -> str:
    size = f"{settings.iou_size}x{settings.iou_size}"
    if not settings.register:
        return (
            f"Method: each image's masks are merged (union of its mask files) and resized to a common {size} frame "
            "(area average, then >= 0.5), i.e. both images are assumed to show the same field of view (no "
            "registration), so crops of one frame get a lower IoU."
        )
    n_reg = int((f.iou["method"] == "registered").sum()) if len(f.iou) else 0
    return (
        "Method: each image's masks are merged (union of its mask files). The second image of a pair is "
        "registered onto the first (upright scale + shift; masked normalised cross-correlation of the "
        "smoothed images over all shifts, scale 1 first, else a search over scales 0.5-2), and the IoU is "
        "taken over the region both images show. When the registration is not trusted (correlation "
        f"< {RegistrationSettings().min_ncc:g}) the pair falls back to the resize method: both masks "
        f"resized to a common {size} frame (area average, then >= 0.5), which assumes both images show "
        f"the same field of view. {n_reg} of {len(f.iou)} pairs are registered."
    )


def _iou_by_method(f: Findings) -> list[Block]:
    labels = iou_bin_labels()
    rows = []
    for m, label in (
        ("iou", "registered, else resized (above)"),
        ("iou_resized", "resized only"),
        ("iou_registered", "registered only (all pairs)"),
    ):
        part = f.iou_summary[f.iou_summary["measure"] == m].set_index("bin")
        at = part.at
        rows.append(
            (label, int(at["mean", "pairs"]), at["mean", "share"], at["median", "share"])
            + (at[labels[0], "share"], at[labels[-1], "share"])
        )
    header = ["method", "pairs", "mean IoU", "median IoU", f"share {labels[0]}", f"share {labels[-1]}"]
    return [P("The same pairs by method:"), T(header, rows)]


def mask_agreement(f: Findings, settings: ReportSettings) -> list[Block]:
    """Table 2: mask IoU inside groups."""
    text = (
        f"Intersection over union of the ground-truth masks for every pair inside every group "
        f"({len(f.iou)} pairs; a triplet gives 3 pairs, a quadruplet 6). {_iou_method(f, settings)} Two empty "
        "masks (normal images) count as IoU 1.0 (they agree: no lesion); an empty mask against a lesion counts "
        "as 0.0. The paper's Table 2 has no numbers in its text to compare with."
    )
    head = f.iou_summary[f.iou_summary["measure"] == "iou"].drop(columns="measure")
    b = [H(2, "Mask agreement inside groups (Table 2)"), P(text)]
    b.append(
        T(
            ["IoU", "pairs", "share", "pairs with a lesion", "share (with a lesion)"],
            [tuple(r) for r in head.itertuples(index=False)],
        )
    )
    if settings.register and len(f.iou):
        b += _iou_by_method(f)
    return b


def _ssim_table(f: Findings) -> Block:
    s = f.ssim
    rows = [
        (name, x.n, x.mean, x.std, x.median, f"[{fmt_cell(x.range_low)}, {fmt_cell(x.range_high)}]")
        + (fmt_cell(x.lilliefors_stat), fmt_table_p(x.lilliefors_p))
        for name, x in (("duplicate", s.duplicate), ("non-duplicate", s.non_duplicate))
    ]
    pct = f"{s.percentile:g}%"
    return T(["pairs", "n", "mean", "std", "median", f"{pct} range", "Lilliefors D", "Lilliefors p"], rows)


def _ssim_tests(f: Findings) -> list[Block]:
    s = f.ssim
    pct = f"{s.percentile:g}%"
    normal = [
        name
        for name, x in (("duplicate", s.duplicate), ("non-duplicate", s.non_duplicate))
        if not math.isnan(x.lilliefors_p) and x.lilliefors_p >= 0.05
    ]
    lilliefors = (
        "normality rejected at 5% for both samples, so a non-parametric test is used."
        if not normal
        else f"normality not rejected at 5% for: {', '.join(normal)}."
    )
    overlap = (
        "overlap, so SSIM alone cannot separate duplicates from other pairs here."
        if s.ranges_overlap
        else "do not overlap."
    )
    return [
        P(
            "Lilliefors test (H0: the sample is normal; statsmodels, table p-values, which are clipped to "
            "[0.001, 0.2]): " + lilliefors
        ),
        P(
            f"Mann-Whitney U (scipy) duplicate vs non-duplicate: U = {s.mannwhitney_u:.10g}, two-sided "
            f"p = {fmt_p(s.mannwhitney_p_two_sided)}, one-sided (duplicates greater) p = "
            f"{fmt_p(s.mannwhitney_p_greater)}; AUC = U / (n1 n2) = {fmt_cell(s.auc)} (the probability that a "
            f"duplicate pair has a higher SSIM than a non-duplicate pair). The paper reports p < 0.0001."
        ),
        P(
            f"Threshold rule: the shaded ranges hold {pct} of each sample on the side facing the other "
            f"(duplicates: from their {ordinal(100 - s.percentile)} percentile up; non-duplicates: up to their "
            f"{ordinal(s.percentile)} percentile; observed values, so each range holds at least {pct}). The "
            f"suggested screening threshold is the low end of the duplicates' range, {fmt_cell(s.threshold)}: "
            f"{100 * s.duplicate_recall:.1f}% of the duplicate pairs score at or above it, and "
            f"{s.non_duplicate_above:,} non-duplicate pairs do too. The ranges " + overlap + " Caveat: duplicates "
            "were found by walking SSIM-ranked candidates (plus the assistant's other routes), so duplicates "
            "with a very low SSIM are under-represented."
        ),
    ]


def ssim_section(f: Findings, settings: ReportSettings) -> list[Block]:
    """Table 1, the tests and Fig. 5."""
    return [
        H(2, "SSIM of duplicate vs non-duplicate pairs (Table 1, Fig. 5)"),
        P(
            "Duplicate pairs are all pairs inside a group (also pairs joined only through other members); "
            "non-duplicate pairs are all other scored pairs of the SSIM matrix. Standard deviations use ddof=1. "
            "The paper's text gives no numbers for Table 1."
        ),
        _ssim_table(f),
        *_ssim_tests(f),
        IMG("fig5_ssim_hist.png", "Fig. 5: SSIM of duplicate vs non-duplicate pairs"),
        P(f"Fig. 5 for a paper: fig5_ssim_hist.png ({settings.figure_dpi} dpi) and fig5_ssim_hist.svg (vector)."),
    ]


def distribution(f: Findings) -> list[Block]:
    """Table 3: class counts before and after curation, beside the paper's."""
    rows = []
    for r in f.distribution.itertuples(index=False):
        d = r._asdict()
        counts = tuple(f"{d[cl]} ({fmt_pct(d[cl + '_pct'])})" for cl in CLASS_ORDER)
        rows.append((d["dataset"], d["policy"], d["removed"], *counts, d["total"]))
    busi, cur = PAPER["busi"], PAPER["curated"]
    for name, ref in (("paper: BUSI", busi), ("paper: Curated BUSI", cur)):
        counts = tuple(f"{ref[cl]} ({100 * ref[cl] / ref['total']:.1f}%)" for cl in CLASS_ORDER)
        rows.append((name, "remove-all" if ref is cur else "none", busi["total"] - ref["total"], *counts, ref["total"]))
    return [
        H(2, "Class distribution before and after curation (Table 3)"),
        P(
            "remove-all is the paper's policy (every image of every duplicate group removed). keep-one, for "
            "information, is the rule of the export policy keep-one: one image of each group whose "
            "members agree on class is kept, class-conflict groups are removed entirely."
        ),
        T(["dataset", "policy", "removed", *CLASS_ORDER, "total"], rows),
    ]


def all_groups(f: Findings, strips: dict[int, str], settings: ReportSettings) -> list[Block]:
    """Every group with its members, grades and (with the gallery) a thumbnail strip."""
    c = f.counts
    b = [H(2, "All duplicate groups")]
    text = (
        f"{c['groups']} groups holding {c['images']} images (union-find over the standing 'same' decisions). "
        "Members are listed in class then id order; the mask files are in groups.csv."
    )
    if strips:
        text += (
            f" Thumbnails ({settings.thumb_height} px high, members in the listed order): yellow, the mask "
            "outline; the bar under each image, its class (green benign, orange malignant, purple normal)."
        )
    b.append(P(text))
    if not f.groups:
        return b + [P("No groups to show.")]
    header = ["group", "kind", "members", "grades", "classes disagree"]
    rows = [
        (g.id, g.kind, "; ".join(key_str(k) for k in g.members), ", ".join(g.grades), g.class_conflict)
        for g in f.groups
    ]
    if not strips:
        return b + [T(header, rows)]
    images = [(strips[g.id], f"group {g.id} ({g.kind}): " + ", ".join(key_str(k) for k in g.members)) for g in f.groups]
    return b + [GALLERY([*header, "images"], rows, images)]


def reproduce(meta: dict[str, Any]) -> list[Block]:
    """The commands that remake this report, ready to paste."""
    return [
        H(2, "Reproduce"),
        P(
            "Paste into a POSIX shell, in the folder the report was made from (relative paths start there), with "
            "busi-curate on the PATH (e.g. after source .venv/bin/activate). The data are re-scanned with the "
            "scan's settings into a fresh temporary folder and this report is remade in place; with the same "
            "data, journal and library versions the tables, Markdown and HTML come out byte for byte the same."
        ),
        CODE("\n".join(meta["reproduce"])),
    ]


FILES = (
    ("groups.csv", "groups.csv: every member of every group with its image and mask files"),
    ("class_conflicts.csv", "class_conflicts.csv: groups whose members disagree on class"),
    ("mask_iou.csv", "mask_iou.csv: mask IoU of every pair inside every group"),
    ("iou_summary.csv", "iou_summary.csv: Table 2 summary"),
    ("ssim_stats.csv", "ssim_stats.csv: Table 1, tests and threshold"),
    ("class_distribution.csv", "class_distribution.csv: Table 3"),
    ("fig5_ssim_hist.svg", "fig5_ssim_hist.svg: Fig. 5 as a vector figure"),
    ("report.json", "report.json: versions, settings, input checksums, counts"),
)


def files() -> list[Block]:
    """Links to the tables and the sidecar."""
    return [H(2, "Files"), LINKS(list(FILES))]


def build_blocks(f: Findings, meta: dict[str, Any], settings: ReportSettings, strips: dict[int, str]) -> list[Block]:
    """The report as blocks (rendered to both Markdown and HTML); ``strips`` maps group id -> thumbnail file."""
    return [
        *intro(f, meta, settings),
        *summary(f),
        *conflicts(f),
        *mask_agreement(f, settings),
        *ssim_section(f, settings),
        *distribution(f),
        *all_groups(f, strips, settings),
        *reproduce(meta),
        *files(),
    ]
