"""Stage 3 -- scan: score every pair (or a pruned shortlist) with exact SSIM and rank candidates.

* :mod:`.run` -- :func:`run_scan` / :func:`read_scan`: the scan folder (matrix, index, candidates, sidecar);
* :mod:`.candidates` -- top-k candidates per image from a matrix or from scored pairs;
* :mod:`.prune` -- the fast paths: NCC / pHash / cascade shortlists that keep exact SSIM on the pairs kept;
* :mod:`.ann` -- the sub-quadratic shortlist (``--finder faiss``): a FAISS IVF index over an SSIM-shaped descriptor.

The SSIM kernels themselves are :mod:`busi_curate.ssim` (arrays in, arrays out).
"""

from __future__ import annotations

from busi_curate.defaults import SCREEN_THRESHOLD
from busi_curate.scan.run import ScanResult, ScanSettings, check_scan_data, check_scan_images, read_scan, run_scan

__all__ = [
    "SCREEN_THRESHOLD",
    "ScanResult",
    "ScanSettings",
    "check_scan_data",
    "check_scan_images",
    "read_scan",
    "run_scan",
]
