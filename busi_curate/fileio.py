"""Atomic writes and content hashes shared by every stage that writes or identifies files."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of every file written: what ``open()`` would create under the process's umask (read once).
FILE_MODE = 0o666 & ~_current_umask()


def refuse_link(path: str | Path) -> Path:
    """``path`` itself, after checking that it is not a symbolic link (nothing is written through a link).

    Raises:
        UnsafePathError: ``path`` is a symbolic link.
    """
    from busi_curate.errors import UnsafePathError

    path = Path(path)
    if path.is_symlink():
        raise UnsafePathError(
            f"is a symbolic link (to {os.readlink(path)}); busi-curate never writes through a link", path
        )
    return path


def open_nofollow(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` with ``O_NOFOLLOW``: a symbolic link at ``path`` is refused, not followed.

    Raises:
        UnsafePathError: ``path`` is a symbolic link.
    """
    from busi_curate.errors import UnsafePathError

    path = refuse_link(path)
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError("is a symbolic link; busi-curate never writes through a link", path) from exc
        raise


def open_append(path: str | Path, **kwargs: Any) -> IO[Any]:
    """Open ``path`` for appending text (created when missing), refusing a symbolic link."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a", **kwargs)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    A crash or exception leaves ``path`` untouched (never half-written). The file gets the mode a
    plain ``open()`` would give it under the user's umask (shared lab folders stay readable), and a
    symbolic link at ``path`` is refused rather than replaced or followed.

    Raises:
        UnsafePathError: ``path`` is a symbolic link.
    """
    path = refuse_link(Path(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Atomically write ``text`` (UTF-8, ``\\n`` line endings)."""
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Atomically write ``data``."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as stable, indented JSON (sorted keys, trailing newline)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Atomically write a NumPy array in ``.npy`` format."""
    with atomic_open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def write_csv(path: str | Path, frame: Any) -> None:
    """Atomically write a pandas DataFrame as CSV (no index, ``\\n`` line endings)."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return obj.as_posix()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """SHA-256 of bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def pixel_sha256(array: np.ndarray) -> str:
    """Identity of decoded pixel content: SHA-256 of ``b"<height>x<width>\\n"`` + the C-order uint8 pixels.

    Two files whose decoded 8-bit grayscale pixels are equal share this hash whatever
    their encoding (PNG mode, compression level, metadata).
    """
    if array.ndim != 2:
        raise ValueError(f"pixel_sha256 expects a 2-D array, got shape {array.shape}")
    a = np.ascontiguousarray(array, dtype=np.uint8)
    h = hashlib.sha256(f"{a.shape[0]}x{a.shape[1]}\n".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def portable_path(path: str | Path, base: str | Path) -> str:
    """``path`` relative to ``base`` (POSIX, ``..`` allowed) for files that are shared: no user's absolute path.

    Falls back to the absolute path only where no relative one exists (another drive on Windows).
    """
    import os

    target, start = Path(path).resolve(), Path(base).resolve()
    try:
        return Path(os.path.relpath(target, start)).as_posix()
    except ValueError:
        return target.as_posix()
