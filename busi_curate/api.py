"""One call from a folder of images to its duplicate groups, and a picture of them in a notebook.

``find_duplicates(folder_or_scan)`` scans the folder (any layout :func:`~busi_curate.data.load_dataset`
knows: a plain tree of images, DICOM, BUSI, ...), runs the automatic review (the assistant answers what it is
sure about, every answer journalled in ``SCAN/decisions.csv`` under the review lock, taken and released here)
and returns one row per image of a duplicate group. In a notebook the result draws itself as a gallery
(``_repr_html_``); :func:`plot_duplicates` draws the same groups with matplotlib.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from busi_curate.defaults import JOURNAL_NAME
from busi_curate.scan.run import ScanResult, ScanSettings

DUPLICATE_COLUMNS = ("group", "size", "grade", "class", "id", "image", "patient", "evidence", "class_conflict")


class DuplicateGroups(pd.DataFrame):
    """A DataFrame of :data:`DUPLICATE_COLUMNS` (one row per image of a group) that draws itself in a notebook.

    ``attrs`` holds ``scan_dir``, ``data_dir`` and ``questions_left`` (pairs the assistant left for a person:
    ``busi-curate review SCAN`` serves them on a page).
    """

    _metadata: list[str] = []

    @property
    def _constructor(self) -> type[DuplicateGroups]:
        return DuplicateGroups

    def _repr_html_(self) -> str:
        """An HTML gallery: one row of thumbnails per group (evidence on hover), then the table."""
        return gallery_html(self) + (super()._repr_html_() or "")

    def grid(self, max_groups: int = 12, size: float = 1.8) -> Any:
        """The groups as a matplotlib figure (:func:`plot_duplicates`)."""
        return plot_duplicates(self, max_groups=max_groups, size=size)


def _open_scan(
    source: str | Path | ScanResult, out: str | Path | None, settings: ScanSettings, progress: bool
) -> ScanResult:
    from busi_curate.review.session import load_scan
    from busi_curate.scan.run import run_scan

    if isinstance(source, ScanResult):
        return source
    src = Path(source)
    if (src / "scan.json").is_file():
        return load_scan(src)
    scan_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="busi-curate-scan-"))
    return run_scan(src, scan_dir, settings, progress=progress)


def find_duplicates(
    source: str | Path | ScanResult,
    *,
    out: str | Path | None = None,
    settings: ScanSettings = ScanSettings(),
    assistant: Any = None,
    include_adjacent: bool = False,
    progress: bool = False,
) -> DuplicateGroups:
    """Duplicate groups of a data folder (scanned into ``out``, default a new temporary folder) or of a scan.

    Args:
        source: a data folder, a scan folder (holding ``scan.json``) or a :class:`ScanResult`.
        out: where to write the scan of a data folder.
        settings: scan settings (size, backend, mode, layout, lenient).
        assistant: an assistant instance or ``"module:Class"`` (default: the built-in one).
        include_adjacent: also merge pairs graded ``adjacent-frame`` (neighbouring frames of a sweep).
        progress: progress bars on stderr.

    Returns:
        One row per image of a group, groups numbered from 1 in record order; ``grade`` is the group's
        strongest grade, ``evidence`` the assistant's (or a person's) words for the pair that joined the image.

    Raises:
        DatasetError, ScanError, JournalError (another review holds the lock): one line naming the file.
    """
    from busi_curate.review.groups import build_groups, merged_grades
    from busi_curate.review.run import DEFAULT_ASSISTANT, automatic_pass
    from busi_curate.review.session import load_journal, review_lock

    scan = _open_scan(source, out, settings, progress)
    journal = Path(scan.dir) / JOURNAL_NAME
    with review_lock(scan.dir):
        walk, _ = automatic_pass(scan, journal, assistant=assistant or DEFAULT_ASSISTANT)
    decisions, _ = load_journal(journal, scan)
    groups = build_groups(decisions, grades=merged_grades(include_adjacent))
    return _frame(scan, groups, len(walk.open_questions()))


def _frame(scan: ScanResult, groups: list[Any], questions: int) -> DuplicateGroups:
    from busi_curate.audit.leakage import GRADE_ORDER

    patients = scan.patients()
    images = {(str(c), str(i)): str(p) for c, i, p in zip(scan.index["class"], scan.index["id"], scan.index["image"])}
    rows = []
    for g in groups:
        grade = min(g.grades, key=lambda x: GRADE_ORDER.index(x) if x in GRADE_ORDER else 99)
        evidence: dict[Any, str] = {}
        for k in g.members[1:]:  # the first image (record order) anchors the group; each other one says why
            a, b, _ = next(p for p in g.pairs if k in p[:2])
            other = a if b == k else b
            evidence[k] = f"{other[0]} {other[1]}: {_evidence(scan, a, b)}"
        for k in g.members:
            rows.append(
                (
                    g.id,
                    g.size,
                    grade,
                    k[0],
                    k[1],
                    images.get(k, ""),
                    patients.get(k, ""),
                    evidence.get(k, ""),
                    g.class_conflict,
                )
            )
    frame = DuplicateGroups(rows, columns=list(DUPLICATE_COLUMNS))
    frame.attrs.update(scan_dir=str(scan.dir), data_dir=str(scan.data_dir), questions_left=questions)
    return frame


def _evidence(scan: ScanResult, a: Any, b: Any) -> str:
    from busi_curate.review.journal import effective
    from busi_curate.review.session import load_journal

    table = scan.extra.get("_evidence")
    if table is None:
        decisions, _ = load_journal(Path(scan.dir) / JOURNAL_NAME, scan)
        table = {pair: d.evidence for pair, d in effective(decisions).items()}
        scan.extra["_evidence"] = table
    return str(table.get((a, b) if a <= b else (b, a), ""))


def _thumb(path: Path, height: int) -> np.ndarray:
    from PIL import Image

    from busi_curate.data.imageio import read_gray

    gray = read_gray(path)
    w = max(1, round(gray.shape[1] * height / gray.shape[0]))
    return np.asarray(Image.fromarray(gray).resize((w, height), Image.Resampling.BILINEAR))


def _png_uri(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def gallery_html(frame: pd.DataFrame, max_groups: int = 50, height: int = 96) -> str:
    """One row of thumbnails per group (at most ``max_groups``), class and id under each, evidence on hover.

    Empty for a selection that lost the columns the pictures need (``dups[["group", "id"]]`` shows as a table).
    """
    if not {"group", "size", "grade", "class", "id", "image", "evidence", "class_conflict"} <= set(frame.columns):
        return ""
    root = Path(frame.attrs.get("data_dir", "."))
    parts = [f"<div><b>{frame['group'].nunique() if len(frame) else 0} duplicate group(s), {len(frame)} images</b>"]
    if frame.attrs.get("questions_left"):
        parts.append(f" &middot; {frame.attrs['questions_left']} pair(s) left for a person (busi-curate review)")
    parts.append("</div>")
    for gid, g in list(frame.groupby("group", sort=True))[:max_groups]:
        first = g.iloc[0]
        head = f"group {gid} &middot; {int(first['size'])} images &middot; {html.escape(str(first['grade']))}"
        head += " &middot; <b style='color:#b00'>classes differ</b>" if bool(first["class_conflict"]) else ""
        cells = []
        for r in g.itertuples(index=False):
            tip = html.escape(str(r.evidence) or "first image of the group")
            uri = _png_uri(_thumb(root / str(r.image), height))
            cells.append(
                f"<figure style='margin:2px;display:inline-block' title='{tip}'><img src='{uri}' height='{height}'>"
                f"<figcaption style='font-size:11px'>{html.escape(f'{r[3]} {r.id}')}</figcaption></figure>"
            )
        parts.append(f"<div style='margin:6px 0'><div style='font-size:12px'>{head}</div>{''.join(cells)}</div>")
    if frame["group"].nunique() > max_groups if len(frame) else False:
        parts.append(f"<div>... and {frame['group'].nunique() - max_groups} more groups (all in the table)</div>")
    return "".join(parts)


def plot_duplicates(frame: pd.DataFrame, max_groups: int = 12, size: float = 1.8) -> Any:
    """A matplotlib figure: one row per group (at most ``max_groups``), one panel per image, titled class and id."""
    import matplotlib.pyplot as plt

    root = Path(frame.attrs.get("data_dir", "."))
    groups = list(frame.groupby("group", sort=True))[:max_groups]
    cols = max((len(g) for _, g in groups), default=1)
    fig, axes = plt.subplots(
        max(len(groups), 1), cols, figsize=(size * cols, size * max(len(groups), 1)), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for row, (gid, g) in enumerate(groups):
        for col, r in enumerate(g.itertuples(index=False)):
            ax = axes[row, col]
            ax.imshow(_thumb(root / str(r.image), 128), cmap="gray", vmin=0, vmax=255)
            ax.set_title(f"{r[3]} {r.id}", fontsize=8, color="#b00" if r.class_conflict else "black")
        axes[row, 0].text(
            -0.05,
            0.5,
            f"group {gid}\n{g.iloc[0]['grade']}",
            transform=axes[row, 0].transAxes,
            ha="right",
            va="center",
            fontsize=8,
        )
    fig.tight_layout()
    return fig
