"""busi-bench: the prediction-refining multi-task framework of Aumente-Maestro et al. (2025), fold by fold.

Stages (one module each): :mod:`~benchmark.data` (manifest, folds, preprocessing) ->
:mod:`~benchmark.oversampling` -> :mod:`~benchmark.augment` -> :mod:`~benchmark.models` ->
:mod:`~benchmark.losses` -> :mod:`~benchmark.train` -> :mod:`~benchmark.refine` ->
:mod:`~benchmark.metrics` -> :mod:`~benchmark.evaluate` -> :mod:`~benchmark.summarize`.
Heavy libraries (torch, MONAI, smp) are imported only by the modules that need them.
"""

__version__ = "0.1.0"
