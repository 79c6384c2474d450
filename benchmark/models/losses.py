"""Stage: losses of paper section 3.4 -- Dice (eq. 1), deep supervision (eq. 2), focal (eq. 3), multi-task (eq. 4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def soft_dice(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Eq. (1) per image: ``(2 S.T + eps) / (S^2 + T^2 + eps)``, squared terms in the denominator.

    Args:
        prob: ``(B, 1, H, W)`` foreground probabilities.
        target: ``(B, 1, H, W)`` ground truth in {0, 1}.
        eps: the paper's epsilon (1).

    Returns:
        ``(B,)`` Dice of each image (an empty target and an empty prediction give 1).
    """
    p = prob.flatten(1).float()
    t = target.flatten(1).float()
    return (2 * (p * t).sum(1) + eps) / ((p * p).sum(1) + (t * t).sum(1) + eps)


def deep_supervision_weights(n: int) -> list[float]:
    """``w_i = 1 / i`` for i = 1..n; output 1 is the top (final) one, weighted most."""
    return [1.0 / i for i in range(1, n + 1)]


def seg_loss(logits: Sequence[torch.Tensor], target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Eq. (2): ``sum_i w_i (1 - Dice_i)``, each Dice averaged over the batch.

    Args:
        logits: deep-supervision outputs, top first, each ``(B, 1, H, W)`` at the target's size.
        target: ``(B, 1, H, W)`` in {0, 1}.
    """
    weights = deep_supervision_weights(len(logits))
    return sum(w * (1 - soft_dice(torch.sigmoid(lg.float()), target, eps).mean()) for w, lg in zip(weights, logits))  # type: ignore[return-value]


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Eq. (3): ``-(1 - p_t)^gamma log p_t`` of the true class, averaged over the batch.

    Args:
        logits: ``(B, C)`` class scores (softmax is applied here).
        labels: ``(B,)`` int64 true classes.
    """
    logp = F.log_softmax(logits.float(), dim=1).gather(1, labels.view(-1, 1)).squeeze(1)
    return (-((1 - logp.exp()) ** gamma) * logp).mean()


def multitask_loss(
    seg_logits: Sequence[torch.Tensor],
    cls_logits: torch.Tensor | None,
    masks: torch.Tensor,
    labels: torch.Tensor,
    lambda_seg: float = 0.85,
    gamma: float = 2.0,
    eps: float = 1.0,
    recon: torch.Tensor | None = None,
    images: torch.Tensor | None = None,
    recon_weight: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (4): ``lambda L_seg + (1 - lambda) L_cls``; a missing branch contributes nothing.

    A model with a reconstruction branch (Adityan et al. [36]) adds ``recon_weight * MSE(recon, images)``
    when both ``recon`` and ``images`` are given (the regulariser of their method).

    Single-task runs pass an empty ``seg_logits`` (classification only) or ``cls_logits=None``
    (segmentation only) and get the plain loss of the remaining branch (weight 1).

    Returns:
        The loss and its detached parts (``seg``, ``cls``), left on the device (no sync).
    """
    parts: dict[str, torch.Tensor] = {}
    total = torch.zeros((), device=masks.device)
    has_seg, has_cls = len(seg_logits) > 0, cls_logits is not None
    if has_seg:
        ls = seg_loss(seg_logits, masks, eps)
        parts["seg"] = ls.detach()
        total = total + (lambda_seg if has_cls else 1.0) * ls
    if has_cls:
        lc = focal_loss(cls_logits, labels, gamma)  # type: ignore[arg-type]
        parts["cls"] = lc.detach()
        total = total + ((1 - lambda_seg) if has_seg else 1.0) * lc
    if recon is not None and images is not None and recon_weight > 0:
        lr = F.mse_loss(recon.float(), images.float())
        parts["recon"] = lr.detach()
        total = total + recon_weight * lr
    return total, parts
