"""The paper's own figures (Aumente-Maestro et al. 2025, CC BY), for the "paper" column of the report.

Table 5 is transcribed in ``../shared/paper/tables-transcribed.md`` (from the authors' repository);
Tables 8 and 9 are in the paper's text; Tables 4 and 6 are not public as tables, so only the figures
the text quotes are given (section 6.1: UNet++ DSC 0.762 on benign + malignant and 0.680 on all three
classes; section 6.2: ST nnU-Net DSC Average 0.653, ST (Cls) nnU-Net ACC 0.680; section 6.2.2: the
Table 7 diagonals). Each value is (mean, std over 4 folds); std None where the text gives none.
"""

from __future__ import annotations

from benchmark.evaluation.metric_table import PAPER_KEYS

Figure = tuple[float, float | None]

_T5_ROWS = (
    ("ST (Seg)", "0.799 0.036 0.731 0.040 0.000 0.000 0.661 0.017"),
    ("ST (Seg) + DO", "0.797 0.056 0.730 0.052 0.234 0.469 0.692 0.044"),
    ("ST (Cls)", "- - - - - - - - 0.707 0.057 0.673 0.069 0.694 0.048 0.693 0.038 0.698 0.038"),
    ("ST (Cls) + DO", "- - - - - - - - 0.745 0.018 0.717 0.077 0.643 0.088 0.720 0.042 0.725 0.036"),
    (
        "ST (Seg + Cls) + PR",
        "0.744 0.051 0.726 0.041 0.719 0.081 0.734 0.031 0.707 0.057 0.673 0.069 0.694 0.048 0.693 0.038 0.698 0.038",
    ),
    (
        "ST (Seg + Cls) + PR + DO",
        "0.770 0.046 0.730 0.052 0.656 0.231 0.739 0.023 0.751 0.025 0.717 0.077 0.679 0.116 0.729 0.049 0.733 0.043",
    ),
    (
        "MT",
        "0.806 0.055 0.713 0.066 0.000 0.000 0.658 0.025 0.788 0.018 0.687 0.070 0.643 0.162 0.730 0.036 0.742 0.028",
    ),
    (
        "MT + PR",
        "0.787 0.057 0.707 0.062 0.594 0.277 0.731 0.025 0.788 0.018 0.687 0.070 0.643 0.162 0.730 0.036 0.742 0.028",
    ),
    (
        "MT + DO",
        "0.773 0.050 0.717 0.058 0.703 0.156 0.742 0.018 0.830 0.015 0.789 0.023 0.721 0.094 0.799 0.018 0.802 0.027",
    ),
    (
        "MT + PR + DO",
        "0.773 0.050 0.711 0.057 0.781 0.157 0.751 0.018 0.826 0.029 0.791 0.025 0.741 0.060 0.801 0.026 0.802 0.018",
    ),
)


def _parse(text: str) -> dict[str, Figure]:
    vals = text.split()
    out: dict[str, Figure] = {}
    for i, key in enumerate(PAPER_KEYS):
        if 2 * i + 1 < len(vals) and vals[2 * i] != "-":
            out[key] = (float(vals[2 * i]), float(vals[2 * i + 1]))
    return out


#: Table 5 (UNet++ ablation on Curated BUSI), row label -> metric -> (mean, std).
TABLE5: dict[str, dict[str, Figure]] = {label: _parse(v) for label, v in _T5_ROWS}

#: Tables 8 and 9 (multi-task methods on Curated BUSI), column -> metric -> (mean, std).
TABLE89: dict[str, dict[str, Figure]] = {
    "[36] Adityan et al.": _parse(
        "0.778 0.059 0.716 0.070 0.000 0.000 0.645 0.026 0.783 0.033 0.727 0.041 0.681 0.015 0.748 0.027 0.749 0.026"
    ),
    "MT UNet++": TABLE5["MT + PR + DO"],
    "MT nnU-Net": _parse(
        "0.779 0.046 0.717 0.049 0.766 0.103 0.754 0.035 0.806 0.005 0.751 0.040 0.741 0.109 0.777 0.019 0.780 0.017"
    ),
}

#: Tables 8 and 9's columns by the model that produces them.
TABLE89_MODELS: dict[str, str] = {
    "mt-adityan": "[36] Adityan et al.",
    "mt-unetpp": "MT UNet++",
    "mt-nnunet": "MT nnU-Net",
}

#: Table 6 (nnU-Net ablation): only what the text quotes.
TABLE6: dict[str, dict[str, Figure]] = {
    "ST (Seg)": {"dsc_avg": (0.653, None)},
    "ST (Cls)": {"acc": (0.680, None)},
    "MT + PR + DO": TABLE89["MT nnU-Net"],
}

#: Table 4 (single-task segmentation baselines): only the UNet++ DSC the text quotes, by subset.
TABLE4: dict[tuple[str, str], dict[str, Figure]] = {
    ("unetpp", "benign-malignant"): {"dsc_avg": (0.762, None)},
    ("unetpp", "all"): {"dsc_avg": (0.680, None)},
}

#: Table 7 diagonals (row-normalised %, benign / malignant / normal) quoted in section 6.2.2.
TABLE7_DIAGONAL: dict[str, tuple[float, float, float]] = {
    "ST (Cls)": (73.9, 63.4, 71.9),
    "MT + PR + DO": (83.3, 74.4, 79.7),
}

#: Share of incoherent predictions quoted in section 6.2.2.
INCOHERENT: dict[str, float] = {"ST": 0.153, "MT": 0.109}
