"""The compact recogniser's network (torch): a small CNN over the line, 1-D context, CTC classes.

Sized for speed on one CPU core (~0.3 M parameters, ~0.2 s for an 80-line page): five 3x3
convolutions take a ``HEIGHT``-pixel line to one feature column per ``STRIDE`` pixels, two
dilated 1-D convolutions (a ~14-character receptive field) add the context that tells ``l``
from ``I`` and ``0`` from ``O`` inside words, UUIDs and numbers, and a 1x1 convolution scores
the classes (blank + charset). Training: :mod:`glyph.train.recognizer.train`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class LineRecognizer(nn.Module):
    """(B, 1, 24, W) line images -> (B, W/2, classes) CTC logits; loss when ``labels`` are given."""

    def __init__(self, classes: int, channels: tuple[int, ...] = (16, 32, 48, 64, 96), hidden: int = 128) -> None:
        super().__init__()
        a, b, c, d, e = channels
        self.cnn = nn.Sequential(
            *_conv(1, a), nn.MaxPool2d(2, 2),          # 12 x W/2
            *_conv(a, b), nn.MaxPool2d((2, 1)),        # 6 x W/2
            *_conv(b, c), *_conv(c, d), nn.MaxPool2d((2, 1)),  # 3 x W/2
            *_conv(d, e),
            nn.Conv2d(e, hidden, (3, 1), bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),  # 1 x W/2
        )
        self.context = nn.Sequential(
            nn.Conv1d(hidden, hidden, 5, padding=2), nn.ReLU(inplace=True),
            nn.Conv1d(hidden, hidden, 5, padding=4, dilation=2), nn.ReLU(inplace=True),
        )
        self.head = nn.Conv1d(hidden, classes, 1)
        self.ctc = nn.CTCLoss(blank=0, zero_infinity=True)

    def forward(
        self,
        pixel_values: torch.Tensor,
        widths: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        label_lengths: torch.Tensor | None = None,
    ) -> Any:
        features = self.cnn(pixel_values).squeeze(2)
        features = features + self.context(features)
        logits = self.head(features).transpose(1, 2)  # B, T, C
        if labels is None:
            return logits
        steps = torch.div(widths, 2, rounding_mode="floor").clamp(max=logits.shape[1])
        log_probs = logits.log_softmax(-1).transpose(0, 1)  # T, B, C for CTCLoss
        loss = self.ctc(log_probs.float(), labels, steps, label_lengths)
        return {"loss": loss, "logits": logits}
