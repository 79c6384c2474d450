"""Stage 6b -- report: render the findings of :mod:`busi_curate.findings.stats` as CSV tables, PNG figures,
Markdown, self-contained HTML and a ``report.json`` sidecar.

The report is a function of the scan folder, the decisions journal and :class:`ReportSettings`: the
same inputs give byte-identical CSV, Markdown and HTML (no clocks, no absolute output paths, sorted
orders everywhere). Markdown and HTML are rendered from one list of blocks, so they say the same thing
and every piece of text is escaped in one place.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate import __version__
from busi_curate.defaults import JOURNAL_NAME
from busi_curate.errors import JournalError
from busi_curate.fileio import bytes_sha256, file_sha256, write_bytes, write_csv, write_json, write_text
from busi_curate.findings import stats as st
from busi_curate.review.groups import Group, build_groups, merged_grades
from busi_curate.review.journal import Decision, effective, read_journal

REPORT_FORMAT = 1
PANEL_COLUMNS = 4
IOU_MEASURES = ("iou", "iou_resized", "iou_registered")
CLASS_COLOURS = {"benign": "#1b9e77", "malignant": "#d95f02", "normal": "#7570b3"}
DUP_COLOUR, NON_COLOUR = "#2ca02c", "#ff7f0e"  # the paper's Fig. 5: duplicates green, others orange


@dataclass(frozen=True)
class ReportSettings:
    """Every option of a report; saved in ``report.json``."""

    include_adjacent: bool = False
    threshold_percentile: float = st.DEFAULT_PERCENTILE
    iou_size: int = st.DEFAULT_IOU_SIZE
    register: bool = True
    max_panels: int = 12
    panel_dpi: int = 100
    panel_max_side: int = 320
    verify_images: bool = True


@dataclass
class Findings:
    """Everything the report shows, computed from a scan and a journal."""

    groups: list[Group]
    groups_table: pd.DataFrame
    conflicts: pd.DataFrame
    iou: pd.DataFrame
    iou_summary: pd.DataFrame
    samples: st.SSIMSamples
    ssim: st.SSIMStatistics
    distribution: pd.DataFrame
    counts: dict[str, int]
    journal: dict[str, Any]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- compute


def journal_summary(decisions: Sequence[Decision]) -> dict[str, Any]:
    """Counts of the journal: lines, standing decisions by answer and grade, who decided."""
    standing = effective(decisions)
    answers = Counter(d.answer for d in standing.values())
    grades = Counter(d.grade for d in standing.values() if d.answer == "same")
    by = Counter("auto" if d.decided_by == "auto" else "person" for d in standing.values())
    return {
        "lines": len(decisions),
        "standing": len(standing),
        "same": answers.get("same", 0),
        "different": answers.get("different", 0),
        "skip": answers.get("skip", 0),
        "grades": {g: grades.get(g, 0) for g in ("identical", "same-frame", "adjacent-frame")},
        "decided_by": {"auto": by.get("auto", 0), "person": by.get("person", 0)},
    }


def compute_findings(
    scan: Any,
    decisions: Sequence[Decision],
    settings: ReportSettings = ReportSettings(),
    load: st.ImageLoader | None = None,
) -> Findings:
    """Groups, conflicts, mask IoU, SSIM statistics and class distributions of ``scan`` under ``decisions``."""
    grades = merged_grades(settings.include_adjacent)
    groups = build_groups(decisions, grades=grades)
    if load is None:
        load = st.scan_loader(scan, verify=settings.verify_images)
    iou = st.mask_iou_table(groups, load, size=settings.iou_size, register=settings.register)
    samples = st.ssim_samples(scan, groups)
    js = journal_summary(decisions)
    notes = []
    if not decisions:
        notes.append(
            "The decisions journal holds no decisions: no duplicate groups, so every image is kept. "
            "Review the scan first (`busi-curate review SCAN_DIR`)."
        )
    elif not groups:
        notes.append("No standing 'same' decision with a merged grade: no duplicate groups.")
    if not settings.include_adjacent and js["grades"]["adjacent-frame"]:
        notes.append(
            f"{js['grades']['adjacent-frame']} pair(s) graded adjacent-frame are not merged into groups "
            "(they count as non-duplicates); --include-adjacent merges them."
        )
    if samples.duplicate_missing:
        notes.append(
            f"{samples.duplicate_missing} duplicate pair(s) have no SSIM in this pruned scan and are left "
            "out of the SSIM statistics."
        )
    return Findings(
        groups=groups,
        groups_table=st.groups_table(groups, scan.index),
        conflicts=st.class_conflicts_table(groups),
        iou=iou,
        iou_summary=st.iou_summary(iou, columns=IOU_MEASURES[: 3 if settings.register else 1]),
        samples=samples,
        ssim=st.ssim_statistics(samples, settings.threshold_percentile),
        distribution=st.class_distribution(scan.index, groups),
        counts=st.group_counts(groups),
        journal=js,
        notes=notes,
    )


# --------------------------------------------------------------------------- document blocks


@dataclass(frozen=True)
class Block:
    """One piece of the document: ``h`` (level, text), ``p`` (text), ``table`` (header, rows),
    ``img`` (src, alt), ``links`` (list of (href, label)), ``code`` (text)."""

    kind: str
    data: tuple[Any, ...]


def H(level: int, text: str) -> Block:  # noqa: N802
    return Block("h", (level, text))


def P(text: str) -> Block:  # noqa: N802
    return Block("p", (text,))


def T(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Block:  # noqa: N802
    return Block("table", (tuple(header), tuple(tuple(fmt_cell(c) for c in r) for r in rows)))


def IMG(src: str, alt: str) -> Block:  # noqa: N802
    return Block("img", (src, alt))


def LINKS(items: Sequence[tuple[str, str]]) -> Block:  # noqa: N802
    return Block("links", (tuple(items),))


def CODE(text: str) -> Block:  # noqa: N802
    return Block("code", (text,))


def fmt_cell(v: Any) -> str:
    """A table cell as text: floats with 4 significant decimals, NaN as an en dash."""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return "–" if math.isnan(v) else f"{float(v):.4f}"
    return str(v)


def fmt_p(p: float) -> str:
    """A p-value for text: ``< 1e-300`` when it underflows to 0."""
    if math.isnan(p):
        return "n/a"
    if p == 0.0:
        return "< 1e-300"
    return f"{p:.3g}"


def fmt_table_p(p: float) -> str:
    """A Lilliefors p-value from statsmodels' table, which is clipped to [0.001, 0.2]."""
    if not math.isnan(p) and p <= 0.001 + 1e-9:
        return "<= 0.001"
    if not math.isnan(p) and p >= 0.2 - 1e-9:
        return ">= 0.2"
    return fmt_p(p)


