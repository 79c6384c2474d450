"""Stage: evaluation -- the one table of metric keys, their labels and the output each needs.

``metrics.json`` stores the ``stored`` keys in this order (:data:`METRIC_KEYS`); the report, the summary and the
paper's figures (:mod:`benchmark.reporting.paper_figures`) read their keys and labels from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes:
        key: its key in ``metrics.json`` and the report's CSVs.
        label: its column or row label in every table.
        output: the network output it needs (``seg`` mask, ``cls`` class, or ``both``).
        stored: written by every fold into ``metrics.json`` (False: derived by the report from ``per_image.csv``).
    """

    key: str
    label: str
    output: Literal["seg", "cls", "both"]
    stored: bool = True


METRICS: tuple[Metric, ...] = (
    Metric("dsc_benign", "DSC Benign", "seg"),
    Metric("dsc_malignant", "DSC Malignant", "seg"),
    Metric("dsc_normal", "DSC Normal", "seg"),
    Metric("dsc_avg", "DSC Average", "seg"),
    Metric("jac", "Jaccard", "seg"),
    Metric("hd", "HD95 (px)", "seg"),
    Metric("hd_max", "HD max (px)", "seg"),
    Metric("rec", "Recall", "seg"),
    Metric("pre", "Precision", "seg"),
    Metric("f1_benign", "F1 Benign", "cls"),
    Metric("f1_malignant", "F1 Malignant", "cls"),
    Metric("f1_normal", "F1 Normal", "cls"),
    Metric("f1_weighted", "F1 Weighted", "cls"),
    Metric("acc", "ACC", "cls"),
    Metric("dsc_lesion", "DSC lesion-only", "seg", stored=False),
    Metric("pred_empty", "Pred. empty", "seg", stored=False),
    Metric("incoherent_before_pr", "Incoherent before PR", "both", stored=False),
)

#: key -> label.
LABELS: dict[str, str] = {m.key: m.label for m in METRICS}
#: keys of ``metrics.json`` every fold has (None where the task has no such output), in the stored order.
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS if m.stored)
#: the columns of the paper's Tables 5, 8 and 9, in its order.
PAPER_KEYS: tuple[str, ...] = (
    "dsc_benign",
    "dsc_malignant",
    "dsc_normal",
    "dsc_avg",
    "f1_benign",
    "f1_malignant",
    "f1_normal",
    "f1_weighted",
    "acc",
)
