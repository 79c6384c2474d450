"""Errors of the benchmark half; the CLI turns each into one line on stderr and exit status 2."""

from __future__ import annotations

from busi_curate.errors import CurateError, ManifestError, MissingExtraError

__all__ = ["BenchError", "ConfigError", "ManifestError", "MissingExtraError"]


class BenchError(CurateError):
    """A benchmark run cannot go on: bad fold, changed data, unusable checkpoint."""


class ConfigError(BenchError):
    """A profile, YAML config or option value is unknown or out of range."""
