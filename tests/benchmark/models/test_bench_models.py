"""One contract every registered architecture passes, for every task it supports (in the style of
segmentation-models-pytorch's model tester).

:class:`TestModelContract` runs over every ``(model, task)`` of :data:`benchmark.models.MODELS` (plus the
authors' classification branch of each multi-task backbone) at the model's ``min_size``: output shapes
and dtypes, deep supervision, gradients into every trainable parameter (or the documented idle list of the
classification-only ablation), and a few optimisation steps lowering the loss on a tiny fixed batch.
Adding an entry to the registry puts it under every test here; the big ones are marked ``slow`` (still in
the default run).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.models import MODELS, build_model  # noqa: E402
from benchmark.models.baselines import BASELINES  # noqa: E402
from benchmark.models.losses import multitask_loss  # noqa: E402

BATCH = 2
REPO = Path(__file__).resolve().parents[3]

#: The classification-only ablation (``task="cls"``) of a multi-task backbone computes every decoder level
#: but its loss reaches only the encoder, the decoder level just before the bottleneck and the branch: these
#: parameter prefixes (finer decoder levels and the segmentation heads) get no gradient, and nothing else may.
IDLE_IN_CLS: dict[str, tuple[str, ...]] = {
    "mt-unetpp": tuple(
        f"backbone.{m}." for m in ("x01", "x11", "x21", "x02", "x12", "x22", "x03", "x13", "x04", "heads")
    ),
    "mt-nnunet": ("backbone.dec.0.", "backbone.dec.1.", "backbone.dec.2.", "backbone.dec.3.", "backbone.heads."),
    "mt-nnunet-lite": ("backbone.d2.", "backbone.d1.", "backbone.d0.", "backbone.heads."),
    "mt-smp-resnet34": ("backbone.d3.", "backbone.d2.", "backbone.d1.", "backbone.d0.", "backbone.heads."),
}

#: Entries whose few training steps take more than a few seconds on a 2-core CPU (measured: 5-30 s each).
SLOW = {"mt-unetpp", "mt-nnunet", "mt-nnunet-lite", "mt-smp-resnet34", "mt-adityan", "unetpp", "swin-unetr", "nnunet"}


@dataclass(frozen=True)
class Case:
    """One registry entry, task and classification branch, at the entry's smallest input side."""

    name: str
    task: str
    cls_head: str = "paper"
    baseline_config: str = "authors"

    @property
    def size(self) -> int:
        return MODELS[self.name].min_size

    @property
    def id(self) -> str:
        head = "" if self.cls_head == "paper" else f"-{self.cls_head}"
        return f"{self.name}-{self.task}{head}" + ("" if self.baseline_config == "authors" else "-monai")

    def build(self) -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(
            self.name,
            task=self.task,
            image_size=self.size,
            cls_head=self.cls_head,
            baseline_config=self.baseline_config,  # type: ignore[arg-type]
        )


#: Table 4 baselines whose MONAI configuration is another network than the authors' one
MONAI_VARIANTS = sorted(k for k, make in BASELINES["monai"].items() if make is not BASELINES["authors"][k])
CASES = (
    [Case(name, task) for name, spec in sorted(MODELS.items()) for task in spec.tasks]
    + [Case(name, "mt", "authors") for name, spec in sorted(MODELS.items()) if spec.multitask]
    + [Case(name, "seg", baseline_config="monai") for name in MONAI_VARIANTS]
)
#: the registry entries themselves (the authors' branch is covered by the shape and gradient tests)
TRAIN_CASES = [
    pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.name in SLOW else []) for c in CASES if c.cls_head == "paper"
]


def _n_outputs(net: torch.nn.Module) -> int:
    """Deep-supervision outputs in training mode, as the model declares them."""
    return int(net.backbone.n_outputs if hasattr(net, "backbone") else net.n_outputs)


