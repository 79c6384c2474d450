"""The automatic pass's assessments kept on disk, so that a restart with nothing new to decide is fast.

An assessment is stored under the pair's two image content hashes (``pixel_sha256``, in the order asked), the
pair's SSIM (so a scan at another size or window never reuses it) and the assistant's signature: its
``module:Class``, the busi-curate version, the ``repr`` of its settings and a digest of its package's source. Any change to one of them misses the
cache, never returns a stale verdict. The file (``SCAN/features/assessments.json``) is rewritten atomically; an
unreadable or foreign one is ignored with a warning (it is a cache: the pass recomputes what it lacks).

Example::

    store = AssessmentStore.for_assistant(scan.dir / "features", assistant)
    cached = CachedAssistant(assistant, scan.index["pixel_sha256"], scan.pair_ssim, store)
    run_auto(walk, cached, journal.append)
    store.save()
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from busi_curate.errors import CurateError
from busi_curate.fileio import refuse_link, write_json
from busi_curate.review.auto import AssessmentLike, AssistantLike
from busi_curate.review.walk import RowPair

FORMAT = "busi-curate-assessments/1"
FILE_NAME = "assessments.json"


@dataclass(frozen=True)
class StoredAssessment:
    """An assessment read back from the cache (the fields the review uses)."""

    verdict: str
    grade: str
    evidence: str
    score: float


def code_digest(module_name: str) -> str:
    """sha256 (16 hex) of the source of every ``.py`` file in the package of ``module_name`` (a rule changed in
    code, not in settings, must miss the cache too); empty when the module has no file."""
    import sys

    file = getattr(sys.modules.get(module_name), "__file__", None)
    if not file:
        return ""
    h = hashlib.sha256()
    for src in sorted(Path(file).parent.glob("*.py")):
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    return h.hexdigest()[:16]


def assistant_signature(assistant: object) -> str:
    """``module:Class version settings-sha256 code-sha256`` of an assistant: what its verdicts depend on besides
    the pixels (the code digest covers the assistant's package, so an upgraded rule never reuses old verdicts)."""
    from busi_curate import __version__

    cls = type(assistant)
    settings = repr(getattr(assistant, "settings", None))
    digest = hashlib.sha256(settings.encode()).hexdigest()[:16]
    return f"{cls.__module__}:{cls.__qualname__} {__version__} {digest} {code_digest(cls.__module__)}"


def pair_key(sha_a: str, sha_b: str, ssim: float) -> str:
    """The cache key of the pair (a, b) as asked: both content hashes and the SSIM (6 decimals, or nan)."""
    s = "nan" if ssim is None or not math.isfinite(ssim) else f"{ssim:.6f}"
    return f"{sha_a}:{sha_b}:{s}"


class AssessmentStore:
    """Assessments by :func:`pair_key`, for one assistant signature, in ``folder/assessments.json``."""

    def __init__(self, path: Path, signature: str, warn: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.signature = signature
        self.items: dict[str, list[Any]] = {}
        self.hits = 0
        self.added = 0
        self._load(warn)

    @classmethod
    def for_assistant(
        cls, folder: str | Path, assistant: object, warn: Callable[[str], None] | None = None
    ) -> AssessmentStore:
        return cls(Path(folder) / FILE_NAME, assistant_signature(assistant), warn)

    def _load(self, warn: Callable[[str], None] | None) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(refuse_link(self.path).read_text(encoding="utf-8"))
            ok = isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("items"), dict)
        except (OSError, ValueError, CurateError) as exc:
            ok, data = False, None
            if warn is not None:
                warn(f"{self.path}: unreadable assessment cache ignored ({exc})")
        if not ok or data is None:
            return
        if data.get("assistant") != self.signature:
            return  # another assistant, version or setting: start afresh (the file is replaced on save)
        self.items = {k: v for k, v in data["items"].items() if isinstance(v, list) and len(v) == 4}

    def get(self, key: str) -> StoredAssessment | None:
        v = self.items.get(key)
        if v is None:
            return None
        self.hits += 1
        return StoredAssessment(str(v[0]), str(v[1]), str(v[2]), float(v[3]))

    def put(self, key: str, a: AssessmentLike) -> None:
        self.items[key] = [a.verdict, a.grade, a.evidence, float(a.score)]
        self.added += 1

    def save(self) -> None:
        """Write the file atomically (only when something was added)."""
        if not self.added:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json(self.path, {"format": FORMAT, "assistant": self.signature, "items": self.items})
        self.added = 0


class CachedAssistant:
    """An assistant whose ``assess`` answers from an :class:`AssessmentStore` first and asks the wrapped one for
    the rest (in one call, so its own batching and threads are kept). Other attributes pass through."""

    def __init__(
        self,
        inner: AssistantLike,
        sha: Sequence[str],
        ssim_of: Callable[[int, int], float],
        store: AssessmentStore,
    ) -> None:
        self.inner = inner
        self.sha = list(sha)
        self.ssim_of = ssim_of
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def assess(self, pairs: Sequence[RowPair]) -> list[AssessmentLike]:
        keys = [pair_key(self.sha[a], self.sha[b], self.ssim_of(a, b)) for a, b in pairs]
        out: list[AssessmentLike | None] = [self.store.get(k) for k in keys]
        todo = [i for i, a in enumerate(out) if a is None]
        if todo:
            fresh = list(self.inner.assess([pairs[i] for i in todo]))
            if len(fresh) != len(todo):
                raise RuntimeError(f"assistant returned {len(fresh)} assessments for {len(todo)} pairs")
            for i, a in zip(todo, fresh):
                out[i] = a
                self.store.put(keys[i], a)
        return [a for a in out if a is not None]

    def extra_pairs(self) -> Iterable[RowPair]:
        fn = getattr(self.inner, "extra_pairs", None)
        return fn() if callable(fn) else []
