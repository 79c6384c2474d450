"""Any segmentation-models-pytorch encoder (random init, never downloaded) as the feature extractor,
with a U-Net decoder from MONAI ``UpCat`` blocks -- shows that the extractor is interchangeable.
"""

from __future__ import annotations

import torch
from monai.networks.nets.basic_unet import UpCat

from benchmark.models.base import Backbone, Features, SegHeads
from benchmark.models.unetpp import ACT, NORM


class SMPEncoderUNet(Backbone):
    """smp encoder of depth 5 (strides 2..32) + 5-step decoder, deep supervision on 4 decoder levels.

    Args:
        encoder_name: an ``smp.encoders`` name, e.g. ``resnet34``.
        in_channels: input channels.
        decoder: channels of the decoder levels from the deepest up (5 values).
    """

    divisor = 32
    n_outputs = 4

    def __init__(
        self, encoder_name: str = "resnet34", in_channels: int = 1, decoder: tuple[int, ...] = (256, 128, 64, 32, 16)
    ) -> None:
        super().__init__()
        import segmentation_models_pytorch as smp

        self.encoder = smp.encoders.get_encoder(encoder_name, in_channels=in_channels, depth=5, weights=None)
        c = list(self.encoder.out_channels)  # (in, s2, s4, s8, s16, s32)
        self.d4 = UpCat(2, c[5], c[4], decoder[0], act=ACT, norm=NORM, bias=True, halves=False)
        self.d3 = UpCat(2, decoder[0], c[3], decoder[1], act=ACT, norm=NORM, bias=True, halves=False)
        self.d2 = UpCat(2, decoder[1], c[2], decoder[2], act=ACT, norm=NORM, bias=True, halves=False)
        self.d1 = UpCat(2, decoder[2], c[1], decoder[3], act=ACT, norm=NORM, bias=True, halves=False)
        self.d0 = UpCat(2, decoder[3], 0, decoder[4], act=ACT, norm=NORM, bias=True, halves=False)
        self.heads = SegHeads([decoder[4], decoder[3], decoder[2], decoder[1]])
        self.bottleneck_channels, self.enc_prev_channels, self.dec_prev_channels = c[5], c[4], decoder[0]

    def forward(self, x: torch.Tensor) -> Features:
        """``(B, C, H, W)`` with H, W multiples of 32 -> :class:`Features` (4 outputs)."""
        f = self.encoder(x)
        d4 = self.d4(f[5], f[4])
        d3 = self.d3(d4, f[3])
        d2 = self.d2(d3, f[2])
        d1 = self.d1(d2, f[1])
        d0 = self.d0(d1, None)
        seg = self.heads([d0, d1, d2, d3], tuple(x.shape[-2:]))
        return Features(seg, bottleneck=f[5], enc_prev=f[4], dec_prev=d4)
