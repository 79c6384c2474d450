"""busi-bench: the prediction-refining multi-task framework of Aumente-Maestro et al. (2025), fold by fold.

Stages (one module each): :mod:`~benchmark.data.samples` (manifest, folds, preprocessing) ->
:mod:`~benchmark.training.oversampling` -> :mod:`~benchmark.training.augment` -> :mod:`~benchmark.models` ->
:mod:`~benchmark.models.losses` -> :mod:`~benchmark.training.train` -> :mod:`~benchmark.inference.refine` ->
:mod:`~benchmark.evaluation.metrics` -> :mod:`~benchmark.evaluation.evaluate` -> :mod:`~benchmark.reporting.summarize`.
Heavy libraries (torch, MONAI, smp) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
