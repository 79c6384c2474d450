"""Experiments about the tool itself; the pipeline never imports them.

* :mod:`.ssim_bench` -- backend speed and agreement against scikit-image (``busi-curate bench-ssim``);
* :mod:`.size_study` -- how image size changes SSIM ranks (``busi-curate size-study``);
* :mod:`.assistant_bench` -- the assistant against a reference journal (``busi-curate bench-auto``);
* :mod:`.scale_data`, :mod:`.scale_bench` -- the whole pipeline on N distinct synthetic frames with planted
  copies (``busi-curate bench-scale``).
"""
