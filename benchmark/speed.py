"""Benchmark: time per training step and per epoch, and peak memory, for each registered model."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class SpeedResult:
    """Figures of one model: seconds per training step (median of the timed steps), per image and per
    epoch of ``epoch_images`` images, peak resident memory of the process (CPU) and peak allocated
    CUDA memory (GPU, 0 on CPU)."""

    model: str
    params_m: float
    device: str
    image_size: int
    batch_size: int
    step_s: float
    image_s: float
    epoch_s: float
    peak_rss_mb: float
    peak_cuda_mb: float


def _reset_peak_rss() -> None:
    try:  # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, image_size: int = 128, batch_size: int = 2, steps: int = 5, epoch_images: int = 860,
            device: str = "auto", amp: bool = True) -> SpeedResult:
    """Train ``name`` for one warm-up and ``steps`` timed steps on random data (the multi-task loss)."""
    import torch

    from .losses import multitask_loss
    from .models import build_model
    from .profiles import RunConfig
    from .train import amp_dtype, select_device

    dev = select_device(device)
    cfg = RunConfig(amp=amp)
    dtype = amp_dtype(cfg, dev)
    gc.collect()
    _reset_peak_rss()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    torch.manual_seed(0)
    net = build_model(name).to(dev)
    if dev.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(batch_size, 1, image_size, image_size, device=dev)
    y = (torch.rand(batch_size, 1, image_size, image_size, device=dev) > 0.8).float()
    lab = torch.arange(batch_size, device=dev) % 3
    if dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    times = []
    net.train()
    for i in range(steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = net(x)
        loss, _ = multitask_loss(out.seg, out.cls, y, lab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i > 0:
            times.append(time.perf_counter() - t0)
    step = sorted(times)[len(times) // 2]
    cuda_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0
    n_params = sum(p.numel() for p in net.parameters()) / 1e6
    del net, opt
    return SpeedResult(name, round(n_params, 2), str(dev), image_size, batch_size, step, step / batch_size,
                       step * epoch_images / batch_size, _peak_rss_mb(), cuda_mb)


def measure_all(names: Sequence[str] | None = None, image_size: int = 128, batch_size: int = 2, steps: int = 5,
                epoch_images: int = 860, device: str = "auto", amp: bool = True) -> list[SpeedResult]:
    """:func:`measure` for each name (default: every registered model), in one process.

    Raises:
        ConfigError: an unknown model name.
    """
    from .models import MODELS

    names = list(names) if names else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    return [measure(n, image_size, batch_size, steps, epoch_images, device, amp) for n in names]


def format_table(results: Sequence[SpeedResult]) -> str:
    """Markdown table of the results, with the hardware in a header line."""
    import os

    import torch

    from .provenance import hardware

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [f"hardware: {hardware()}; torch threads {torch.get_num_threads()}; load average (1 min) at the end {load:.1f}", "",
             "| model | params (M) | device | input | batch | s/step | s/image | s/epoch | peak RSS (MB) | peak CUDA (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.model} | {r.params_m} | {r.device} | {r.image_size}x{r.image_size} | {r.batch_size} | "
                     f"{r.step_s:.3f} | {r.image_s:.3f} | {r.epoch_s:.0f} | {r.peak_rss_mb:.0f} | {r.peak_cuda_mb:.0f} |")
    return "\n".join(lines)
