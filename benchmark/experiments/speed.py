"""Benchmark: time per training step and per epoch, and peak memory, for each registered model."""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import ConfigError

#: what the seconds of a timing are, by device type: on a CPU the CPU-seconds of this process (all its threads;
#: with one torch thread they equal wall time on an idle core, and other processes on the machine do not inflate
#: them); on CUDA wall time around synchronised steps (the GPU's time is not in the process's CPU time)
CLOCKS: dict[str, str] = {"cpu": "cpu-s", "cuda": "wall-s"}


CLOCK_WORDS = {
    "cpu-s": "CPU-seconds of this process (load on the machine does not inflate them)",
    "wall-s": "wall seconds around synchronised steps",
}


def clock_name(dev: torch.device) -> str:
    """What the seconds of a timing on ``dev`` are (see :data:`CLOCKS`)."""
    return CLOCKS.get(dev.type, "wall-s")


def clock_of(dev: torch.device) -> Any:
    """The timer for ``dev`` (see :data:`CLOCKS`): ``time.process_time`` on a CPU, ``time.perf_counter`` otherwise."""
    return time.process_time if clock_name(dev) == "cpu-s" else time.perf_counter


if TYPE_CHECKING:
    import torch

    from benchmark.profiles import Precision, Task


@dataclass(frozen=True)
class SpeedResult:
    """Figures of one model at one precision: seconds per training step (median of the timed steps), per
    image and per epoch of ``epoch_images`` images, training FLOPs per image (forward + backward, counted
    by ``torch.utils.flop_counter``), the floor those FLOPs imply at the convolution rate measured in the
    same run, peak resident memory of the process (CPU) and peak allocated CUDA memory (GPU, 0 on CPU)."""

    model: str
    task: str
    precision: str
    params_m: float
    device: str
    image_size: int
    batch_size: int
    threads: int
    step_s: float
    image_s: float
    epoch_s: float
    flops_per_image: float
    floor_s_per_image: float
    floor_same_precision_s_per_image: float
    peak_rss_mb: float
    peak_cuda_mb: float
    reason: str = ""
    clock: str = "wall-s"

    @property
    def ratio(self) -> float:
        """Seconds per image over the fp32-convolution floor (1.0 = every FLOP at the measured conv rate)."""
        return self.image_s / self.floor_s_per_image if self.floor_s_per_image else float("nan")

    def as_json(self) -> dict[str, object]:
        """The JSON object of ``busi-bench speed --json``."""
        return {
            "model": self.model,
            "task": self.task,
            "precision": self.precision,
            "params_m": self.params_m,
            "device": self.device,
            "image_size": self.image_size,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "s_per_step": round(self.step_s, 5),
            "s_per_image": round(self.image_s, 5),
            "s_per_epoch": round(self.epoch_s, 2),
            "flops_per_image": self.flops_per_image,
            "floor_s_per_image": round(self.floor_s_per_image, 5),
            "floor_same_precision_s_per_image": round(self.floor_same_precision_s_per_image, 5),
            "ratio_to_floor": round(self.ratio, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_cuda_mb": round(self.peak_cuda_mb, 1),
            "precision_reason": self.reason,
            "clock": self.clock,
        }


#: the precisions ``busi-bench speed`` times by default, printed side by side with what ``auto`` picks here
SIDE_BY_SIDE: tuple[Precision, ...] = ("fp32", "bf16")

#: (channels, side at 128x128 input) of the reference convolutions: the level widths of a UNet++ at 128x128
CONV_PROBE: tuple[tuple[int, int], ...] = ((32, 128), (64, 64), (128, 32), (256, 16))


def training_flops(
    net: torch.nn.Module, image_size: int, device: str | torch.device, dtype: torch.dtype | None = None
) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs of one image through ``net`` (``torch.utils.flop_counter``)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 1, image_size, image_size, device=device)
    was_training = net.training
    net.train()
    with FlopCounterMode(display=False) as fwd:
        with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = net(x)
    f = float(fwd.get_total_flops())
    with FlopCounterMode(display=False) as both:
        with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = net(x)
        loss = sum(s.float().mean() for s in out.seg) + (out.cls.float().mean() if out.cls is not None else 0)
        loss.backward()
    net.zero_grad(set_to_none=True)
    net.train(was_training)
    return f, float(both.get_total_flops())


