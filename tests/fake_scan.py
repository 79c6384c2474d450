"""A scan in memory with only what the review walk and a journal replay read (no images, no files but ``dir``).

For tests that need a handful of images with chosen SSIM values: ``FakeScan(ssim, dir=tmp_path)``, images
``benign 1..N`` in row order, every pair at or above ``min_listed`` listed as a candidate (rank by SSIM).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


class FakeScan:
    def __init__(self, ssim: np.ndarray, dir: Path | None = None, min_listed: float = 0.0) -> None:
        n = ssim.shape[0]
        self.dir = Path(dir) if dir is not None else Path("/nonexistent-scan")
        self.n = n
        self.ssim = np.array(ssim, dtype=np.float64)
        np.fill_diagonal(self.ssim, np.nan)
        self.keys = [("benign", str(i + 1)) for i in range(n)]
        self.index = pd.DataFrame(
            {
                "row": range(n),
                "class": [k[0] for k in self.keys],
                "id": [k[1] for k in self.keys],
                "pixel_sha256": [f"{i:064x}" for i in range(n)],
            }
        )
        rows = []
        for r in range(n):
            others = sorted(
                (c for c in range(n) if c != r and self.ssim[r, c] >= min_listed), key=lambda c: -self.ssim[r, c]
            )
            for rank, c in enumerate(others, start=1):
                rows.append((*self.keys[r], *self.keys[c], float(self.ssim[r, c]), rank))
        self.candidates = pd.DataFrame(
            rows, columns=["reference_class", "reference_id", "candidate_class", "candidate_id", "ssim", "rank"]
        )

    def pair_ssim(self, a: int, b: int) -> float:
        return float(self.ssim[a, b])

    def row_of(self, cls: str, id_: str) -> int:
        return self.keys.index((cls, str(id_)))

    def patients(self) -> dict[tuple[str, str], str]:
        """No patient ids (as a scan of data without patients)."""
        return {}
