"""Which arithmetic a run trains in, chosen by the hardware (``precision: auto``) and recorded with why.

bf16 autocast is only fast on CPUs that compute bf16 natively (AVX512-BF16 or AMX); elsewhere oneDNN
emulates it and a training step was measured 20-25x slower than fp32 (2-core AMD EPYC, AVX2 only).
``auto`` therefore asks torch whether the CPU has native bf16 and, when it does, confirms it with a
one-second micro-benchmark of a convolution before choosing bf16; every other CPU trains in fp32.
On CUDA ``auto`` keeps bf16 autocast (fp16 with a gradient scaler where bf16 is unsupported).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from benchmark.errors import ConfigError
from benchmark.profiles import RunConfig

#: bf16 must beat fp32 by this factor in the micro-benchmark to be chosen on a CPU.
CPU_BF16_MIN_SPEEDUP = 1.1


@dataclass(frozen=True)
class PrecisionChoice:
    """The autocast dtype of a run (None = plain fp32), its name and the reason in words."""

    dtype: torch.dtype | None
    name: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """``{"precision": "fp32", "precision_reason": "..."}`` for provenance and table headers."""
        return {"precision": self.name, "precision_reason": self.reason}


def cpu_native_bf16() -> bool:
    """True when torch reports native bf16 arithmetic on this CPU (AVX512-BF16 or AMX tiles)."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _time_conv(dtype: torch.dtype | None, seconds: float) -> float:
    """Seconds per forward + backward of a 3x3 convolution block (8 x 32 x 64 x 64), autocast ``dtype``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 32, 64, 64, generator=gen, requires_grad=True)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1)
    n, start = 0, time.perf_counter()
    while True:
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            y = conv(x)
        y.float().sum().backward()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2:
            return elapsed / n


@lru_cache(maxsize=1)
def cpu_bf16_speedup(seconds: float = 0.5) -> float:
    """fp32 time / bf16 time of the micro-benchmark (``seconds`` per precision) on this CPU."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _time_conv(None, 0.05)  # warm-up: oneDNN primitive creation
        fp32 = _time_conv(None, seconds)
        _time_conv(torch.bfloat16, 0.05)
        bf16 = _time_conv(torch.bfloat16, seconds)
    finally:
        torch.set_num_threads(threads)
    return fp32 / bf16


def _cpu_name() -> str:
    return str(torch.backends.cpu.get_cpu_capability())


@lru_cache(maxsize=4)
def _auto_cpu() -> PrecisionChoice:
    if not cpu_native_bf16():
        return PrecisionChoice(None, "fp32", f"auto: CPU without native bf16 (torch capability {_cpu_name()}), fp32")
    speedup = cpu_bf16_speedup()
    if speedup >= CPU_BF16_MIN_SPEEDUP:
        return PrecisionChoice(
            torch.bfloat16, "bf16", f"auto: CPU with native bf16, measured {speedup:.2f}x faster than fp32, bf16"
        )
    return PrecisionChoice(
        None, "fp32", f"auto: CPU with native bf16 but measured only {speedup:.2f}x faster than fp32, fp32"
    )


def choose_precision(cfg: RunConfig, device: torch.device) -> PrecisionChoice:
    """The precision ``cfg`` trains and predicts in on ``device``, and why.

    Raises:
        ConfigError: fp16 asked for on a CPU.
    """
    prec = cfg.precision
    if prec == "fp32" or not cfg.amp:
        why = "asked for" if prec == "fp32" else "amp off"
        return PrecisionChoice(None, "fp32", f"{why}: fp32")
    if prec == "bf16":
        note = "" if device.type == "cuda" or cpu_native_bf16() else " (this CPU emulates bf16: slow)"
        return PrecisionChoice(torch.bfloat16, "bf16", f"asked for: bf16{note}")
    if prec == "fp16":
        if device.type != "cuda":
            raise ConfigError("precision fp16 needs a CUDA device (use bf16 or fp32 on a CPU)")
        return PrecisionChoice(torch.float16, "fp16", "asked for: fp16")
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice(torch.bfloat16, "bf16", "auto: CUDA device with bf16, bf16 autocast")
        return PrecisionChoice(torch.float16, "fp16", "auto: CUDA device without bf16, fp16 with a gradient scaler")
    return _auto_cpu()
