"""busi-curate: find duplicated and mislabelled images in breast-ultrasound datasets.

Stages (one module each): load (:mod:`busi_curate.dataset`) -> score
(:mod:`busi_curate.ssim`) -> candidates (:mod:`busi_curate.candidates`) ->
decide (:mod:`busi_curate.review`) -> group -> report / export.
"""

__version__ = "0.1.0"
