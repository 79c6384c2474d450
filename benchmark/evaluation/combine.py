"""Stage: combine a segmentation-only and a classification-only run with prediction refining.

Produces the "ST (Seg + Cls) + PR" rows of the paper's ablation (Table 5) from two single-task runs
over the same folds, using their saved test predictions (``fold<K>/predictions.npz``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.samples import split_key
from benchmark.errors import BenchError
from benchmark.evaluation.evaluate import evaluate_fold, write_fold_outputs
from benchmark.inference.postprocess import Postprocess
from benchmark.profiles import COMBINED_TASK, REFINES
from benchmark.provenance import provenance, read_checked_json
from benchmark.run_folder import require_finished_folds


def _load(fold_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    meta = read_checked_json(fold_dir / "metrics.json")
    path = fold_dir / "predictions.npz"
    if not path.is_file():
        raise BenchError("predictions.npz not found (written by busi-bench run)", path)
    with np.load(path, allow_pickle=False) as z:
        return meta, {k: z[k] for k in z.files}


def combine_runs(
    seg_run: str | Path, cls_run: str | Path, out: str | Path, rule: str = "paper"
) -> list[dict[str, Any]]:
    """Refine the masks of ``seg_run`` with the classes of ``cls_run``, fold by fold; writes ``out/fold<K>/``.

    Raises:
        BenchError: a fold missing in one run, runs of the wrong tasks, different test images, or
            predictions saved without ground truth.
    """
    if rule not in REFINES:
        raise BenchError(f"unknown refining rule {rule!r} (known: {', '.join(REFINES)})")
    seg_run, cls_run, out = Path(seg_run), Path(cls_run), Path(out)
    folds = [p.name for p in require_finished_folds(seg_run)]
    results = []
    for name in folds:
        seg_meta, seg = _load(seg_run / name)
        cls_meta, cls = _load(cls_run / name)
        if "seg_prob_u8" not in seg or "cls_prob" not in cls:
            raise BenchError(
                "needs a run with a segmentation output and one with a classification output", seg_run / name
            )
        if not np.array_equal(seg["keys"], cls["keys"]):
            raise BenchError("the two runs were tested on different images", cls_run / name)
        if "gt_u8" not in seg:
            raise BenchError("predictions.npz lacks the ground truth (written by an older busi-bench)", seg_run / name)
        seg_cfg = seg_meta["provenance"]["config"]
        keys = [split_key(k) for k in seg["keys"]]
        result = evaluate_fold(
            keys,
            seg["labels"],
            seg["gt_u8"],
            seg["seg_prob_u8"].astype(np.float32) / 255.0,
            cls["cls_prob"],
            Postprocess.of(seg_cfg, rule),  # the seg run's threshold and hole filling, refined by ``rule``
        )
        cfg = dict(
            seg_cfg,
            task=COMBINED_TASK,
            refine=rule,
            label=f"ST (Seg) {seg_run} + ST (Cls) {cls_run}, combined with PR '{rule}'",
        )
        prov = provenance(
            cfg,
            dict(seg_meta["provenance"]["inputs"], seg_run=str(seg_run), cls_run=str(cls_run)),
            cls_config=cls_meta["provenance"]["config"],
        )
        extra = {"fold": seg_meta["fold"], "combined_from": [str(seg_run / name), str(cls_run / name)]}
        write_fold_outputs(
            out / name,
            result,
            prov,
            seg["seg_prob_u8"].astype(np.float32) / 255.0,
            cls["cls_prob"],
            extra,
            seg["labels"],
            seg["gt_u8"],
        )
        results.append(dict(result["metrics"], **extra))
    return results


def rescore_run(run_dir: str | Path) -> list[dict[str, Any]]:
    """Re-score every fold of a run from its saved ``predictions.npz`` with the current metrics code
    (e.g. the MONAI-exact HD95), without retraining; rewrites each fold's metrics and CSVs.

    The fold's training record (history, epochs, timings) is kept; ``rescored_with`` names the tool
    version that re-scored it.

    Raises:
        BenchError: a fold without predictions or ground truth.
    """
    from benchmark import __version__

    run_dir = Path(run_dir)
    folds = require_finished_folds(run_dir)
    results = []
    for fold_dir in folds:
        meta, arrays = _load(fold_dir)
        if "gt_u8" not in arrays or "labels" not in arrays:
            raise BenchError("predictions.npz lacks the ground truth (written by an older busi-bench)", fold_dir)
        cfg = meta["provenance"]["config"]
        keys = [split_key(k) for k in arrays["keys"]]
        seg = arrays["seg_prob_u8"].astype(np.float32) / 255.0 if "seg_prob_u8" in arrays else None
        cls = arrays.get("cls_prob")
        result = evaluate_fold(keys, arrays["labels"], arrays["gt_u8"], seg, cls, Postprocess.of(cfg))
        keep = {k: v for k, v in meta.items() if k not in result["metrics"] and k != "provenance"}
        keep["rescored_with"] = f"busi-bench {__version__}"
        write_fold_outputs(fold_dir, result, meta["provenance"], seg, cls, keep, arrays["labels"], arrays["gt_u8"])
        results.append(dict(result["metrics"], **keep))
    return results
