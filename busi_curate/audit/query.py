"""Is this image already in my set? Match new images against a scan, with the assistant's grade and evidence.

:class:`ScanIndex` loads a scan once (decodes every scanned image, checking its pixel hash, at the scan's size);
:meth:`ScanIndex.ask` then scores each query image by exact SSIM against every scanned image (the scan's own
backend, window and size), keeps the ``top`` scanned images whose SSIM, of the image or of its mirror image,
is best and reaches ``threshold`` (0 by default: a cropped or rescaled copy often scores below the screening
threshold 0.23) and every pixel-identical one, and has the assistant verify each pair exactly as the review
would: the same features, the same geometric verification seeded by the two pixel hashes, the same decision
rule, so a query's verdict on a pair is the one the assistant gives that pair inside a scan (tested).

Example::

    from busi_curate.audit.query import ScanIndex

    index = ScanIndex("scans/busi")
    for answer in index.ask(["new/frame_001.png"]):
        for m in answer.matches:
            print(m.cls, m.id, m.ssim, m.verdict, m.grade, m.evidence)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from busi_curate.scan.run import ScanResult, checked_image, read_scan

#: scanned images verified per query image at most (besides pixel-identical ones).
DEFAULT_TOP = 5


@dataclass(frozen=True)
class Match:
    """One scanned image that matches a query image."""

    cls: str
    id: str
    image: str  # path relative to the scan's data folder
    ssim: float  # exact SSIM at the scan's size
    verdict: str  # same / different / uncertain (the assistant's)
    grade: str  # identical / same-frame / adjacent-frame for ``same``, else empty
    evidence: str
    score: float


@dataclass
class Answer:
    """The matches of one query image, best first; ``best`` is the scanned image with the highest SSIM (of the
    image or its mirror image), even below the threshold."""

    query: str
    pixel_sha256: str
    matches: list[Match] = field(default_factory=list)
    best: tuple[str, str, float] | None = None
    seconds: float = 0.0  # wall time of the query (SSIM against the scan, verification)
    cpu_seconds: float = 0.0  # CPU time of this process over the same work (all threads)

    @property
    def found(self) -> list[Match]:
        """The matches the assistant calls the same image (any grade)."""
        return [m for m in self.matches if m.verdict == "same"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "pixel_sha256": self.pixel_sha256,
            "in_scan": bool(self.found),
            "best": None if self.best is None else {"class": self.best[0], "id": self.best[1], "ssim": self.best[2]},
            "matches": [asdict(m) for m in self.matches],
            "seconds": round(self.seconds, 4),
            "cpu_seconds": round(self.cpu_seconds, 4),
        }


class ScanIndex:
    """A scan loaded for queries (module docstring).

    Args:
        scan_dir: a scan folder (``busi-curate scan``).
        progress: a progress bar while the scanned images are decoded.
        workers: decoding threads.
    """

    def __init__(self, scan_dir: str | Path, progress: bool = False, workers: int = 4) -> None:
        from busi_curate.assistant import AssistantSettings
        from busi_curate.scan.update import scan_settings
        from busi_curate.ssim import SSIMSettings, get_backend

        t0 = time.perf_counter()
        self.scan: ScanResult = read_scan(scan_dir, load_matrix=False)
        self.settings = scan_settings(self.scan)
        self.assistant = AssistantSettings()
        self.backend = get_backend(self.settings.backend, settings=SSIMSettings.named(self.settings.window))
        self.sha = [str(s) for s in self.scan.index["pixel_sha256"]]
        self.thumbnails = self._decode(progress, workers)
        self._features: dict[int, Any] = {}
        self._warm_up()
        self.load_seconds = time.perf_counter() - t0

    def _warm_up(self) -> None:
        """Compile the SSIM and verification kernels now (numba), so that no query pays for it."""
        from busi_curate.assistant.features import extract

        two = np.arange(2, dtype=np.int64)
        self.backend.pairs(self.thumbnails[:2], two[:1], two[1:])
        if self.scan.n >= 2:
            self.assess(extract(checked_image(self.scan, 1), self.assistant.features), self.sha[1] + "x", 0, 0.0)
            self._features.clear()

    def _decode(self, progress: bool, workers: int) -> np.ndarray:
        from tqdm.auto import tqdm

        from busi_curate.data.dataset import resize_gray

        size = self.settings.size
        out = np.empty((self.scan.n, size, size), dtype=np.uint8)

        def one(row: int) -> None:
            out[row] = resize_gray(checked_image(self.scan, row), size)

        with (
            tqdm(total=self.scan.n, desc="scan images", unit="img", disable=not progress, leave=False) as bar,
            ThreadPoolExecutor(max(1, workers)) as pool,
        ):
            for _ in pool.map(one, range(self.scan.n)):
                bar.update(1)
        return out

    def _scan_features(self, row: int) -> Any:
        from busi_curate.assistant.features import extract

        if row not in self._features:
            self._features[row] = extract(checked_image(self.scan, row), self.assistant.features)
        return self._features[row]

    def ask(
        self,
        paths: Sequence[str | Path],
        top: int = DEFAULT_TOP,
        threshold: float = 0.0,
        progress: Callable[[int], object] | None = None,
    ) -> list[Answer]:
        """One :class:`Answer` per query image, in order.

        Raises:
            DatasetError: a query image is missing or cannot be decoded (named).
        """
        from busi_curate.data.dataset import resize_gray
        from busi_curate.data.imageio import read_gray

        grays = [read_gray(Path(p)) for p in paths]  # every query decodes before any work: one error, nothing half-done
        n, q_n = self.scan.n, len(grays)
        small = np.stack([resize_gray(g, self.settings.size) for g in grays])
        prepared = self.backend.prepare(np.concatenate([self.thumbnails, small, small[:, :, ::-1]]))
        everyone = np.arange(n, dtype=np.int64)
        out = []
        for q, (path, gray) in enumerate(zip(paths, grays)):
            t0, c0 = time.perf_counter(), time.process_time()
            ssim = self.backend.pairs_prepared(prepared, np.full(n, n + q, dtype=np.int64), everyone)
            mirrored = self.backend.pairs_prepared(prepared, np.full(n, n + q_n + q, dtype=np.int64), everyone)
            out.append(
                self._answer(str(path), gray, np.asarray(ssim, np.float64), np.asarray(mirrored), top, threshold)
            )
            out[-1].seconds, out[-1].cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
            if progress is not None:
                progress(1)
        return out

    def _answer(
        self, path: str, gray: np.ndarray, ssim: np.ndarray, mirrored: np.ndarray, top: int, threshold: float
    ) -> Answer:
        """Shortlist by the better of the SSIM of the image and of its mirror image (SSIM does not see a mirrored
        copy; the assistant does), report the image's own SSIM (the scan's value), verify each."""
        from busi_curate.fileio import pixel_sha256

        sha = pixel_sha256(gray)
        rank = np.maximum(ssim, mirrored)
        order = np.lexsort((np.arange(len(rank)), -rank))  # best first, ties to the lower row
        rows = [int(r) for r in order[:top] if rank[r] >= threshold]
        rows += [r for r, s in enumerate(self.sha) if s == sha and r not in rows]
        ix = self.scan.index
        best = (str(ix.at[int(order[0]), "class"]), str(ix.at[int(order[0]), "id"]), float(rank[order[0]]))
        answer = Answer(path, sha, best=best)
        if rows:
            from busi_curate.assistant.features import extract

            features = extract(gray, self.assistant.features)
            for r in sorted(rows, key=lambda r: (-rank[r], r)):
                a = self.assess(features, sha, r, float(ssim[r]))
                answer.matches.append(
                    Match(
                        str(ix.at[r, "class"]),
                        str(ix.at[r, "id"]),
                        str(ix.at[r, "image"]),
                        float(ssim[r]),
                        a.verdict,
                        a.grade,
                        a.evidence,
                        a.score,
                    )  # fmt: skip
                )
        return answer

    def assess(self, features: Any, sha: str, row: int, ssim: float) -> Any:
        """The assistant's assessment of (query, scanned ``row``), as :class:`busi_curate.assistant.Assistant`
        makes it: image A is the one with the smaller pixel hash, the RANSAC seed comes from both hashes."""
        from busi_curate.assistant import decide, pair_seed
        from busi_curate.assistant.verify import verify_pair

        other = self.sha[row]
        if other == sha:
            return decide(None, ssim, True, self.assistant.rule)
        fq, fr = features, self._scan_features(row)
        fa, fb = (fq, fr) if sha <= other else (fr, fq)
        ev = verify_pair(fa, fb, self.assistant.verify, seed=pair_seed(sha, other))
        return decide(ev, ssim, False, self.assistant.rule)


def answer_lines(answers: Sequence[Answer], threshold: float) -> list[str]:
    """The plain-text report: one header line per query image, one line per match."""
    lines = []
    for a in answers:
        found = a.found
        head = f"{a.query}: " + (
            f"in the scan ({', '.join(f'{m.cls} {m.id} {m.grade}' for m in found)})"
            if found
            else f"not found ({len(a.matches)} look-alike(s) at SSIM >= {threshold:g} judged not the same)"
            if a.matches
            else f"not found (no scanned image at SSIM >= {threshold:g}"
            + (f"; best {a.best[0]} {a.best[1]} at {a.best[2]:.3f})" if a.best else ")")
        )
        lines.append(head)
        for m in a.matches:
            lines.append(f"  {m.cls} {m.id}  {m.verdict} {m.grade}".rstrip() + f"  {m.evidence}")
    return lines
