"""The automatic assistant of the review: crop- and scale-robust evidence for candidate pairs, a second
shortlisting route, and a decision rule (same with a grade / different / uncertain).

Example::

    from busi_curate.scan.run import read_scan
    from busi_curate.assistant import Assistant

    scan = read_scan("scan-busi")
    assistant = Assistant(scan, cache_dir=scan.dir / "features")
    [a] = assistant.assess([(0, 1)])          # rows of scan.index
    a.verdict, a.grade, a.evidence
    assistant.extra_pairs()                   # pairs the SSIM ranking would not reach

Construction is cheap; features are computed (or loaded from ``cache_dir``) on first use. One
instance may be shared by threads (a lock guards the lazy state; evidence is cached per pair).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from busi_curate.assistant.features import FeatureCache, FeatureSettings, ImageFeatures
from busi_curate.assistant.localnorm import LocalNormSettings, NormalisedCache, with_local_votes
from busi_curate.assistant.rule import VERDICTS, Assessment, RuleSettings, decide, evidence_text
from busi_curate.assistant.shortlist import ShortlistSettings, shortlist, supported_votes
from busi_curate.assistant.verify import PairEvidence, VerifyCache, VerifySettings, verify_pair
from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.engine import Engine, LocalEngine, Shared

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

__all__ = ["Assistant", "AssistantSettings", "Assessment", "VERDICTS", "decide", "evidence_text"]


@dataclass(frozen=True)
class AssistantSettings:
    """All settings of the assistant, grouped by stage."""

    features: FeatureSettings = field(default_factory=FeatureSettings)
    verify: VerifySettings = field(default_factory=VerifySettings)
    rule: RuleSettings = field(default_factory=RuleSettings)
    shortlist: ShortlistSettings = field(default_factory=ShortlistSettings)
    local: LocalNormSettings = field(default_factory=LocalNormSettings)
    threshold: float = SCREEN_THRESHOLD
    workers: int = 2


def pair_seed(sha_a: str, sha_b: str) -> int:
    """RANSAC seed of a pair, from the two images' pixel hashes (order-independent): 64 bits of SHA-256."""
    lo, hi = sorted((sha_a, sha_b))
    return int(hashlib.sha256(f"{lo}:{hi}".encode()).hexdigest()[:16], 16)


#: pairs verified per block of a distributed engine (one task)
VERIFY_BLOCK = 32

_Job = tuple[Sequence[ImageFeatures], Sequence[str], VerifySettings]


def pair_evidence(job: _Job, a: int, b: int, cache: VerifyCache) -> PairEvidence:
    """Evidence of rows ``a < b`` (``job = (features, pixel hashes, settings)``): A is the image with the smaller
    pixel hash and the RANSAC seed comes from both hashes, so the evidence is a function of the two images alone,
    whatever else the dataset holds, in which order, or in which process."""
    feats, sha, settings = job
    x, y = (a, b) if sha[a] <= sha[b] else (b, a)
    return verify_pair(feats[x], feats[y], settings, seed=pair_seed(sha[x], sha[y]), cache=cache)


def _verify_block(job: _Job, pairs: Sequence[tuple[int, int]]) -> list[PairEvidence]:
    """One engine task: the evidence of a block of pairs ``a < b``."""
    cache = VerifyCache()
    return [pair_evidence(job, a, b, cache) for a, b in pairs]