def conv_rate(
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    batch_size: int = 2,
    image_size: int = 128,
    repeats: int = 5,
) -> float:
    """FLOP/s of 3x3 convolutions (forward + backward) at the widths of :data:`CONV_PROBE`, measured now (per
    CPU-second on a CPU, per wall second on CUDA: :func:`clock_of`)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    dev = torch.device(device)
    convs = [
        (
            torch.nn.Conv2d(c, c, 3, padding=1).to(dev),
            torch.rand(
                batch_size,
                c,
                max(4, side * image_size // 128),
                max(4, side * image_size // 128),
                device=dev,
                requires_grad=True,
            ),
        )
        for c, side in CONV_PROBE
    ]

    def once() -> None:
        for conv, x in convs:
            with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                y = conv(x)
            y.float().sum().backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    with FlopCounterMode(display=False) as fc:
        once()
    flops = float(fc.get_total_flops())
    once()  # warm-up
    times = []
    clock = clock_of(dev)
    for _ in range(repeats):
        t0 = clock()
        once()
        times.append(clock() - t0)
    return flops / sorted(times)[len(times) // 2]


def model_facts(name: str, task: Task = "mt", image_size: int = 128) -> dict[str, float]:
    """Parameters (millions) and forward GFLOPs per ``image_size``-square image of a registered model."""
    import torch

    from benchmark.models import build_model

    torch.manual_seed(0)
    net = build_model(name, task, image_size=image_size)
    fwd, both = training_flops(net, image_size, "cpu")
    return {
        "params_m": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
        "gflops_forward": round(fwd / 1e9, 3),
        "gflops_train": round(both / 1e9, 3),
    }


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


def _median_step_seconds(fit: Any, augmenter: Any, steps: int) -> float:
    """Median seconds (:func:`clock_of` the device) of ``steps`` calls of ``fit.step`` (after one warm-up) on a
    random batch."""
    import torch

    cfg, dev = fit.cfg, fit.device
    gen = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.batch_size, 1, cfg.image_size, cfg.image_size)
    x = torch.rand(shape, generator=gen).to(dev)
    y = (torch.rand(shape, generator=gen) > 0.8).float().to(dev)
    lab = torch.arange(cfg.batch_size, device=dev) % 3
    if augmenter is not None:
        augmenter.reseed(cfg.seed)
    fit.model.train()
    times = []
    clock = clock_of(dev)
    for i in range(steps + 1):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = clock()
        fit.step(x, y, lab, augmenter)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if i > 0:
            times.append(clock() - t0)
    return sorted(times)[len(times) // 2]


def _conv_rates(
    rates: dict[str, float],
    dev: torch.device,
    prec_name: str,
    dtype: torch.dtype | None,
    batch_size: int,
    image_size: int,
) -> dict[str, float]:
    """``rates`` with the fp32 and ``prec_name`` convolution rates measured where missing (in place)."""
    for key, dt in (("fp32", None), (prec_name, dtype)):
        if key not in rates:
            rates[key] = conv_rate(dev, dt, batch_size, image_size)
    return rates


def _reset_memory_peaks(dev: torch.device) -> None:
    """Collect garbage and restart the peak RSS (and, on CUDA, the peak allocated memory) counters."""
    import torch

    gc.collect()
    _reset_peak_rss()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def measure(
    name: str,
    image_size: int = 128,
    batch_size: int = 2,
    steps: int = 5,
    epoch_images: int = 860,
    device: str = "auto",
    precision: Precision = "auto",
    task: Task | None = None,
    rates: dict[str, float] | None = None,
) -> SpeedResult:
    """Time one warm-up and ``steps`` steps of ``busi-bench run``'s own training step
    (:meth:`benchmark.training.train.Fit.step`: its optimiser, gradient scaler, autocast, augmentation and
    loss weights, from the default run settings with ``name``, ``task``, size, batch and precision) on
    random data.

    ``rates`` caches the measured convolution rate per precision between models of one run.
    """
    import torch

    from benchmark.models import MODELS
    from benchmark.profiles import RunConfig
    from benchmark.training.augment import make_augmenter
    from benchmark.training.precision import choose_precision
    from benchmark.training.train import Fit, select_device

    dev = select_device(device)
    task = task or MODELS[name].tasks[0]
    cfg = RunConfig(model=name, task=task, image_size=image_size, batch_size=batch_size, precision=precision, seed=0)
    choice = choose_precision(cfg, dev)
    dtype, prec_name = choice.dtype, choice.name
    rates = _conv_rates(rates if rates is not None else {}, dev, prec_name, dtype, batch_size, image_size)
    _reset_memory_peaks(dev)
    fit = Fit.create(cfg, dev, provenance={})
    _, train_flops = training_flops(fit.model, image_size, dev, dtype)
    step = _median_step_seconds(fit, make_augmenter(cfg.augment, dev, cfg.image_interp), steps)
    cuda_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0
    n_params = sum(p.numel() for p in fit.model.parameters()) / 1e6
    del fit
    return SpeedResult(
        name,
        task,
        prec_name,
        round(n_params, 2),
        str(dev),
        image_size,
        batch_size,
        torch.get_num_threads(),
        step,
        step / batch_size,
        step * epoch_images / batch_size,
        train_flops,
        train_flops / rates["fp32"],
        train_flops / rates[prec_name],
        _peak_rss_mb(),
        cuda_mb,
        choice.reason,
        clock_name(dev),
    )


def measure_all(
    names: Sequence[str] | None = None,
    image_size: int = 128,
    batch_size: int = 2,
    steps: int = 5,
    epoch_images: int = 860,
    device: str = "auto",
    precisions: Sequence[Precision] = SIDE_BY_SIDE,
) -> list[SpeedResult]:
    """:func:`measure` for each name (default: every registered model) and precision, in one process
    (precisions that resolve to the same arithmetic on ``device`` are timed once).

    Raises:
        ConfigError: an unknown model name.
    """
    from benchmark.models import MODELS

    names = list(names) if names else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(MODELS)})")
    from benchmark.profiles import RunConfig
    from benchmark.training.precision import choose_precision
    from benchmark.training.train import select_device

    dev = select_device(device)
    unique: dict[str, Precision] = {}  # "fp32,auto" on a CPU where auto is fp32 times fp32 once
    for p in precisions:
        unique.setdefault(choose_precision(RunConfig(precision=p), dev).name, p)
    rates: dict[str, float] = {}
    return [
        measure(n, image_size, batch_size, steps, epoch_images, device, p, rates=rates)
        for n in names
        for p in unique.values()
    ]


def format_table(results: Sequence[SpeedResult]) -> str:
    """Markdown table of the results, with the hardware in a header line."""
    import os

    import torch

    from benchmark.provenance import hardware

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"hardware: {hardware()}; torch CPU capability {torch.backends.cpu.get_cpu_capability()}; "
        f"torch threads {torch.get_num_threads()}; load average (1 min) at the end {load:.1f}",
        "floor = training FLOPs per image / the fp32 3x3-convolution rate measured in this run; seconds: "
        + ", ".join(sorted({CLOCK_WORDS[r.clock] for r in results})),
        "",
        "| model | task | precision | params (M) | device | input | batch | s/step | s/image | GFLOP/image (train) "
        "| floor s/image | ratio | s/epoch | peak RSS (MB) | peak CUDA (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.model} | {r.task} | {r.precision} | {r.params_m} | {r.device} | {r.image_size}x{r.image_size} | "
            f"{r.batch_size} | {r.step_s:.3f} | {r.image_s:.4f} | {r.flops_per_image / 1e9:.1f} | "
            f"{r.floor_s_per_image:.4f} | {r.ratio:.2f} | {r.epoch_s:.0f} | {r.peak_rss_mb:.0f} | {r.peak_cuda_mb:.0f} |"
        )
    return "\n".join(lines)


def format_side_by_side(results: Sequence[SpeedResult], auto: str) -> str:
    """Seconds per image of each model at each timed precision in one row, and what ``auto`` picks here.

    ``auto`` is the line of :func:`benchmark.training.precision.choose_precision` for ``precision: auto`` on the device.
    """
    precs = list(dict.fromkeys(r.precision for r in results))
    header = ["model", *(f"{p} s/image" for p in precs), *(f"{p}/fp32" for p in precs[1:])]
    lines = [f"precision auto on this device: {auto}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in dict.fromkeys(r.model for r in results):
        by = {r.precision: r.image_s for r in results if r.model == model}
        times = [f"{by[p]:.4f}" if p in by else "-" for p in precs]
        ratios = [f"{by[p] / by['fp32']:.2f}x" if p in by and "fp32" in by else "-" for p in precs[1:]]
        lines.append("| " + " | ".join([model, *times, *ratios]) + " |")
    return "\n".join(lines)


def write_speed(out: Path, json_lines: Sequence[str], tables: str) -> list[Path]:
    """``out/speed.jsonl`` (one object per model and precision) and ``out/speed.md`` (the tables under the command
    line and the commit that produced them), both written atomically."""
    import shlex
    import sys

    from benchmark.provenance import git_commit
    from busi_curate.fileio import write_text

    args = sys.argv[1:]
    args = args[1:] if args[:1] == ["speed"] else args
    command = " ".join(["busi-bench speed", *(shlex.quote(a) for a in args)])
    out.mkdir(parents=True, exist_ok=True)
    md = f"# busi-bench speed\n\n```\n{command}\n```\n\n- commit {git_commit()}\n\n{tables}\n"
    write_text(out / "speed.jsonl", "\n".join(json_lines) + "\n")
    write_text(out / "speed.md", md)
    return [out / "speed.jsonl", out / "speed.md"]