def _divisor(net: torch.nn.Module) -> int:
    return int(net.backbone.divisor if hasattr(net, "backbone") else net.divisor)


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed tiny batch: two random images with one square lesion each, classes benign and malignant."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, size, size, generator=g)
    y = torch.zeros(BATCH, 1, size, size)
    y[:, :, size // 4 : size // 2, size // 4 : size // 2] = 1.0
    return x, y, torch.tensor([0, 1])


def _loss(out, x, y, lab):  # noqa: ANN001, ANN202 - test helper
    return multitask_loss(out.seg, out.cls, y, lab, recon=out.recon, images=x, recon_weight=0.1)[0]


@pytest.fixture(scope="module", params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> tuple[Case, torch.nn.Module]:
    c: Case = request.param
    return c, c.build()


@pytest.fixture(scope="module")
def outputs(case: tuple[Case, torch.nn.Module]):  # noqa: ANN201 - (train-mode, eval-mode) ModelOutput
    """One training-mode forward pass of the fixed batch and one eval-mode pass of its first image."""
    c, net = case
    x, _, _ = _batch(c.size)
    with torch.no_grad():
        net.train()
        train = net(x)
        net.eval()
        evaluated = net(x[:1])
    net.train()
    return train, evaluated


class TestModelContract:
    """Every (model, task, classification branch) of :data:`CASES`."""

    def test_outputs_have_the_task_shapes_and_dtypes(self, case: tuple[Case, torch.nn.Module], outputs) -> None:  # noqa: ANN001
        c, _ = case
        out, top = outputs
        if c.task == "cls":
            assert out.seg == []
        else:
            assert len(out.seg) >= 1
            for s in out.seg:
                assert s.shape == (BATCH, 1, c.size, c.size) and s.dtype == torch.float32, c.id
        if c.task in ("mt", "cls"):
            assert out.cls is not None and out.cls.shape == (BATCH, 3) and out.cls.dtype == torch.float32
        else:
            assert out.cls is None
        if out.recon is not None:
            assert out.recon.shape == (BATCH, 1, c.size, c.size) and out.recon.dtype == torch.float32
            assert 0.0 <= float(out.recon.min()) <= float(out.recon.max()) <= 1.0
        assert c.task == "cls" or top.seg[0].shape == (1, 1, c.size, c.size)
        assert c.task == "seg" or top.cls.shape == (1, 3)

    def test_deep_supervision_outputs(self, case: tuple[Case, torch.nn.Module], outputs) -> None:  # noqa: ANN001
        """Training mode returns the declared number of outputs, top first, each from its own head."""
        c, net = case
        if c.task == "cls":
            pytest.skip("no segmentation output in the classification-only ablation")
        n = _n_outputs(net)
        seg = outputs[0].seg
        assert len(seg) == n, f"{c.id}: {len(seg)} outputs, declares {n}"
        for i in range(1, n):
            assert not torch.equal(seg[0], seg[i]), f"{c.id}: output {i} repeats the top one"
        assert len(outputs[1].seg) in (1, n)  # MONAI's DynUNet returns the top output only in eval mode

    def test_min_size_is_a_multiple_of_the_divisor_with_a_bottleneck_of_2x2(
        self, case: tuple[Case, torch.nn.Module]
    ) -> None:
        c, net = case
        d = _divisor(net)
        assert c.size % d == 0 and c.size // d >= 2, f"{c.id}: min_size {c.size}, divisor {d}"
        if hasattr(net, "backbone"):
            with torch.no_grad():
                f = net.backbone(torch.rand(1, 1, c.size, c.size))
            assert min(f.bottleneck.shape[-2:]) >= 2, f"{c.id}: bottleneck {tuple(f.bottleneck.shape)}"
        with pytest.raises(ConfigError, match=f"needs --image-size {c.size} or more"):
            build_model(c.name, task=c.task, image_size=c.size - 1, baseline_config=c.baseline_config)  # type: ignore[arg-type]

    def test_gradients_reach_every_trainable_parameter(self, case: tuple[Case, torch.nn.Module]) -> None:
        c, net = case
        net.train()
        net.zero_grad(set_to_none=True)
        x, y, lab = _batch(c.size)
        _loss(net(x), x, y, lab).backward()
        params = {n: p for n, p in net.named_parameters() if p.requires_grad}
        if c.task == "cls":
            assert c.name in IDLE_IN_CLS, f"{c.id}: document the parameters the cls ablation leaves idle"
        idle = IDLE_IN_CLS[c.name] if c.task == "cls" else ()
        no_grad = sorted(n for n, p in params.items() if p.grad is None)
        expected = sorted(n for n in params if n.startswith(idle)) if idle else []
        assert no_grad == expected, f"{c.id}: no gradient for {sorted(set(no_grad) - set(expected))[:5]}"
        assert all(torch.isfinite(p.grad).all() for p in params.values() if p.grad is not None)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())
        net.zero_grad(set_to_none=True)

    @pytest.mark.parametrize("c", TRAIN_CASES)
    def test_a_few_steps_lower_the_loss(self, c: Case) -> None:
        net = c.build().train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y, lab = _batch(c.size)
        losses = []
        for _ in range(4):
            loss = _loss(net(x), x, y, lab)
            losses.append(float(loss.detach()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert all(math.isfinite(v) for v in losses), f"{c.id}: {losses}"
        assert losses[-1] < losses[0], f"{c.id}: {losses}"


def test_construction_is_deterministic_under_a_seed() -> None:
    """The same seed gives the same weights (the committed reports are reproducible from their seed)."""
    a, b = Case("mt-unetpp", "mt").build(), Case("mt-unetpp", "mt").build()
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb), na


@pytest.mark.parametrize("config", ["authors", "monai"])
@pytest.mark.parametrize("name", sorted(n for n, s in MODELS.items() if s.baseline))
def test_every_baseline_runs_at_128(name: str, config: str) -> None:
    net = build_model(name, task="seg", image_size=128, baseline_config=config).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        out = net(torch.rand(1, 1, 128, 128))
    assert out.seg[0].shape == (1, 1, 128, 128) and out.cls is None


def test_every_shipped_grid_run_names_a_model_and_task_it_supports() -> None:
    """Registry names are a contract with the grids: each run's model exists, supports its task, and the
    Table 4 rows of the paper grid are the segmentation baselines registered for Table 4."""
    from benchmark.experiments.grid import load_grid

    for file in sorted((REPO / "grids").glob("*.yaml")):
        for run in load_grid(file, base=REPO).runs:
            model = run.settings.get("model", "mt-unetpp")
            task = run.settings.get("task", "mt")
            assert model in MODELS, f"{file.name}: {run.name} uses unknown model {model!r}"
            assert task in MODELS[model].tasks, f"{file.name}: {run.name}: {model} has no task {task!r}"
            if file.name == "paper.yaml" and run.table == "4":
                assert MODELS[model].tasks == ("seg",) and MODELS[model].table == "4", run.name


def test_nnunet_baseline_follows_the_2d_plan() -> None:
    from monai.networks.nets import DynUNet

    net = build_model("nnunet", task="seg", baseline_config="monai")
    dyn = net.net
    assert isinstance(dyn, DynUNet) and list(dyn.filters) == [32, 64, 128, 256, 320, 320]
    assert [s if isinstance(s, int) else s[0] for s in dyn.strides] == [1, 2, 2, 2, 2, 2]
    net.train()
    assert len(net(torch.rand(1, 1, 128, 128)).seg) == 4


def test_table4_baselines_in_the_authors_configuration() -> None:
    """The facts of the authors' code (src/utils/experiment_init.py, src/config.yaml width 24, commit f51f58e)."""
    from monai.networks.nets import AttentionUnet, SegResNet, UNet

    unet = build_model("unet", task="seg").net
    assert isinstance(unet, UNet) and tuple(unet.channels) == (24, 48, 96, 192) and tuple(unet.strides) == (2, 2, 2)
    assert unet.num_res_units == 0
    att = build_model("attention-unet", task="seg").net
    assert isinstance(att, AttentionUnet) and tuple(att.channels) == (24, 48, 96, 192)
    seg = build_model("segresnet", task="seg").net
    assert isinstance(seg, SegResNet) and seg.init_filters == 8 and tuple(seg.blocks_down) == (1, 2, 2, 4)
    assert build_model("segresnet", task="seg", baseline_config="monai").net.init_filters == 32
    monai_unet = build_model("unet", task="seg", baseline_config="monai").net
    assert tuple(monai_unet.channels) == (32, 64, 128, 256, 512)


def test_authors_nnunet_and_bts_unet_widths_and_outputs() -> None:
    nn_ = build_model("nnunet", task="seg").train()
    assert [b[1][0].out_channels for b in nn_.net.enc] == [32, 64, 128, 256, 320]
    assert len(nn_(torch.rand(1, 1, 64, 64)).seg) == 4
    bts = build_model("bts-unet", task="seg").train()
    assert [b[1][0].out_channels for b in bts.net.enc] == [24, 48, 96, 192]
    assert [b[0][0].out_channels for b in bts.net.enc] == [12, 24, 48, 96]  # first conv: half the level's width
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in bts.modules())
    assert len(bts(torch.rand(1, 1, 32, 32)).seg) == 3
    res = build_model("residual-unet", task="seg").net
    assert res.stem[0].out_channels == 24 and res.head.in_channels == 24
    assert 1.2e6 < sum(p.numel() for p in res.parameters()) < 1.4e6


def test_unetpp_baseline_returns_the_final_output_first() -> None:
    """MONAI's BasicUNetPlusPlus lists X0,1 .. X0,4; the final output X0,4 must come first (eq. 2's weight 1)."""
    net = build_model("unetpp", task="seg").train()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        ours, monai_list = net(x).seg, net.net(x)
    assert torch.equal(ours[0], monai_list[-1]) and torch.equal(ours[-1], monai_list[0])


def test_mt_nnunet_has_six_levels_and_a_4x4_bottleneck() -> None:
    net = build_model("mt-nnunet", task="mt").eval()
    with torch.no_grad():
        f = net.backbone(torch.rand(1, 1, 128, 128))
    assert f.bottleneck.shape[-2:] == (4, 4) and f.bottleneck.shape[1] == 320
    assert 14.5e6 < sum(p.numel() for p in net.parameters()) < 16.5e6


def test_adityan_follows_the_description() -> None:
    net = build_model("mt-adityan", task="mt")
    assert [b[0].conv.out_channels for b in net.enc] == [64, 128, 256, 512, 1024]
    assert net.cls_head[-3].out_features == 1000 and net.cls_head[-1].out_features == 3
    # no normalisation anywhere
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.InstanceNorm2d)) for m in net.modules())