class Assistant:
    """Evidence and verdicts for pairs of rows of ``scan.index``.

    Args:
        scan: a scan read by :func:`busi_curate.scan.run.read_scan`.
        cache_dir: where per-image features are cached (``None``: memory only).
        progress: show a progress bar while features are computed.
        engine: where features and verifications run (:mod:`busi_curate.engine`; default: this process, with
            ``settings.workers`` processes / threads).
    """

    def __init__(
        self,
        scan: ScanResult,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        settings: AssistantSettings = AssistantSettings(),
        engine: Engine | None = None,
    ) -> None:
        self.scan = scan
        self.engine = engine or LocalEngine()
        self._shared: Shared[_Job] | None = None
        self.settings = settings
        self.progress = progress
        self.cache = FeatureCache(cache_dir, settings.features)
        self.timings: dict[str, float] = {}
        self._lock = threading.RLock()
        self._feats: list[ImageFeatures] | None = None
        self._evidence: dict[tuple[int, int], PairEvidence] = {}
        self._verify_cache = VerifyCache()
        self._extra: list[tuple[int, int]] | None = None
        self._sha = list(scan.index["pixel_sha256"])
        self._rows = {(str(c), str(i)): r for r, c, i in zip(scan.index["row"], scan.index["class"], scan.index["id"])}
        self._walk: set[tuple[int, int]] | None = None

    def row_of(self, cls: str, id_: str) -> int:
        """Row of image ``(cls, id_)`` in ``scan.index``."""
        return int(self._rows[(str(cls), str(id_))])

    # ------------------------------------------------------------------ lazy state
    def features(self) -> list[ImageFeatures]:
        """Features of every image (computed or loaded on first call)."""
        with self._lock:
            if self._feats is None:
                t0 = time.perf_counter()
                paths = [self.scan.image_path(r) for r in range(self.scan.n)]
                bar = None
                if self.progress:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=len(paths), desc="features", unit="img", leave=False)

                def tick(k: int) -> None:
                    if bar is not None:
                        bar.update(k)

                try:
                    self._feats = self.cache.get(
                        self._sha, paths, workers=self.settings.workers, progress=tick, engine=self.engine
                    )
                finally:
                    if bar is not None:
                        bar.close()
                self.timings["features"] = time.perf_counter() - t0
            return self._feats

    def identical(self, i: int, j: int) -> bool:
        return bool(self._sha[i] == self._sha[j])

    def evidence(self, i: int, j: int) -> PairEvidence | None:
        """Measurements of rows ``i, j`` (None for identical pixels); cached."""
        a, b = (i, j) if i < j else (j, i)
        if self.identical(a, b):
            return None
        ev = self._evidence.get((a, b))
        if ev is None:
            ev = pair_evidence((self.features(), self._sha, self.settings.verify), a, b, self._verify_cache)
            self._evidence[(a, b)] = ev
        return ev

    def _verify_on_engine(self, todo: list[tuple[int, int]]) -> None:
        """Evidence of ``todo`` (pairs ``a < b``) in blocks of :data:`VERIFY_BLOCK` on a distributed engine; the
        features are sent to its workers once per assistant."""
        if self._shared is None:
            self._shared = self.engine.share((self.features(), self._sha, self.settings.verify))
        blocks = [todo[k : k + VERIFY_BLOCK] for k in range(0, len(todo), VERIFY_BLOCK)]
        for block, evs in zip(blocks, self.engine.map(_verify_block, blocks, shared=self._shared)):
            self._evidence.update(zip(block, evs))

    def affine(self, i: int, j: int) -> tuple[float, float, float, float, float, float] | None:
        """The fit mapping row ``i``'s original pixels onto row ``j``'s, canvas order ``(a, b, c, d, e, f)``:
        ``x_j = a x + c y + e, y_j = b x + d y + f``; the identity for identical pixels, None without a fit (see
        ``PairEvidence.affine``). The review page draws the pair registered with it."""
        if self.identical(i, j):
            return (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        ev = self.evidence(i, j)
        m = getattr(ev, "affine", None)
        if m is None:
            return None
        a, b = (i, j) if i < j else (j, i)
        first = a if self._sha[a] <= self._sha[b] else b  # evidence() measures from this image (its A)
        if first == i:
            return m
        ma, mb, mc, md, me, mf = m
        det = ma * md - mb * mc
        if det == 0:
            return None
        ia, ib, ic, id_ = md / det, -mb / det, -mc / det, ma / det
        return (ia, ib, ic, id_, -(ia * me + ic * mf), -(ib * me + id_ * mf))

    # ------------------------------------------------------------------ interface
    def assess(self, pairs: Sequence[tuple[int, int]]) -> list[Assessment]:
        """One :class:`Assessment` per pair of rows, in order."""
        self.features()
        todo = sorted(
            p for p in {(min(i, j), max(i, j)) for i, j in pairs} if p not in self._evidence and not self.identical(*p)
        )
        if todo and not isinstance(self.engine, LocalEngine):
            self._verify_on_engine(todo)
        elif len(todo) > 64 and self.settings.workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.settings.workers) as pool:
                list(pool.map(lambda p: self.evidence(*p), todo, chunksize=32))
        out = []
        for i, j in pairs:
            if i == j:
                raise ValueError(f"cannot assess an image against itself (row {i})")
            out.append(decide(self.evidence(i, j), self.scan.pair_ssim(i, j), self.identical(i, j), self.settings.rule))
        return out

    def walk_pairs(self) -> set[tuple[int, int]]:
        """Pairs the SSIM walk can reach: in ``candidates.csv`` with SSIM at or above the threshold."""
        if self._walk is None:
            c = self.scan.candidates
            out = set()
            for rc, ri, cc, ci, s in zip(
                c["reference_class"], c["reference_id"], c["candidate_class"], c["candidate_id"], c["ssim"]
            ):
                if s >= self.settings.threshold:
                    a, b = self.row_of(rc, ri), self.row_of(cc, ci)
                    out.add((min(a, b), max(a, b)))
            self._walk = out
        return set(self._walk)

    def extra_pairs(self) -> list[tuple[int, int]]:
        """Pairs found by the descriptor routes (:mod:`.shortlist`, :mod:`.localnorm`) that the SSIM walk cannot
        reach (``i < j``, sorted).

        "Cannot reach": not in ``candidates.csv``, or in it with an SSIM below the screening threshold.
        """
        with self._lock:
            if self._extra is None:
                feats = self.features()
                t0 = time.perf_counter()
                votes = supported_votes(feats, self.settings.shortlist)
                s = self.settings
                normalised = None  # the CLAHE + crop route's descriptors, cached beside the features
                if s.local.enabled and self.cache.dir is not None:
                    normalised = NormalisedCache(self.cache.dir, s.local, s.features).describe(
                        self._sha, feats, s.workers
                    )
                votes = with_local_votes(votes, feats, s.local, s.shortlist, s.features, s.workers, normalised)
                self._extra = shortlist(votes, self.scan.n, self.walk_pairs(), self.settings.shortlist)
                self.timings["shortlist"] = time.perf_counter() - t0
            return list(self._extra)

    def assess_all(self, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], Assessment]:
        """``{(i, j): Assessment}`` for unordered pairs (keys with ``i < j``)."""
        ps = sorted({(min(i, j), max(i, j)) for i, j in pairs})
        return dict(zip(ps, self.assess(ps)))