_MD_ALWAYS = re.compile(r"([\\`*\[\]|])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def md_escape(text: str) -> str:
    """Escape Markdown syntax in ``text`` (one line): backslash, backtick, ``*``, brackets and ``|`` always;
    ``_`` at word edges, ``<`` that could open an HTML tag, ``#``/``>``/list marks at the start."""
    t = _MD_ALWAYS.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))
    t = _MD_UNDERSCORE.sub(r"\\_", t)
    t = _MD_TAG.sub(r"\\<", t)
    t = re.sub(r"&(?=#?[A-Za-z0-9]+;)", r"\\&", t)
    t = re.sub(r"^(\s*\d+)([.)])(?=\s|$)", r"\1\\\2", t)
    t = re.sub(r"^(\s*)([#+-])(?=\s|$)", r"\1\\\2", t)
    return re.sub(r"^(\s*)>", r"\1\\>", t)


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if b.kind == "h":
            out.append("#" * b.data[0] + " " + md_escape(b.data[1]))
        elif b.kind == "p":
            out.append(md_escape(b.data[0]))
        elif b.kind == "table":
            header, rows = b.data
            out.append("| " + " | ".join(md_escape(h) for h in header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out.extend("| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows)
        elif b.kind == "img":
            out.append(f"![{md_escape(b.data[1])}]({b.data[0]})")
        elif b.kind == "links":
            out.extend(f"- [{md_escape(label)}]({href})" for href, label in b.data[0])
        elif b.kind == "code":
            out.append("```\n" + b.data[0].replace("```", "` ` `") + "\n```")
        else:  # pragma: no cover - programming error
            raise ValueError(b.kind)
        out.append("")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.6em 0 1.2em;font-size:0.92em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;border:1px solid #ddd;margin:0.4em 0 1.2em}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}h1,h2,h3{margin-top:1.4em}
""".strip()


def render_html(blocks: Sequence[Block], title: str) -> str:
    """A self-contained HTML page (inline CSS, relative links to the PNGs and CSVs); all text escaped."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for b in blocks:
        if b.kind == "h":
            out.append(f"<h{b.data[0]}>{e(b.data[1])}</h{b.data[0]}>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.data[0])}</p>")
        elif b.kind == "table":
            header, rows = b.data
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            out.append("</table>")
        elif b.kind == "img":
            out.append(f'<img src="{e(b.data[0])}" alt="{e(b.data[1])}">')
        elif b.kind == "links":
            out.append(
                "<ul>" + "".join(f'<li><a href="{e(h)}">{e(label)}</a></li>' for h, label in b.data[0]) + "</ul>"
            )
        elif b.kind == "code":
            out.append(f"<pre>{e(b.data[0])}</pre>")
        else:  # pragma: no cover
            raise ValueError(b.kind)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- figures


def _png(fig: Any, dpi: int, colours: int = 0) -> bytes:
    """Render a figure to PNG bytes without a timestamp or software tag.

    With ``colours`` the picture is reduced to an adaptive palette of that many colours (much smaller
    files for photo-like panels; deterministic).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    if not colours:
        return buf.getvalue()
    from PIL import Image

    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    small = img.quantize(colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure(**kwargs: Any) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_ssim_hist(samples: st.SSIMSamples, s: st.SSIMStatistics, dpi: int = 100) -> bytes:
    """Fig. 5: normalised histograms of duplicate and non-duplicate SSIM, percentile ranges shaded."""
    fig = _figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    both = (
        np.concatenate([samples.duplicate, samples.non_duplicate])
        if (len(samples.duplicate) or len(samples.non_duplicate))
        else np.zeros(1)
    )
    lo = min(0.0, float(np.floor(both.min() * 20) / 20))
    bins = np.linspace(lo, 1.0, int(round((1.0 - lo) * 100)) + 1)
    pct = f"{s.percentile:g}%"
    for x, stats_, colour, name in (
        (samples.non_duplicate, s.non_duplicate, NON_COLOUR, "non-duplicate"),
        (samples.duplicate, s.duplicate, DUP_COLOUR, "duplicate"),
    ):
        if len(x) == 0:
            continue
        ax.hist(x, bins=bins, density=True, alpha=0.55, color=colour, label=f"{name} pairs (n={len(x):,})")
        ax.axvspan(
            stats_.range_low,
            stats_.range_high,
            color=colour,
            alpha=0.12,
            lw=0,
            label=f"{name}: {pct} range [{stats_.range_low:.3f}, {stats_.range_high:.3f}]",
        )
    if not math.isnan(s.threshold):
        ax.axvline(s.threshold, color="k", ls="--", lw=1, label=f"suggested threshold {s.threshold:.3f}")
    ax.set_xlim(lo, 1.0)
    ax.set_xlabel("SSIM")
    ax.set_ylabel("density (normalised)")
    ax.set_title("SSIM of duplicate vs non-duplicate pairs")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return _png(fig, dpi)


def _small(gray: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return gray, mask
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    g = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BILINEAR))
    m = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)) >= 128
    return g, m


def plot_group_panel(group: Group, scan: Any, load: st.ImageLoader, settings: ReportSettings) -> bytes:
    """Figs. 2-4: the images of one group side by side, each with its mask outline, class and id."""
    from skimage.measure import find_contours

    k = group.size
    cols = min(k, PANEL_COLUMNS)
    nrows = -(-k // cols)
    fig = _figure(figsize=(2.8 * cols, 2.5 * nrows + 0.3))
    for i, key in enumerate(group.members):
        gray, mask = load(key)
        g, m = _small(gray, mask, settings.panel_max_side)
        ax = fig.add_subplot(nrows, cols, i + 1)
        ax.imshow(g, cmap="gray", vmin=0, vmax=255, interpolation="bilinear")
        for c in find_contours(m.astype(np.float32), 0.5):
            ax.plot(c[:, 1], c[:, 0], color="#ffee00", lw=1.6)
        h, w = gray.shape
        ax.set_title(
            f"{key[0]} {key[1]}\n{w}x{h}" + ("" if m.any() else ", no lesion"),
            fontsize=9,
            color=CLASS_COLOURS.get(key[0], "k"),
        )
        ax.set_axis_off()
    conflict = " - classes disagree" if group.class_conflict else ""
    fig.suptitle(f"group {group.id}: {group.kind}{conflict}", fontsize=10)
    fig.tight_layout()
    return _png(fig, settings.panel_dpi, colours=256)


# --------------------------------------------------------------------------- the document


def _ref(paper: Any) -> str:
    return "–" if paper is None else str(paper)


def build_blocks(
    f: Findings, meta: dict[str, Any], settings: ReportSettings, panels: list[tuple[str, Group]]
) -> list[Block]:
    """The report as blocks (rendered to both Markdown and HTML)."""
    c, s, P_ = f.counts, f.ssim, st.PAPER
    dist = f.distribution.set_index("policy")
    b: list[Block] = [H(1, f"Curation report: {meta['dataset']}")]
    grades = ", ".join(merged_grades(settings.include_adjacent))
    b.append(
        P(
            f"Scan: {meta['n_images']} images of {meta['dataset']} ({meta['data_dir']}), SSIM at "
            f"{meta['scan_size']} px, {meta['scan_mode']} mode, {meta['pairs_scored']:,} pairs scored. "
            f"Decisions journal: {meta['journal_name']} (sha256 {meta['journal_sha256'][:12]}), "
            f"{f.journal['lines']} lines, {f.journal['standing']} standing decisions: {f.journal['same']} same, "
            f"{f.journal['different']} different, {f.journal['skip']} skipped; decided automatically "
            f"{f.journal['decided_by']['auto']}, by a person {f.journal['decided_by']['person']}. "
            f"Grades merged into groups: {grades}. Policy of the paper: every image of a duplicate group is removed."
        )
    )
    b.append(P(f"Written by busi-curate {__version__}; inputs and checksums are in report.json."))
    for n in f.notes:
        b.append(P("Note: " + n))

    b.append(H(2, "Summary (beside the paper's figures)"))
    larger = sorted({(g.size, g.kind) for g in f.groups if g.size > 4}, reverse=True)
    rows: list[tuple[Any, ...]] = [(k + "s", c.get(k, 0), "–") for _, k in larger]
    rows += [(k + "s", c.get(k, 0), _ref(P_["groups"][k])) for k in ("quadruplet", "triplet", "duplet")]
    rows += [
        ("duplicate groups", c["groups"], sum(P_["groups"].values())),
        ("images in duplicate groups", c["images"], P_["images_in_groups"]),
        ("groups whose members disagree on class", c["class_conflicts"], "–"),
        ("images after curation (remove all)", int(dist.at["remove-all", "total"]), P_["curated"]["total"]),
    ]
    for cls in st.CLASS_ORDER:
        rows.append((f"  {cls} after curation", int(dist.at["remove-all", cls]), P_["curated"][cls]))
    rows += [
        ("SSIM threshold suggested", fmt_cell(s.threshold), f"≈ {P_['threshold']}"),
        ("Mann-Whitney p (two-sided)", fmt_p(s.mannwhitney_p_two_sided), P_["mann_whitney_p"]),
    ]
    b.append(T(["measure", "this report", "paper"], rows))

    b.append(H(2, "Groups whose members disagree on class"))
    if len(f.conflicts):
        b.append(P(f"{len(f.conflicts)} of {c['groups']} groups mix classes: the same frame carries two labels."))
        b.append(
            T(
                ["group", "kind", "classes", "members"],
                [(r.group, r.kind, r.classes.replace(";", ", "), r.members) for r in f.conflicts.itertuples()],
            )
        )
    else:
        b.append(P("None."))

    b.append(H(2, "Mask agreement inside groups (Table 2)"))
    n_reg = int((f.iou["method"] == "registered").sum()) if len(f.iou) else 0
    method = (
        f"Method: each image's masks are merged (union of its mask files). The second image of a pair is "
        f"registered onto the first (upright scale + shift; masked normalised cross-correlation of the "
        f"smoothed images over all shifts, scale 1 first, else a search over scales 0.5-2), and the IoU is "
        f"taken over the region both images show. When the registration is not trusted (correlation "
        f"< {st.RegistrationSettings().min_ncc:g}) the pair falls back to the resize method: both masks "
        f"resized to a common {settings.iou_size}x{settings.iou_size} frame (area average, then >= 0.5), "
        f"which assumes both images show the same field of view. {n_reg} of {len(f.iou)} pairs are registered."
        if settings.register
        else f"Method: each image's masks are merged (union of its mask files) and resized to a common "
        f"{settings.iou_size}x{settings.iou_size} frame (area average, then >= 0.5), i.e. both images are "
        "assumed to show the same field of view (no registration), so crops of one frame get a lower IoU."
    )
    b.append(
        P(
            f"Intersection over union of the ground-truth masks for every pair inside every group "
            f"({len(f.iou)} pairs; a triplet gives 3 pairs, a quadruplet 6). " + method + " Two empty masks "
            "(normal images) count as IoU 1.0 (they agree: no lesion); an empty mask against a lesion counts "
            "as 0.0. The paper's Table 2 has no numbers in its text to compare with."
        )
    )
    head = f.iou_summary[f.iou_summary["measure"] == "iou"].drop(columns="measure")
    b.append(
        T(
            ["IoU", "pairs", "share", "pairs with a lesion", "share (with a lesion)"],
            [tuple(r) for r in head.itertuples(index=False)],
        )
    )
    if settings.register and len(f.iou):
        rows = []
        for m, label in (
            ("iou", "registered, else resized (above)"),
            ("iou_resized", "resized only"),
            ("iou_registered", "registered only (all pairs)"),
        ):
            part = f.iou_summary[f.iou_summary["measure"] == m].set_index("bin")
            labels = st.iou_bin_labels()
            rows.append(
                (
                    label,
                    int(part.at["mean", "pairs"]),
                    part.at["mean", "share"],
                    part.at["median", "share"],
                    part.at[labels[0], "share"],
                    part.at[labels[-1], "share"],
                )
            )
        b.append(P("The same pairs by method:"))
        b.append(
            T(
                [
                    "method",
                    "pairs",
                    "mean IoU",
                    "median IoU",
                    f"share {st.iou_bin_labels()[0]}",
                    f"share {st.iou_bin_labels()[-1]}",
                ],
                rows,
            )
        )

    b.append(H(2, "SSIM of duplicate vs non-duplicate pairs (Table 1, Fig. 5)"))
    b.append(
        P(
            "Duplicate pairs are all pairs inside a group (also pairs joined only through other members); "
            "non-duplicate pairs are all other scored pairs of the SSIM matrix. Standard deviations use ddof=1. "
            "The paper's text gives no numbers for Table 1."
        )
    )
    pct = f"{s.percentile:g}%"
    rows = []
    for name, x in (("duplicate", s.duplicate), ("non-duplicate", s.non_duplicate)):
        rows.append(
            (
                name,
                x.n,
                x.mean,
                x.std,
                x.median,
                f"[{fmt_cell(x.range_low)}, {fmt_cell(x.range_high)}]",
                fmt_cell(x.lilliefors_stat),
                fmt_table_p(x.lilliefors_p),
            )
        )
    b.append(T(["pairs", "n", "mean", "std", "median", f"{pct} range", "Lilliefors D", "Lilliefors p"], rows))
    normal = [
        name
        for name, x in (("duplicate", s.duplicate), ("non-duplicate", s.non_duplicate))
        if not math.isnan(x.lilliefors_p) and x.lilliefors_p >= 0.05
    ]
    b.append(
        P(
            "Lilliefors test (H0: the sample is normal; statsmodels, table p-values, which are clipped to "
            "[0.001, 0.2]): "
            + (
                "normality rejected at 5% for both samples, so a non-parametric test is used."
                if not normal
                else f"normality not rejected at 5% for: {', '.join(normal)}."
            )
        )
    )
    b.append(
        P(
            f"Mann-Whitney U (scipy) duplicate vs non-duplicate: U = {s.mannwhitney_u:.10g}, two-sided "
            f"p = {fmt_p(s.mannwhitney_p_two_sided)}, one-sided (duplicates greater) p = "
            f"{fmt_p(s.mannwhitney_p_greater)}; AUC = U / (n1 n2) = {fmt_cell(s.auc)} (the probability that a "
            f"duplicate pair has a higher SSIM than a non-duplicate pair). The paper reports p < 0.0001."
        )
    )
    b.append(
        P(
            f"Threshold rule: the shaded ranges hold {pct} of each sample on the side facing the other "
            f"(duplicates: from their {ordinal(100 - s.percentile)} percentile up; non-duplicates: up to their "
            f"{ordinal(s.percentile)} percentile; observed values, so each range holds at least {pct}). The suggested screening threshold is the low end of the duplicates' "
            f"range, {fmt_cell(s.threshold)}: {100 * s.duplicate_recall:.1f}% of the duplicate pairs score at or "
            f"above it, and {s.non_duplicate_above:,} non-duplicate pairs do too. The ranges "
            + (
                "overlap, so SSIM alone cannot separate duplicates from other pairs here."
                if s.ranges_overlap
                else "do not overlap."
            )
            + " Caveat: duplicates were found by walking SSIM-ranked candidates (plus the assistant's other "
            "routes), so duplicates with a very low SSIM are under-represented."
        )
    )
    b.append(IMG("fig5_ssim_hist.png", "Fig. 5: SSIM of duplicate vs non-duplicate pairs"))

    b.append(H(2, "Class distribution before and after curation (Table 3)"))
    b.append(
        P(
            "remove-all is the paper's policy (every image of every duplicate group removed). keep-one, for "
            "information, is the rule of the export policy keep-one: one image of each group whose "
            "members agree on class is kept, class-conflict groups are removed entirely."
        )
    )
    rows = []
    for r in f.distribution.itertuples(index=False):
        d = r._asdict()
        rows.append(
            (d["dataset"], d["policy"], d["removed"])
            + tuple(f"{d[cl]} ({fmt_pct(d[cl + '_pct'])})" for cl in st.CLASS_ORDER)
            + (d["total"],)
        )
    busi, cur = P_["busi"], P_["curated"]
    for name, ref in (("paper: BUSI", busi), ("paper: Curated BUSI", cur)):
        rows.append(
            (name, "remove-all" if ref is cur else "none", busi["total"] - ref["total"])
            + tuple(f"{ref[cl]} ({100 * ref[cl] / ref['total']:.1f}%)" for cl in st.CLASS_ORDER)
            + (ref["total"],)
        )
    b.append(T(["dataset", "policy", "removed", *st.CLASS_ORDER, "total"], rows))

    b.append(H(2, "Example groups (Figs. 2-4)"))
    if panels:
        b.append(
            P(
                f"{len(panels)} of {c['groups']} groups: one per kind first (largest kinds, class conflicts "
                "preferred), then the other class-conflict groups, then the largest groups. Yellow: mask outline; "
                "title: class (colour), id and image size."
            )
        )
        for name, g in panels:
            members = ", ".join(f"{k[0]} {k[1]}" for k in g.members)
            b.append(IMG(name, f"group {g.id} ({g.kind}): {members}"))
    else:
        b.append(P("No groups to show."))

    b.append(H(2, "All duplicate groups"))
    b.append(
        P(
            f"{c['groups']} groups holding {c['images']} images (union-find over the standing 'same' decisions). "
            "Members are listed in class then id order; the mask files are in groups.csv."
        )
    )
    if f.groups:
        b.append(
            T(
                ["group", "kind", "members", "grades", "classes disagree"],
                [
                    (
                        g.id,
                        g.kind,
                        "; ".join(f"{k[0]} {k[1]}" for k in g.members),
                        ", ".join(g.grades),
                        g.class_conflict,
                    )
                    for g in f.groups
                ],
            )
        )

    b.append(H(2, "Files"))
    b.append(
        LINKS(
            [
                ("groups.csv", "groups.csv: every member of every group with its image and mask files"),
                ("class_conflicts.csv", "class_conflicts.csv: groups whose members disagree on class"),
                ("mask_iou.csv", "mask_iou.csv: mask IoU of every pair inside every group"),
                ("iou_summary.csv", "iou_summary.csv: Table 2 summary"),
                ("ssim_stats.csv", "ssim_stats.csv: Table 1, tests and threshold"),
                ("class_distribution.csv", "class_distribution.csv: Table 3"),
                ("report.json", "report.json: versions, settings, input checksums, counts"),
            ]
        )
    )
    b.append(CODE(meta["command"]))
    return b


def ordinal(v: float) -> str:
    """``1`` -> ``1st``, ``99`` -> ``99th``, ``2.5`` -> ``2.5th``."""
    if v != int(v):
        return f"{v:g}th"
    n = int(v)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def fmt_pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.1f}%"


# --------------------------------------------------------------------------- write


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def read_decisions(scan: Any, decisions_path: Path) -> tuple[list[Decision], list[str]]:
    """Read the journal against the scan's images; returns the decisions and the reader's warnings
    (damaged lines skipped, e.g. a line cut in half by a crash).

    Raises:
        JournalError: the journal is missing, is not a journal, or names images not in the scan.
    """
    import warnings

    if not decisions_path.is_file():
        raise JournalError(
            "decisions journal not found (review the scan first, or pass --decisions FILE)", decisions_path
        )
    known = set(zip(scan.index["class"], scan.index["id"].astype(str)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decisions = read_journal(decisions_path, known=known)
    return decisions, [str(w.message) for w in caught]


def make_report(
    scan_dir: str | Path,
    out: str | Path,
    decisions_path: str | Path | None = None,
    settings: ReportSettings = ReportSettings(),
) -> dict[str, Any]:
    """Read the scan and the journal, compute the findings and write the report folder ``out``.

    Returns the ``report.json`` content. Every file is written atomically; files of an earlier report in
    ``out`` that this one does not write again (e.g. surplus panels) are removed.

    Raises:
        ScanError: the scan folder is missing or damaged, or its images changed since the scan.
        JournalError: the journal is missing or names images that are not in the scan.
    """
    from busi_curate.scan.run import read_scan

    scan = read_scan(scan_dir)
    dpath = Path(decisions_path) if decisions_path is not None else Path(scan_dir) / JOURNAL_NAME
    decisions, skipped = read_decisions(scan, dpath)
    load = st.scan_loader(scan, verify=settings.verify_images)
    f = compute_findings(scan, decisions, settings, load=load)
    f.notes[:0] = [f"journal: {m}" for m in skipped]
    return write_report(f, scan, dpath, Path(out), settings, load)


def write_report(
    f: Findings, scan: Any, decisions_path: Path, out: Path, settings: ReportSettings, load: st.ImageLoader
) -> dict[str, Any]:
    """Write every file of the report into ``out`` (see :func:`make_report`)."""
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_files(out)
    files: dict[str, str] = {}

    def put_csv(name: str, frame: pd.DataFrame) -> None:
        write_csv(out / name, frame)
        files[name] = file_sha256(out / name)

    def put_bytes(name: str, data: bytes) -> None:
        write_bytes(out / name, data)
        files[name] = bytes_sha256(data)

    put_csv("groups.csv", f.groups_table)
    put_csv("class_conflicts.csv", f.conflicts)
    put_csv("mask_iou.csv", f.iou)
    put_csv("iou_summary.csv", f.iou_summary)
    put_csv("ssim_stats.csv", st.ssim_stats_table(f.ssim))
    put_csv("class_distribution.csv", f.distribution)
    put_bytes("fig5_ssim_hist.png", plot_ssim_hist(f.samples, f.ssim))
    panels: list[tuple[str, Group]] = []
    for g in st.panel_selection(f.groups, settings.max_panels):
        name = f"panel_group{g.id:03d}_{g.kind}.png"
        put_bytes(name, plot_group_panel(g, scan, load, settings))
        panels.append((name, g))

    settings_d = asdict(settings)
    cmd = [f"busi-curate report {scan.dir.name or '.'} --decisions {decisions_path.name} --out {out.name}"]
    if settings.include_adjacent:
        cmd.append("--include-adjacent")
    cmd.append(f"--threshold-percentile {settings.threshold_percentile:g}")
    if not settings.register:
        cmd.append("--no-register")
    if settings.iou_size != st.DEFAULT_IOU_SIZE:
        cmd.append(f"--iou-size {settings.iou_size}")
    if settings.max_panels != ReportSettings().max_panels:
        cmd.append(f"--max-panels {settings.max_panels}")
    meta = {
        "dataset": scan.meta.get("dataset", "?"),
        "data_dir": scan.meta.get("data_dir", "?"),
        "n_images": scan.n,
        "scan_size": scan.meta.get("settings", {}).get("size", "?"),
        "scan_mode": scan.meta.get("settings", {}).get("mode", "?"),
        "pairs_scored": int(scan.meta.get("pairs_scored", 0)),
        "journal_name": decisions_path.name,
        "journal_sha256": file_sha256(decisions_path),
        "command": " ".join(cmd),
    }
    blocks = build_blocks(f, meta, settings, panels)
    title = f"Curation report: {meta['dataset']}"
    for name, text in (("report.md", render_markdown(blocks)), ("report.html", render_html(blocks, title))):
        write_text(out / name, text)
        files[name] = bytes_sha256(text.encode("utf-8"))

    from busi_curate.scan.run import library_versions

    report = {
        "tool": "busi-curate",
        "kind": "report",
        "format": REPORT_FORMAT,
        "version": __version__,
        "settings": settings_d,
        "scan": {
            "dir": str(scan.dir),
            "scan_json_sha256": file_sha256(scan.dir / "scan.json"),
            "files": scan.meta.get("files", {}),
            "dataset": meta["dataset"],
            "data_dir": meta["data_dir"],
            "n_images": scan.n,
            "settings": scan.meta.get("settings", {}),
        },
        "decisions": {"path": str(decisions_path), "sha256": meta["journal_sha256"], **f.journal},
        "grades_merged": list(merged_grades(settings.include_adjacent)),
        "counts": {
            **f.counts,
            "images_after_remove_all": int(f.distribution.set_index("policy").at["remove-all", "total"]),
            "images_after_keep_one": int(f.distribution.set_index("policy").at["keep-one", "total"]),
            "iou_pairs": len(f.iou),
        },
        "ssim": f.ssim.to_dict(),
        "paper": st.PAPER,
        "notes": f.notes,
        "libraries": library_versions(),
        "files": dict(sorted(files.items())),
    }
    report = _jsonable(report)
    write_json(out / "report.json", report)
    for name in previous - set(files) - {"report.json"}:
        p = out / name
        if p.is_file() and p.parent == out:
            p.unlink()
    return report


def _previous_files(out: Path) -> set[str]:
    """Files listed by an earlier report.json in ``out`` (plain names only)."""
    p = out / "report.json"
    try:
        old = json.loads(p.read_text(encoding="utf-8"))
        return {n for n in old.get("files", {}) if "/" not in n and "\\" not in n and n not in ("", ".", "..")}
    except (OSError, ValueError, AttributeError):
        return set()
