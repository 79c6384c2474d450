"""One exception type per failure family; the CLI turns each into one line and exit status 2."""

from __future__ import annotations

from pathlib import Path


class CurateError(Exception):
    """Base class for every user-facing error of busi-curate.

    Args:
        message: what went wrong and what was expected, written for a person.
        path: the offending file or folder, when there is one.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.message = message
        super().__init__(f"{path}: {message}" if path is not None else message)


class DatasetError(CurateError):
    """A dataset folder, image or mask is missing, corrupt or laid out wrongly."""


class ScanError(CurateError):
    """A scan folder is missing, incomplete, or no longer matches its data."""


class JournalError(CurateError):
    """A review journal (decisions.csv) cannot be used."""


class ManifestError(CurateError):
    """A manifest, its sidecar or its folds file is damaged or inconsistent."""


class UnsafePathError(CurateError):
    """A file the tool would write or lock is a symbolic link, or a path leaves the folder it must stay in."""


class MissingExtraError(CurateError):
    """An optional dependency (the ``[bench]`` extra) is not installed."""
