"""Atomic writes and content hashes shared by every stage that writes or identifies files."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of every file written: what ``open()`` would create under the process's umask (read once).
FILE_MODE = 0o666 & ~_current_umask()


#: errno values that mean "the output place cannot take this write" (a user's situation, not a bug).
WRITE_ERRNOS = frozenset(
    getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EFBIG", "EIO") if hasattr(errno, n)
)


def write_error_line(exc: BaseException) -> str | None:
    """One line for a failed write (disk full, read-only, no permission, quota), naming the file; None for
    other errors (those stay tracebacks: they are bugs). Looks through chained exceptions (torch's writer
    wraps the OSError in a RuntimeError)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in WRITE_ERRNOS:
            where = f"{cur.filename}: " if cur.filename else ""
            return f"{where}cannot write ({cur.strerror or os.strerror(cur.errno or 0)})"
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, RuntimeError) and "file write failed" in str(exc):  # torch's zip writer, no errno kept
        return f"cannot write a file ({str(exc).splitlines()[-1][:160]}); is the disk full or read-only?"
    return None


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


def check_inside(path: str | Path, root: str | Path) -> Path:
    """``path`` when its real location (links followed) is inside the data folder ``root``.

    One rule for every reader of a dataset (scan, assistant, export, verify, materialize, bench, the review
    page): an image or mask that is a link to a file outside the data folder is refused, never read.

    Raises:
        UnsafePathError: the real path leaves ``root``.
    """
    from busi_curate.errors import UnsafePathError

    path = Path(path)
    real = path.resolve()
    if not real.is_relative_to(Path(root).resolve()):
        raise UnsafePathError(f"leads outside the data folder {root} (to {real}); links out of it are refused", path)
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


def fsync_dir(path: str | Path) -> None:
    """fsync a folder, so a file just created or renamed in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a failed write(2) names no file: the error line must
        raise


def move_aside(path: str | Path, label: str) -> Path:
    """Rename ``path`` to ``<stem>.<label>-<UTC time>-<random hex><suffix>`` beside it; returns the new path.

    The new name is first created exclusively (``O_EXCL``), so an earlier file is never replaced, even by a
    second move in the same second or in the hour repeated at the end of daylight saving time.
    """
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    while True:
        aside = path.with_name(f"{path.stem}.{label}-{stamp}-{secrets.token_hex(4)}{path.suffix}")
        try:
            os.close(open_nofollow(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        break
    try:
        os.replace(path, aside)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(aside)
        raise
    return aside


#: the names :func:`atomic_open` and :func:`staged_files` give their temporary files (``tempfile.mkstemp``'s
#: 8 random characters), and those of materialize's staging folders.
_TMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_STAGING_RE = r"^\.{name}\.[a-z0-9_]{{8}}\.(partial|old)$"


def sweep_leftovers(folder: str | Path, staging_of: str | None = None, tmp_files: bool = True) -> list[Path]:
    """Remove what a killed run (``kill -9``, power cut) left in ``folder``: our temporary files
    (``.<name>.<8 random>.tmp``) and, with ``staging_of``, materialize's ``.<staging_of>.<8 random>.partial``
    / ``.old`` folders (``tmp_files=False``: those only). Call it only where this command is the folder's one
    writer. Returns what was removed.
    """
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return []
    staging = re.compile(_STAGING_RE.format(name=re.escape(staging_of))) if staging_of else None
    removed = []
    for p in folder.iterdir():
        if p.is_symlink():
            continue
        if tmp_files and p.is_file() and _TMP_RE.match(p.name):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
        elif staging is not None and p.is_dir() and staging.match(p.name):
            import shutil

            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def staged_files(folder: str | Path) -> Iterator[Callable[[str], Path]]:
    """Write several files of ``folder`` all or none: ``stage(name)`` gives a temporary path to write
    ``name`` to; when the block succeeds every file is renamed into place, else every temporary is removed
    (a full disk never leaves, say, a manifest without its sidecar)."""
    folder = Path(folder)
    staged: list[tuple[Path, Path]] = []

    def stage(name: str) -> Path:
        final = refuse_link(folder / name)
        tmp = folder / f".{final.name}.{secrets.token_hex(4)}.tmp"
        staged.append((tmp, final))
        return tmp

    try:
        yield stage
        for tmp, final in staged:
            refuse_link(final)
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        fsync_dir(folder)


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
