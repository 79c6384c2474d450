"""Issue 22: a packed dataset edited with its SHA-256 recomputed cannot put test images into training (FAIL 5),
and its arrays are checked (dtypes, ranges, shapes, keys) with one line, not a traceback or silence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.data.packed import PackedInputs, pack_dataset  # noqa: E402
from benchmark.data.provisional import build_provisional  # noqa: E402
from benchmark.errors import BenchError  # noqa: E402
from busi_curate.errors import CurateError  # noqa: E402


@pytest.fixture(scope="module")
def packed(synthetic_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packed")
    m, f = build_provisional(synthetic_dir, out / "manifest", k=2)
    return pack_dataset(m, f, synthetic_dir, 32, out / "p.npz")


def forge(src: Path, dst: Path, fn: Callable[[dict[str, np.ndarray]], None], meta_fn=None) -> Path:  # noqa: ANN001
    """Edit the arrays of ``src`` and write ``dst`` with a sidecar whose SHA-256 is recomputed."""
    with np.load(src, allow_pickle=False) as z:
        arr = {k: z[k] for k in z.files}
    fn(arr)
    with open(dst, "wb") as fh:
        np.savez_compressed(fh, **arr)
    meta = json.loads(src.with_suffix(".json").read_text())
    if meta_fn is not None:
        meta_fn(meta)
    meta["npz_sha256"] = hashlib.sha256(dst.read_bytes()).hexdigest()
    dst.with_suffix(".json").write_text(json.dumps(meta))
    return dst


def _test_rows_as_train(arr: dict[str, np.ndarray]) -> None:
    f = arr["folds"]
    copied = f[(f[:, 2] == "0") & (f[:, 3] == "test")].copy()
    copied[:, 3] = "train"
    arr["folds"] = np.concatenate([f, copied])


def test_test_rows_copied_in_as_train_rows_are_refused(packed: Path, tmp_path: Path) -> None:
    bad = forge(packed, tmp_path / "bad.npz", _test_rows_as_train)
    with pytest.raises(CurateError, match="listed twice in fold 0"):
        PackedInputs.read(bad)


def test_bench_run_refuses_it_with_one_line(packed: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from benchmark.cli import main

    bad = forge(packed, tmp_path / "bad.npz", _test_rows_as_train)
    argv = ["run", "--packed", str(bad), "--fold", "0", "--out", str(tmp_path / "run"), "--profile", "smoke"]
    r = CliRunner().invoke(main, [*argv, "--image-size", "32", "--epochs", "1", "--device", "cpu", "--no-progress"])
    assert r.exit_code == 2 and "Traceback" not in r.output and "bad.npz" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def _set(key: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(arr: dict[str, np.ndarray]) -> None:
        arr[key] = fn(arr[key])

    return edit


def _linked_across(arr: dict[str, np.ndarray]) -> None:
    f, keys = arr["folds"], list(arr["keys"])
    f0 = f[f[:, 2] == "0"]
    a = next(f"{c} {i}" for c, i, _, s in f0 if s == "test")
    b = next(f"{c} {i}" for c, i, _, s in f0 if s == "train")
    arr["units"] = arr["units"].copy()
    arr["units"][keys.index(b)] = arr["units"][keys.index(a)]  # a pair linked in the manifest, split in the pack


CASES = {
    "masks-x255": (_set("masks", lambda m: m * 255), "0 and 1 only"),
    "float-images": (_set("images", lambda x: x.astype(np.float32)), "uint8"),
    "label-out-of-range": (_set("labels", lambda v: v + 7), "is not its class's"),
    "labels-short": (_set("labels", lambda v: v[:-1]), "'labels' must be"),
    "masks-other-size": (_set("masks", lambda m: m[:, :16, :16]), "'masks' must be"),
    "duplicate-keys": (_set("keys", lambda k: np.array([k[0]] + list(k[:-1]))), "twice"),
    "unknown-class": (_set("keys", lambda k: np.array(["alien " + str(x) for x in k])), "unknown class"),
    "bad-split": (_set("folds", lambda f: np.where(f == "val", "holdout", f)), "unknown split"),
    "fold-not-int": (_set("folds", lambda f: np.where(f == "1", "one", f)), "integers"),
    "linked-pair-split": (_linked_across, "two sides"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_packed_arrays_are_checked(packed: Path, tmp_path: Path, case: str) -> None:
    fn, match = CASES[case]
    bad = forge(packed, tmp_path / "bad.npz", fn)
    with pytest.raises(CurateError, match=match) as exc:
        PackedInputs.read(bad)
    assert "bad.npz" in str(exc.value) and "\n" not in str(exc.value)


def test_a_size_other_than_the_sidecars_is_refused(packed: Path, tmp_path: Path) -> None:
    bad = forge(packed, tmp_path / "bad.npz", lambda a: None, lambda m: m.update(image_size=64))
    with pytest.raises(BenchError, match="the sidecar says 64x64"):
        PackedInputs.read(bad)


def test_an_intact_pack_still_reads(packed: Path) -> None:
    pk = PackedInputs.read(packed)
    assert pk.folds.numbers == [0, 1]
