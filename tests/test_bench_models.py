"""One contract every registered architecture must pass: shapes, dtypes, gradients, deep supervision."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from benchmark.losses import multitask_loss  # noqa: E402
from benchmark.models import MODELS, build_model  # noqa: E402

SIZE, BATCH = 64, 2


@pytest.fixture(scope="module", params=sorted(MODELS))
def mt_model(request: pytest.FixtureRequest):
    torch.manual_seed(0)
    return request.param, build_model(request.param, task="mt")


class TestModelContract:
    """Every model in :data:`benchmark.models.MODELS`."""

    def test_output_shapes_and_dtypes(self, mt_model) -> None:
        name, net = mt_model
        net.eval()
        out = net(torch.rand(BATCH, 1, SIZE, SIZE))
        assert len(out.seg) == net.backbone.n_outputs >= 1, name
        for s in out.seg:
            assert s.shape == (BATCH, 1, SIZE, SIZE) and s.dtype == torch.float32
        assert out.cls is not None and out.cls.shape == (BATCH, 3) and out.cls.dtype == torch.float32

    def test_deep_supervision_outputs(self, mt_model) -> None:
        _, net = mt_model
        assert net.backbone.n_outputs == 4  # every nested / decoder output has a head

    def test_gradients_reach_both_branches_and_the_encoder(self, mt_model) -> None:
        name, net = mt_model
        net.train()
        net.zero_grad()
        x = torch.rand(BATCH, 1, SIZE, SIZE)
        y = (torch.rand(BATCH, 1, SIZE, SIZE) > 0.7).float()
        out = net(x)
        loss, _ = multitask_loss(out.seg, out.cls, y, torch.tensor([0, 2]))
        loss.backward()
        grads = {n: p.grad for n, p in net.named_parameters()}
        assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), name
        assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("cls_head"))
        assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("backbone"))

    def test_input_divisor(self, mt_model) -> None:
        _, net = mt_model
        assert SIZE % net.backbone.divisor == 0


@pytest.mark.parametrize("task,has_seg,has_cls", [("seg", True, False), ("cls", False, True)])
def test_single_task_variants_share_the_code_path(task: str, has_seg: bool, has_cls: bool) -> None:
    net = build_model("mt-unetpp", task=task).eval()
    out = net(torch.rand(1, 1, 32, 32))
    assert bool(out.seg) is has_seg and (out.cls is not None) is has_cls
    assert (net.cls_head is not None) is has_cls


def test_unknown_model_is_a_config_error() -> None:
    from benchmark.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model"):
        build_model("resnet-9000")


def test_unetpp_uses_the_paper_widths() -> None:
    net = build_model("mt-unetpp")
    bb = net.backbone
    assert (bb.bottleneck_channels, bb.enc_prev_channels, bb.dec_prev_channels) == (384, 192, 192)
    head = net.cls_head.features[0]
    assert head.in_channels == 384 + 192 + 192 and head.out_channels == 512 and head.kernel_size == (3, 3)
    assert net.cls_head.classifier[0].out_features == 256 and net.cls_head.classifier[-1].out_features == 3
