"""Run settings: one typed dataclass, named profiles in a registry, YAML and flag overrides.

Resolution order: profile defaults -> ``--config file.yaml`` -> command-line flags. The resolved
:class:`RunConfig` is saved with every run (``config.yaml``) and inside every checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from benchmark.errors import ConfigError

#: ``mt`` (segmentation + classification), ``seg`` or ``cls`` (the single-task ablations).
Task = Literal["mt", "seg", "cls"]
#: what a run folder scores: a trained task, or ``seg+cls`` (a ``seg`` and a ``cls`` run combined, ST (Seg + Cls)).
ScoredTask = Literal[Task, "seg+cls"]
COMBINED_TASK: ScoredTask = "seg+cls"
#: prediction-refining rule (``none``: no PR); the functions are :data:`benchmark.inference.refine.REFINERS`.
Refine = Literal["none", "paper", "probability"]
#: mixed precision of training and inference (``auto``: bf16/fp16 where the device has it, else fp32).
Precision = Literal["auto", "fp32", "bf16", "fp16"]
#: classification branch: section 3.3 as written, or the authors' released code.
ClsHead = Literal["paper", "authors"]
#: normalisation of the paper head's convolution.
HeadNorm = Literal["batch", "instance"]
#: where augmentation runs (MONAI dictionary transforms, batched torch ops, or none).
Augment = Literal["auto", "monai", "torch", "none"]
#: model selection on validation: lowest loss or highest score.
SelectOn = Literal["loss", "score"]
#: how the oversampling factor of each class is rounded.
OversampleRule = Literal["round", "ceil"]
#: how many images an epoch of ``images_per_epoch`` draws: at most the training list (``list``) or
#: exactly ``images_per_epoch`` (``fixed``: the shuffled list repeated as needed).
Draws = Literal["list", "fixed"]
#: the Table 4 baselines as the authors' code configures them, or the MONAI-based configurations used before.
BaselineConfig = Literal["authors", "monai"]

TASKS: tuple[Task, ...] = get_args(Task)
SCORED_TASKS: tuple[ScoredTask, ...] = get_args(ScoredTask)
#: the scored tasks with a segmentation output, with a classification output, and refined by ``refine``.
SEG_TASKS: tuple[ScoredTask, ...] = ("mt", "seg", "seg+cls")
CLS_TASKS: tuple[ScoredTask, ...] = ("mt", "cls", "seg+cls")
REFINED_TASKS: tuple[ScoredTask, ...] = ("mt", "seg+cls")
REFINES: tuple[Refine, ...] = get_args(Refine)
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
CLS_HEADS: tuple[ClsHead, ...] = get_args(ClsHead)
HEAD_NORMS: tuple[HeadNorm, ...] = get_args(HeadNorm)
AUGMENTS: tuple[Augment, ...] = get_args(Augment)
SELECT_ON: tuple[SelectOn, ...] = get_args(SelectOn)
OVERSAMPLE_RULES: tuple[OversampleRule, ...] = get_args(OversampleRule)
DRAWS: tuple[Draws, ...] = get_args(Draws)
BASELINE_CONFIGS: tuple[BaselineConfig, ...] = get_args(BaselineConfig)
#: settings that change neither what a fold trains nor how it is scored: the folds of one run may differ in them.
FOLD_FREE: frozenset[str] = frozenset({"device", "threads", "label", "eval_batch_size", "checkpoint_every"})
#: ... and a resumption may also shorten or extend ``epochs`` (it only decides when training stops).
RESUME_FREE: frozenset[str] = FOLD_FREE | {"epochs"}
#: two runs are seeds of one configuration when they differ only in these (``extra``: free-form notes).
SEED_FREE: frozenset[str] = FOLD_FREE | {"seed", "extra"}
IMAGE_INTERPS: tuple[str, ...] = ("bilinear", "nearest")
CLASS_SUBSETS: tuple[str, ...] = ("all", "benign-malignant")

#: Setting -> its vocabulary: the one source of :meth:`RunConfig.validate`, the CLI's ``click.Choice`` and messages.
CHOICES: dict[str, tuple[str, ...]] = {
    "task": TASKS,
    "refine": REFINES,
    "oversample_rule": OVERSAMPLE_RULES,
    "select_on": SELECT_ON,
    "augment": AUGMENTS,
    "precision": PRECISIONS,
    "cls_head": CLS_HEADS,
    "head_norm": HEAD_NORMS,
    "image_interp": IMAGE_INTERPS,
    "class_subset": CLASS_SUBSETS,
    "draws": DRAWS,
    "baseline_config": BASELINE_CONFIGS,
}


def look_up_option(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed`` (as MONAI's ``look_up_option``), else ConfigError listing them."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


@dataclass
class RunConfig:
    """Every setting of a training + evaluation run.

    Attributes:
        profile: name of the profile the settings started from.
        label: free text shown in summaries (e.g. "2-core CPU, reduced").
        model: architecture name in :data:`benchmark.models.MODELS`.
        task: ``mt`` (segmentation + classification), ``seg`` or ``cls`` (single-task ablations).
        oversample: deterministic oversampling (DO) of the training split.
        oversample_rule: ``round`` (reproduces the paper's worked example) or ``ceil`` (its formula).
        refine: prediction-refining rule in :data:`benchmark.inference.refine.REFINERS` (``none`` = no PR).
        image_size: side of the square network input, pixels.
        epochs: maximum number of epochs.
        batch_size: training batch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        lambda_seg: lambda of eq. (4), L = lambda * L_seg + (1 - lambda) * L_cls.
        focal_gamma: gamma of the focal loss, eq. (3).
        dice_eps: epsilon of the Dice of eq. (1).
        plateau: reduce the learning rate on a validation-loss plateau.
        plateau_patience: epochs without improvement before the reduction.
        plateau_factor: multiplicative reduction.
        min_lr: floor of the learning rate.
        early_stopping: stop after this many epochs without a better model (0 = off).
        select_on: model selection on validation: ``loss`` (lowest) or ``score`` (highest mean of DSC avg and ACC).
        subset: keep at most this many training images per class (0 = all; for smoke runs).
        images_per_epoch: draw this many images (without replacement) from the shuffled, oversampled
            training list each epoch (0 = the whole list, the paper's epoch).
        draws: ``list``: an epoch draws ``min(images_per_epoch, len(list))`` images, so a list shorter
            than ``images_per_epoch`` (no DO) trains on fewer draws; ``fixed``: exactly
            ``images_per_epoch`` (fresh shuffles of the list appended as needed), so every row of a
            table trains on the same number of draws with or without DO.
        seed: seed of everything random.
        device: ``auto``, ``cpu`` or ``cuda`` (``cuda:1`` etc. accepted).
        amp: mixed precision (bf16 autocast, fp16 with a grad scaler where bf16 is unsupported) on CUDA.
        channels_last: channels-last memory format on CUDA.
        compile: ``torch.compile`` the model (CUDA path).
        compile_mode: ``torch.compile`` mode (``default``, ``reduce-overhead`` = CUDA graphs, ``max-autotune``...).
        augment: ``auto`` (MONAI dictionary transforms on CPU, batched on-device torch ops on CUDA), ``monai``, ``torch`` or ``none``.
        threads: torch CPU threads (0 = leave torch's default).
        threshold: probability threshold of the segmentation output.
        deterministic: ``torch.use_deterministic_algorithms`` and MONAI ``set_determinism``.
        eval_batch_size: batch size for validation / test inference.
        precision: ``auto`` (bf16 autocast on CUDA when ``amp`` is on, fp32 on CPU), ``fp32``, ``bf16``
            (autocast on CPU or CUDA; on CPUs with AVX512-BF16 or AMX about 1.6-1.9x faster) or ``fp16`` (CUDA).
        checkpoint_every: write ``last.pt`` every this many epochs (and after the last one); ``best.pt``
            is written whenever the selection metric improves.
        cls_head: classification branch: ``paper`` (section 3.3 as written) or ``authors`` (the authors'
            UNet++ code: previous-level maps brought down to the bottleneck, two convolutions).
        head_norm: normalisation of the paper head's convolution: ``batch`` (as the authors) or ``instance``.
        adam_eps: Adam epsilon (PyTorch default 1e-8; the authors' code uses 1e-4).
        image_interp: interpolation of images under resize and rotation: ``bilinear`` (the paper's text)
            or ``nearest`` (the authors' code). Masks always use nearest neighbour.
        recon_weight: weight of the reconstruction loss of models with a reconstruction branch (mt-adityan).
        class_subset: ``all`` (normal, benign, malignant) or ``benign-malignant`` (Table 4's first subset:
            the published folds without their normal images).
        fill_holes: fill holes in predicted masks before scoring (the authors' single-task inference).
        exclude: an exclusion file (:mod:`benchmark.data.exclusion`) whose rows drop images from a fold's train
            or val split (the paired leakage design); empty = none.
        baseline_config: the Table 4 baselines as the authors' code configures them (``authors``) or the
            MONAI-based configurations used before issue 26 (``monai``); see ``benchmark/models/baselines.py``.
    """

    profile: str = "paper"
    label: str = "paper settings (section 5.3)"
    model: str = "mt-unetpp"
    task: Task = "mt"
    oversample: bool = True
    oversample_rule: OversampleRule = "round"
    refine: Refine = "paper"
    image_size: int = 128
    epochs: int = 200
    batch_size: int = 2
    lr: float = 1e-4
    weight_decay: float = 0.0
    lambda_seg: float = 0.85
    focal_gamma: float = 2.0
    dice_eps: float = 1.0
    plateau: bool = True
    plateau_patience: int = 20
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    early_stopping: int = 50
    select_on: SelectOn = "loss"
    subset: int = 0
    images_per_epoch: int = 0
    draws: Draws = "list"
    seed: int = 1993
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    compile_mode: str = "default"
    augment: Augment = "auto"
    threads: int = 0
    threshold: float = 0.5
    deterministic: bool = True
    eval_batch_size: int = 16
    precision: Precision = "auto"
    checkpoint_every: int = 1
    cls_head: ClsHead = "paper"
    head_norm: HeadNorm = "batch"
    adam_eps: float = 1e-8
    image_interp: str = "bilinear"
    recon_weight: float = 0.1
    class_subset: str = "all"
    fill_holes: bool = False
    exclude: str = ""
    baseline_config: BaselineConfig = "authors"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML/JSON serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "checkpoint") -> RunConfig:
        """Rebuild a saved config.

        Raises:
            ConfigError: keys this version does not know (written by another version).
        """
        known = {f.name for f in fields(cls)}
        # written before the setting existed: the baselines were then built in the MONAI configurations
        data = {"baseline_config": "monai", **data}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"{source} was written by another busi-bench version (unknown settings {', '.join(unknown)})"
            )
        return cls(**data)

    def validate(self) -> RunConfig:
        """Check ranges and names; returns ``self``.

        Raises:
            ConfigError: naming the setting and what is accepted.
        """
        for name, allowed in CHOICES.items():
            look_up_option(name, getattr(self, name), allowed)
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}")
        if self.adam_eps <= 0:
            raise ConfigError(f"adam_eps must be positive, got {self.adam_eps}")
        if not 0.0 <= self.lambda_seg <= 1.0:
            raise ConfigError(f"lambda_seg must lie in [0, 1], got {self.lambda_seg}")
        if self.image_size < 32 or self.image_size % 32:
            raise ConfigError(f"image_size must be a multiple of 32 and at least 32, got {self.image_size}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.images_per_epoch < 0:
            raise ConfigError(f"images_per_epoch must be >= 0, got {self.images_per_epoch}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        return self


#: The reduced CPU profile; ``cpu-grid`` is this one with more epochs, bf16 and sparser checkpoints.
_CPU = RunConfig(
    profile="cpu",
    label="REDUCED CPU profile for a shared 2-core session, NOT the paper's protocol: 64x64 input, 8 epochs "
    "of 400 images drawn from the oversampled training list, batch 8, Adam lr 1e-3, batched torch "
    "augmentation, 1 torch thread",
    image_size=64,
    epochs=8,
    images_per_epoch=400,
    batch_size=8,
    lr=1e-3,
    augment="torch",
    plateau=True,
    plateau_patience=3,
    early_stopping=0,
    eval_batch_size=32,
    threads=1,
)

#: Named starting points. Adding one is one entry here.
PROFILES: dict[str, RunConfig] = {
    # fp32 as the authors trained (their training loops call backward() without autocast or a grad scaler);
    # a GPU window that only times the schedule may pass --precision auto (bf16 on CUDA)
    "paper": RunConfig(precision="fp32"),
    "smoke": RunConfig(
        profile="smoke",
        label="smoke test (CI): 2 epochs, 64x64, 4 training images per class -- not a result",
        image_size=64,
        epochs=2,
        batch_size=2,
        subset=4,
        plateau=False,
        early_stopping=0,
        eval_batch_size=8,
    ),
    "cpu": _CPU,
    "cpu-grid": dataclasses.replace(
        _CPU,
        profile="cpu-grid",
        label="REDUCED CPU profile of the committed CPU grid, NOT the paper's protocol: 64x64 input, 20 epochs "
        "of 400 images drawn from the (oversampled) training list, batch 8, Adam lr 1e-3, plateau patience 3, "
        "bf16 autocast, batched torch augmentation, 1 torch thread per process",
        epochs=20,
        precision="bf16",
        checkpoint_every=5,
    ),
}
#: The CPU profile of the tables (issue 26): cpu-grid's schedule, but every row draws the same 400 images
#: per epoch with or without DO (cpu-grid's rows without DO drew only their 272-image list) and the
#: precision is chosen by the hardware (bf16 only on a CPU with native bf16, else fp32).
PROFILES["cpu-fair"] = dataclasses.replace(
    PROFILES["cpu-grid"],
    profile="cpu-fair",
    label="REDUCED CPU profile of the CPU tables, NOT the paper's protocol: 64x64 input, 20 epochs of exactly "
    "400 image draws from the (oversampled) training list for every row, batch 8, Adam lr 1e-3, plateau "
    "patience 3, precision by the hardware (bf16 only where the CPU has it natively), batched torch "
    "augmentation, 1 torch thread per process",
    precision="auto",
    draws="fixed",
    checkpoint_every=1,  # a slow shared CPU: an interrupted session loses at most one epoch
)


def _coerce(name: str, value: Any) -> Any:
    """Convert ``value`` (from YAML or a ``key=value`` flag) to the type of field ``name``."""
    default = getattr(RunConfig(), name)
    if isinstance(default, bool):
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name} expects true/false, got {value!r}")
        return bool(value)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} expects an integer, got {value!r}") from exc
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name} expects a number, got {value!r}") from exc
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{name} expects a mapping, got {value!r}")
        return dict(value)
    return str(value)


def resolve_config(
    profile: str, yaml_path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Profile defaults, then a YAML file, then explicit overrides (``None`` values are ignored).

    Raises:
        ConfigError: unknown profile, unknown key, or a value of the wrong type.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    values = PROFILES[profile].to_dict()
    known = {f.name for f in fields(RunConfig)}
    layers: list[tuple[str, dict[str, Any]]] = []
    if yaml_path is not None:
        import yaml

        try:
            data = yaml.safe_load(Path(yaml_path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"cannot read config ({exc})",
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{yaml_path}: a config file must be a mapping of setting: value")
        layers.append((str(yaml_path), data))
    layers.append(("command line", {k: v for k, v in (overrides or {}).items() if v is not None}))
    for source, layer in layers:
        for key, value in layer.items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
            values[key] = _coerce(key, value)
    return RunConfig(**values).validate()


def parse_set_options(items: tuple[str, ...]) -> dict[str, str]:
    """``("epochs=3", "lr=1e-3")`` -> ``{"epochs": "3", "lr": "1e-3"}``.

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
