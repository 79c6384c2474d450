"""One contract every registered architecture passes, for every task it supports (in the style of
segmentation-models-pytorch's model tester): output shapes and dtypes, gradients into every parameter,
a few optimisation steps lowering the loss, and a 128x128 forward pass."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.errors import ConfigError  # noqa: E402
from benchmark.losses import multitask_loss  # noqa: E402
from benchmark.models import MODELS, build_model  # noqa: E402

SIZE, BATCH = 32, 2
CASES = [(name, task) for name, spec in sorted(MODELS.items()) for task in spec.tasks]


def _batch(size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, 1, size, size, generator=g)
    y = torch.zeros(BATCH, 1, size, size)
    y[:, :, size // 4 : size // 2, size // 4 : size // 2] = 1.0
    return x, y, torch.tensor([0, 1])


def _loss(out, x, y, lab):  # noqa: ANN001, ANN202 - test helper
    return multitask_loss(out.seg, out.cls, y, lab, recon=out.recon, images=x, recon_weight=0.1)[0]


@pytest.fixture(scope="module", params=CASES, ids=[f"{n}-{t}" for n, t in CASES])
def case(request: pytest.FixtureRequest):
    name, task = request.param
    torch.manual_seed(0)
    size = max(SIZE, MODELS[name].min_size)
    return name, task, build_model(name, task=task, image_size=size), size


class TestModelContract:
    """Every (model, task) of :data:`benchmark.models.MODELS`."""

    def test_outputs(self, case) -> None:
        name, task, net, size = case
        net.train()
        out = net(torch.rand(BATCH, 1, size, size))
        if task == "cls":
            assert out.seg == []
        else:
            assert len(out.seg) >= 1, name
            for s in out.seg:
                assert s.shape == (BATCH, 1, size, size) and s.dtype == torch.float32, name
        if task in ("mt", "cls"):
            assert out.cls is not None and out.cls.shape == (BATCH, 3) and out.cls.dtype == torch.float32
        else:
            assert out.cls is None
        if out.recon is not None:
            assert (
                out.recon.shape == (BATCH, 1, size, size)
                and float(out.recon.detach().min()) >= 0
                and float(out.recon.detach().max()) <= 1
            )
        net.eval()
        with torch.no_grad():
            top = net(torch.rand(1, 1, size, size))
        assert task == "cls" or top.seg[0].shape == (1, 1, size, size)

    def test_gradients_reach_every_parameter(self, case) -> None:
        name, task, net, size = case
        net.train()
        net.zero_grad()
        x, y, lab = _batch(size)
        _loss(net(x), x, y, lab).backward()
        used = {n: p.grad for n, p in net.named_parameters() if p.requires_grad}
        if task == "cls":
            # the classification-only ablation of a multi-task network uses the encoder, the decoder up
            # to the level before the bottleneck and the branch; finer decoder levels and heads stay idle
            assert any(g is not None for n, g in used.items() if n.startswith("backbone")), name
            used = {n: g for n, g in used.items() if n.startswith("cls_head")}
        missing = [n for n, g in used.items() if g is None]
        assert not missing, f"{name}/{task}: no gradient for {missing[:5]}"
        assert all(torch.isfinite(g).all() for g in used.values() if g is not None)

    def test_three_steps_lower_the_loss(self, case) -> None:
        name, task, net, size = case
        torch.manual_seed(0)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x, y, lab = _batch(size)
        losses = []
        for _ in range(4):
            loss = _loss(net(x), x, y, lab)
            losses.append(float(loss.detach()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert losses[-1] < losses[0], f"{name}/{task}: {losses}"


@pytest.mark.parametrize("name", sorted(n for n, s in MODELS.items() if not s.multitask and s.tasks == ("seg",)))
def test_every_baseline_runs_at_128(name: str) -> None:
    net = build_model(name, task="seg", image_size=128).eval()
    with torch.no_grad():
        out = net(torch.rand(1, 1, 128, 128))
    assert out.seg[0].shape == (1, 1, 128, 128) and out.cls is None


def test_table4_registry_names_are_the_contract() -> None:
    table4 = {"unet", "attention-unet", "residual-unet", "segresnet", "unetpp", "swin-unetr", "nnunet"}
    assert table4 <= set(MODELS)
    assert all(MODELS[n].tasks == ("seg",) and MODELS[n].table == "4" for n in table4)
    assert MODELS["mt-adityan"].tasks == ("mt",)


def test_nnunet_baseline_follows_the_2d_plan() -> None:
    from monai.networks.nets import DynUNet

    net = build_model("nnunet", task="seg")
    dyn = net.net
    assert isinstance(dyn, DynUNet) and list(dyn.filters) == [32, 64, 128, 256, 320, 320]
    assert [s if isinstance(s, int) else s[0] for s in dyn.strides] == [1, 2, 2, 2, 2, 2]
    net.train()
    assert len(net(torch.rand(1, 1, 128, 128)).seg) == 4


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


def test_too_small_inputs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="needs --image-size 64"):
        build_model("swin-unetr", task="seg", image_size=32)


def test_unknown_model_and_unsupported_task_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("resnet-9000")
    with pytest.raises(ConfigError, match="supports --task seg"):
        build_model("unet", task="mt")


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
