"""Checkpoints of ``busi-bench run``: written atomically, read without running code, checked before a resume.

A checkpoint holds tensors, numbers, strings, lists and dicts only (plus the :data:`CHECKPOINT_FORMAT`
tag), so ``torch.load(weights_only=True)`` reads it and a crafted pickle is refused before anything in
it runs. RNG states are stored as tensors and lists, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import BenchError
from benchmark.profiles import RESUME_FREE, RunConfig
from busi_curate.fileio import atomic_open


def _save(path: Path, obj: dict[str, Any]) -> None:
    try:
        with atomic_open(path, "wb") as fh:
            torch.save(obj, fh)
    except RuntimeError as exc:  # torch's zip writer wraps a failed write (disk full, read-only) in RuntimeError
        why = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise BenchError(f"cannot write the checkpoint ({why}); is the disk full or read-only?", path) from None


#: The lock file of a fold folder: one ``busi-bench run`` writes a fold at a time.
FOLD_LOCK = ".run.lock"


def lock_fold(fold_dir: Path) -> int:
    """Take the fold folder's lock (``flock`` on :data:`FOLD_LOCK`, released by the kernel when the process
    dies, even by SIGKILL); returns its descriptor for :func:`unlock_fold`. Without ``fcntl`` (not POSIX): -1.

    Raises:
        BenchError: another process (an orphaned grid job, a second grid) is running this fold, or the lock
            cannot be created (read-only folder).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        return -1
    from busi_curate.fileio import open_nofollow

    path = fold_dir / FOLD_LOCK
    try:
        fold_dir.mkdir(parents=True, exist_ok=True)
        fd = open_nofollow(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise BenchError(f"cannot create the fold's lock ({exc.strerror or exc})", path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BenchError("another busi-bench run is writing this fold (stop it first)", fold_dir) from None
    return fd


def unlock_fold(fd: int) -> None:
    """Release a lock taken by :func:`lock_fold`."""
    if fd >= 0:
        os.close(fd)


#: Marks a file written by :func:`save_checkpoint`; anything else is refused by :func:`load_checkpoint`.
CHECKPOINT_FORMAT = "busi-bench-checkpoint/1"


def _rng_states() -> dict[str, Any]:
    """RNG states as tensors, ints and lists only (loadable with ``weights_only=True``)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    st: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_states(st: dict[str, Any]) -> None:
    version, internal, gauss = st["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    npst = st["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached"])
    )
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_checkpoint(path: Path, obj: dict[str, Any]) -> None:
    """Write a checkpoint atomically: tensors, numbers, strings, lists and dicts only, plus the format tag.

    The JSON-like parts (config, provenance, state) go through a JSON round trip, so no object of another
    type (``torch.torch_version.TorchVersion``, numpy scalars...) reaches the file.
    """
    import json

    plain = {
        k: json.loads(json.dumps(v, default=str)) for k, v in obj.items() if k in ("config", "provenance", "state")
    }
    _save(path, dict(obj, **plain, format=CHECKPOINT_FORMAT))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU without running code from it (``weights_only=True``).

    Raises:
        BenchError: missing, unreadable, or not a busi-bench checkpoint (e.g. a pickle that would
            build arbitrary objects is refused before anything in it runs).
    """
    import pickle

    path = Path(path)
    if path.is_symlink() or not path.is_file():
        raise BenchError("checkpoint not found (or not a regular file)", path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "Unsupported" in ln or "Unpickler error" in ln]
        first = lines[0] if lines else type(exc).__name__
        raise BenchError(f"not a busi-bench checkpoint (refused to load objects: {first[:160]})", path) from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise BenchError(
            f"not a busi-bench checkpoint (cannot read it: {type(exc).__name__}: {str(exc)[:160]})", path
        ) from exc
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or not isinstance(ck.get("model"), dict):
        raise BenchError(f"not a busi-bench checkpoint (no {CHECKPOINT_FORMAT!r} tag)", path)
    if not isinstance(ck.get("config"), dict):
        raise BenchError("not a busi-bench checkpoint (no config)", path)
    return ck


def _check_resumable(ck: dict[str, Any], cfg: RunConfig, path: Path, prov: dict[str, Any] | None) -> None:
    saved_inputs = ck.get("provenance", {}).get("inputs", {})
    now_inputs = (prov or {}).get("inputs", {})
    for key in ("manifest_sha256", "folds_sha256"):
        if saved_inputs.get(key) and now_inputs.get(key) and saved_inputs[key] != now_inputs[key]:
            raise BenchError(
                f"cannot resume: the checkpoint was trained on another {key.split('_')[0]} file "
                f"(sha256 {saved_inputs[key][:12]}, now {now_inputs[key][:12]})",
                path,
            )
    defaults = RunConfig().to_dict()
    # a setting added after the checkpoint was written counts as its default value
    saved = dict(defaults, **ck.get("config", {}))
    now = cfg.to_dict()
    diff = sorted(k for k in now if k not in RESUME_FREE and saved.get(k) != now[k])
    if diff:
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in diff[:4])
        raise BenchError(f"cannot resume: the checkpoint was written with other settings ({shown})", path)
