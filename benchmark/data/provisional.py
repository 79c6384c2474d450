"""Build a manifest + folds from a dataset folder without curation (every image ``kept``).

For tests (synthetic data) and for a clearly labelled provisional run on uncurated BUSI while the
curated manifest is not available. Rows come from :func:`busi_curate.data.dataset.load_dataset`, the folds
from :func:`busi_curate.publish.folds.make_folds` (the paper code's scheme: ``StratifiedKFold(k, shuffle=True,
random_state=seed)`` over the images in record order, a stratified validation split inside each
remainder), so the files read exactly like an exported manifest, sidecar included (marked uncurated).
"""

from __future__ import annotations

from pathlib import Path

from busi_curate import __version__
from busi_curate.data.dataset import load_dataset
from busi_curate.fileio import file_sha256, write_csv, write_json
from busi_curate.publish.folds import SCHEME, FoldSettings, make_folds
from busi_curate.publish.manifest import MANIFEST_FORMAT, ManifestRow, rows_frame


def build_provisional(
    data_dir: str | Path,
    out_dir: str | Path,
    k: int = 4,
    seed: int = 1993,
    val_fraction: float = 0.2,
    version: str = "0.0.0",
) -> tuple[Path, Path]:
    """Write ``out_dir/manifest.csv`` and ``out_dir/folds.csv`` for every image of ``data_dir``.

    Returns:
        Paths of the manifest and the folds file.
    """
    ds = load_dataset(data_dir)
    rows = [ManifestRow.from_record(r, version) for r in ds.records]
    settings = FoldSettings(k=k, seed=seed, val_fraction=val_fraction)
    folds = make_folds([r.key for r in rows], [r.cls for r in rows], None, settings)
    out_dir = Path(out_dir)
    write_csv(out_dir / "manifest.csv", rows_frame(rows))
    write_csv(out_dir / "folds.csv", folds)
    counts = {c: sum(r.cls == c for r in rows) for c in sorted({r.cls for r in rows})}
    # the sidecar every manifest reader checks (the CSVs' SHA-256), marked as uncurated
    write_json(
        out_dir / "manifest.json",
        {
            "tool": "busi-curate",
            "format": MANIFEST_FORMAT,
            "version": version,
            "dataset": ds.name,
            "written_by": f"busi-bench provisional (busi-curate {__version__})",
            "status": "UNCURATED: every image kept, no duplicate removal, folds without group links",
            "folds": {"k": k, "seed": seed, "val_fraction": val_fraction, "scheme": SCHEME, "group_links": False},
            "counts": {"after": dict(counts, total=len(rows))},
            "fold_links": [],
            "files": {
                "manifest.csv": file_sha256(out_dir / "manifest.csv"),
                "folds.csv": file_sha256(out_dir / "folds.csv"),
            },
        },
    )
    return out_dir / "manifest.csv", out_dir / "folds.csv"