@pytest.mark.parametrize("task,has_seg,has_cls", [("seg", True, False), ("cls", False, True)])
def test_single_task_variants_share_the_code_path(task: str, has_seg: bool, has_cls: bool) -> None:
    net = build_model("mt-unetpp", task=task).eval()
    out = net(torch.rand(1, 1, 32, 32))
    assert bool(out.seg) is has_seg and (out.cls is not None) is has_cls
    assert (net.cls_head is not None) is has_cls


def test_unknown_model_and_unsupported_task_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown model 'resnet-9000'"):
        build_model("resnet-9000")
    with pytest.raises(ConfigError, match="supports --task seg, not 'mt'"):
        build_model("unet", task="mt")
    with pytest.raises(ConfigError, match="supports --task mt, not 'seg'"):
        build_model("mt-adityan", task="seg")


def test_unetpp_paper_head_uses_the_paper_widths() -> None:
    net = build_model("mt-unetpp")
    bb = net.backbone
    assert (bb.bottleneck_channels, bb.enc_prev_channels, bb.dec_prev_channels) == (384, 192, 192)
    head = net.cls_head.head
    conv = head.features[0]
    assert conv.in_channels == 384 + 192 + 192 and conv.out_channels == 512 and conv.kernel_size == (3, 3)
    assert head.classifier[0].out_features == 256 and head.classifier[-1].out_features == 3
    assert isinstance(head.features[1], torch.nn.BatchNorm2d)
    inst = build_model("mt-unetpp", head_norm="instance").cls_head.head.features[1]
    assert isinstance(inst, torch.nn.InstanceNorm2d)


def test_authors_head_brings_the_previous_level_down_to_the_bottleneck() -> None:
    net = build_model("mt-unetpp", cls_head="authors")
    head = net.cls_head
    assert head.convs[0].conv.in_channels == 3 * 384 and head.convs[1].conv.out_channels == 512
    n = sum(p.numel() for p in net.parameters())
    assert 14.0e6 < n < 15.5e6, n  # the authors' model: about 14.9 M parameters
