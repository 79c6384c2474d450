"""The manifest contract: schema constants match the docs; the readers refuse damaged manifests and folds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli_captured as run_cli

from busi_curate.errors import ManifestError
from busi_curate.publish.manifest import FOLDS_COLUMNS, MANIFEST_COLUMNS, PATIENT_COLUMN, read_folds, read_manifest

DOC = Path(__file__).resolve().parents[3] / "docs" / "manifest.md"


@pytest.fixture()
def copy(synthetic_manifest_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "m"
    shutil.copytree(synthetic_manifest_dir, d)
    return d


def _doc_table(heading: str) -> list[str]:
    """First-column names of the Markdown table under ``heading`` in docs/manifest.md."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    names = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        m = re.match(r"^\|\s*`([^`]+)`\s*\|", line)
        if m:
            names.append(m.group(1))
    return names


def test_docs_list_the_schema_exactly() -> None:
    # the optional patient column is documented last, after the columns every manifest has
    assert tuple(_doc_table("## manifest.csv")) == (*MANIFEST_COLUMNS, PATIENT_COLUMN)
    assert tuple(_doc_table("## folds.csv")) == FOLDS_COLUMNS


def test_docs_list_every_sidecar_key(synthetic_manifest_dir: Path) -> None:
    import json

    meta = json.loads((synthetic_manifest_dir / "manifest.json").read_text())
    documented = set(_doc_table("## manifest.json"))
    assert set(meta) == documented


def test_reads_back(synthetic_manifest_dir: Path) -> None:
    m = read_manifest(synthetic_manifest_dir)
    assert len(m) == 36 and m.meta is not None and m.version == "1.0.0"
    assert m.counts()["total"] == 36
    folds = read_folds(synthetic_manifest_dir / "folds.csv")
    assert folds.numbers == [0, 1, 2, 3]


def _rewrite(path: Path, frame: pd.DataFrame, drop_sidecar: bool = True) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")
    if drop_sidecar:
        (path.parent / "manifest.json").unlink(missing_ok=True)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns=["tumour_pixels"]), "missing column(s) tumour_pixels"),
        (lambda f: f.rename(columns={"status": "state"}), "missing column(s) status; unexpected column(s) state"),
        (lambda f: f.assign(note="x"), "unexpected column(s) note"),
        (lambda f: f[list(f.columns[::-1])], "wrong order"),
        (lambda f: f.assign(status=["maybe"] + list(f["status"][1:])), "line 2: status must be one of"),
        (lambda f: pd.concat([f, f.iloc[[0]]]), "listed twice"),
        (lambda f: f.iloc[::-1], "record order"),
        (lambda f: f.assign(width=["wide"] + list(f["width"][1:])), "'width' must be an integer"),
        (lambda f: f.assign(pixel_sha256=["abc"] + list(f["pixel_sha256"][1:])), "not a SHA-256"),
        (lambda f: f.assign(version=["2.0.0"] + list(f["version"][1:])), "mixes versions"),
    ],
)
def test_changed_schema_is_refused(copy: Path, change, message: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = copy / "manifest.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    _rewrite(path, change(frame))
    with pytest.raises(ManifestError, match=re.escape(message)) as exc:
        read_manifest(copy)
    assert exc.value.path == path
    code, _, err = run_cli(["verify", str(copy), str(copy)], capsys)  # every command reads through the same gate
    assert code == 2 and str(path) in err and err.count("\n") == 1


def test_hand_edit_is_caught_by_the_sidecar(copy: Path) -> None:
    path = copy / "manifest.csv"
    text = path.read_text().replace(",kept,", ",removed,", 1)
    path.write_text(text)
    with pytest.raises(ManifestError, match="never edited by hand"):
        read_manifest(copy)


def test_folds_naming_unknown_or_removed_images(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = read_manifest(copy)
    removed = next(r for r in m.rows if not r.kept)
    folds = pd.read_csv(copy / "folds.csv", dtype=str, keep_default_na=False)
    bad_dir = copy.parent / "bad"
    bad_dir.mkdir()
    cases = {
        "unknown.csv": (
            pd.concat([folds, pd.DataFrame([{"class": "benign", "id": "999", "fold": "0", "split": "train"}])]),
            "not in the manifest",
        ),
        "removed.csv": (
            pd.concat([folds, pd.DataFrame([{"class": removed.cls, "id": removed.id, "fold": "0", "split": "train"}])]),
            "'removed' in the manifest",
        ),
        "twice.csv": (
            folds.assign(split=folds["split"].where(folds.index != folds.index[folds["split"] == "train"][0], "test")),
            "test image in 2 folds",
        ),
        "missing.csv": (folds.iloc[1:], "does not list 1 kept image"),
        "split.csv": (folds.assign(split=folds["split"].replace("val", "validation")), "unknown split"),
        "fold.csv": (folds.assign(fold=folds["fold"].replace("0", "first")), "must hold integers"),
        "columns.csv": (folds.rename(columns={"split": "role"}), "schema changed"),
    }
    for name, (frame, message) in cases.items():
        p = bad_dir / name
        frame.to_csv(p, index=False, lineterminator="\n")
        with pytest.raises(ManifestError, match=re.escape(message)) as exc:
            read_folds(p, m)
        assert exc.value.path == p, name
    # through the CLI (materialize reads the folds file before touching any data): one line, exit 2
    code, _, err = run_cli(
        ["materialize", str(copy), str(copy), "--out", str(copy.parent / "o"), "--folds", str(bad_dir / "unknown.csv")],
        capsys,
    )
    assert code == 2 and "benign 999" in err
    assert not (copy.parent / "o").exists()


def test_edited_exported_folds_are_refused(copy: Path) -> None:
    path = copy / "folds.csv"
    lines = path.read_text().splitlines(keepends=True)
    i = next(n for n, line in enumerate(lines) if line.endswith(",0,train\n"))
    j = next(n for n, line in enumerate(lines) if line.endswith(",0,val\n"))
    a, b = lines[i].rsplit(",", 1)[0], lines[j].rsplit(",", 1)[0]
    lines[i], lines[j] = a + ",val\n", b + ",train\n"  # still a valid partition, but not what export wrote
    path.write_text("".join(lines))
    with pytest.raises(ManifestError, match="never edited by hand"):
        read_folds(path)


def test_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")
    code, _, err = run_cli(["folds", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "f.csv")], capsys)
    assert code == 2 and "manifest not found" in err
