"""Error (%) and mean loss of a model on an evaluation set; ten-crop batches are averaged."""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F


@torch.no_grad()
def evaluate(model: torch.nn.Module, eval_set, prepare=lambda x: x, autocast=None) -> Tuple[float, float]:
    """(error %, mean cross-entropy) over every example of eval_set, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    wrong = torch.zeros((), device=device, dtype=torch.float64)
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    count = 0
    for images, labels in eval_set:
        with autocast() if autocast else torch.autocast(device.type, enabled=False):
            if images.dim() == 5:  # ten crops: average the class probabilities
                batch, crops = images.shape[:2]
                logits = model(prepare(images.flatten(0, 1))).float().view(batch, crops, -1)
                log_probs = logits.log_softmax(-1).exp().mean(1).log()
            else:
                log_probs = model(prepare(images)).float().log_softmax(-1)
        loss_sum += F.nll_loss(log_probs, labels, reduction="sum").double()
        wrong += (log_probs.argmax(1) != labels).sum()
        count += len(labels)
    model.train(was_training)
    return 100.0 * wrong.item() / max(count, 1), loss_sum.item() / max(count, 1)


def best_val_test_error(records: list[dict]) -> float | None:
    """The test error at the evaluation of lowest validation error (how stochastic depth's paper reports), if a val split exists."""
    with_val = [r for r in records if r.get("val_error") is not None]
    return min(with_val, key=lambda r: r["val_error"])["test_error"] if with_val else None
