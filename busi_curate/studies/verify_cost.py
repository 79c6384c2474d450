"""CPU per verified pair, by outcome: where a review's verification time goes (issue 21).

``python -m busi_curate.studies.verify_cost SCAN [--per-outcome 150] [--seed 0]`` re-verifies a random sample of
the pairs that ``review --auto`` assessed on ``SCAN`` (read from ``SCAN/features/assessments.json``), split by
outcome: pairs with no geometric fit (the evidence line ends ``no fit``) and fitted pairs. It uses the scan's
feature cache, one thread, after a warm-up of a few pairs (numba's first calls compile), and prints CPU
milliseconds per pair (``time.process_time``) with the number of assessed pairs of each outcome and what they cost
in all at that rate. The verdicts are not recorded anywhere: the scan folder is only read.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

OUTCOMES = ("no fit", "fitted")


def assessed_pairs(scan_dir: Path, rows: dict[str, int]) -> dict[str, list[tuple[int, int]]]:
    """The pairs of ``SCAN/features/assessments.json`` (rows ``a < b``) by outcome (:data:`OUTCOMES`)."""
    items = json.loads((scan_dir / "features" / "assessments.json").read_text(encoding="utf-8"))["items"]
    out: dict[str, list[tuple[int, int]]] = {k: [] for k in OUTCOMES}
    for key, (_verdict, _grade, evidence, *_rest) in sorted(items.items()):
        sha_a, sha_b, _ssim = key.split(":")
        if sha_a in rows and sha_b in rows and not evidence.endswith("identical pixels"):  # never verified
            a, b = sorted((rows[sha_a], rows[sha_b]))
            out["no fit" if evidence.endswith("no fit") else "fitted"].append((a, b))
    return out


def measure(scan_dir: Path, per_outcome: int = 150, seed: int = 0, warm_up: int = 5) -> dict[str, Any]:
    """``{outcome: {"assessed", "sampled", "ms_per_pair", "total_cpu_s"}}`` for ``scan_dir`` (see the module)."""
    from busi_curate.assistant import Assistant, AssistantSettings, VerifyCache, pair_evidence
    from busi_curate.scan.run import read_scan

    scan = read_scan(scan_dir)
    assistant = Assistant(scan, cache_dir=scan_dir / "features", settings=AssistantSettings(workers=1))
    sha = [str(s) for s in scan.index["pixel_sha256"]]
    job = (assistant.features(), sha, assistant.settings.verify)
    by_outcome = assessed_pairs(scan_dir, {s: r for r, s in enumerate(sha)})
    rng = random.Random(seed)
    everything = [p for ps in by_outcome.values() for p in ps]
    for a, b in everything[:warm_up]:
        pair_evidence(job, a, b, VerifyCache())
    out: dict[str, Any] = {}
    for name, pairs in by_outcome.items():
        sample = rng.sample(pairs, min(per_outcome, len(pairs)))
        cache = VerifyCache()
        t0 = time.process_time()
        for a, b in sample:
            pair_evidence(job, a, b, cache)
        ms = 1000 * (time.process_time() - t0) / max(len(sample), 1)
        out[name] = {"assessed": len(pairs), "sampled": len(sample), "ms_per_pair": round(ms, 2),
                     "total_cpu_s": round(ms * len(pairs) / 1000, 1)}  # fmt: skip
    return out


def table(res: dict[str, Any]) -> str:
    lines = [
        "| outcome | pairs assessed | sampled | CPU ms per pair | CPU-s in all at that rate |",
        "|---|---|---|---|---|",
    ]
    for name, r in res.items():
        lines.append(
            f"| {name} | {r['assessed']:,} | {r['sampled']} | {r['ms_per_pair']:.1f} | {r['total_cpu_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the table of :func:`measure` (and write it as JSON with ``--json``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scan", type=Path, help="a scan folder on which review --auto has run")
    p.add_argument("--per-outcome", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    if not (a.scan / "features" / "assessments.json").is_file():
        raise SystemExit(
            f"error: {a.scan}: no features/assessments.json (run `busi-curate review {a.scan} --auto` first)"
        )
    res = measure(a.scan, a.per_outcome, a.seed)
    if a.json:
        from busi_curate.fileio import atomic_open

        with atomic_open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)
    print(table(res), end="")


if __name__ == "__main__":
    main()
