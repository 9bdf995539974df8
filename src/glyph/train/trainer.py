"""``GlyphTrainer``: transformers' ``Trainer`` plus the accounting a page-reading run needs.

The training loop, optimiser, schedules, checkpoints, resume, mixed precision and DeepSpeed are
``Trainer``'s. This subclass only counts, per optimiser step and summed over processes:

* ``tokens_per_second`` (non-padding tokens through the model, over the logging window),
* ``visual_tokens_per_step`` (image placeholder tokens: what the pages cost),
* ``target_tokens_per_step`` (tokens carrying a label: what the loss averages over),

and, when the collator passes ``record_ids``, writes which records each step trained on to
``data_order.jsonl`` (so a resumed run can be checked against an uninterrupted one).

With ``target_logits_only`` (the default) the language-model head runs only at positions whose
next token is a target (``logits_to_keep``), and the loss is the same cross-entropy over them:
page, prompt and padding positions cost no vocabulary-sized logits. On page-heavy records at long
context that is most of the memory of the loss (128K positions x 151K vocabulary in float32 is
~78 GB); the values are those of the full computation (``tests/train`` compares loss and gradients).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback

from glyph.train.callbacks import truncate_jsonl
from glyph.train.collate import IGNORE_INDEX

__all__ = ["GlyphTrainer"]

DATA_ORDER = "data_order.jsonl"


class GlyphTrainer(Trainer):
    """A ``Trainer`` that logs token throughput, visual and target tokens, and the data order."""

    def __init__(
        self, *args: Any, image_token_id: int | None = None, target_logits_only: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.image_token_id = image_token_id
        self.target_logits_only = target_logits_only and _accepts_logits_to_keep(self.model)
        if self.target_logits_only:
            self.compute_loss_func = self._target_positions_loss
        self._kept: Any = None
        self._window = [0, 0, 0]  # tokens, visual tokens, target tokens since the last log
        self._window_start = time.perf_counter()
        self._window_step = 0
        self._pending_ids: list[str] = []
        self.add_callback(_DataOrderLog(self))

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        ids = inputs.pop("record_ids", None)
        if model.training:
            mask = inputs.get("attention_mask")
            input_ids = inputs["input_ids"]
            self._window[0] += int(mask.sum()) if mask is not None else input_ids.numel()
            if self.image_token_id is not None:
                self._window[1] += int((input_ids == self.image_token_id).sum())
            if "labels" in inputs:
                self._window[2] += int((inputs["labels"] != IGNORE_INDEX).sum())
            if ids:
                self._pending_ids.extend(ids)
        if self.target_logits_only and "labels" in inputs:
            # positions t whose next token is a target in some row; Trainer pops the labels for the loss function
            self._kept = (inputs["labels"][:, 1:] != IGNORE_INDEX).any(dim=0).nonzero().flatten()
            inputs = {**inputs, "logits_to_keep": self._kept}
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )

    def _target_positions_loss(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        """Cross-entropy over the kept positions: summed, divided by the step's target count (as the models do)."""
        import torch.nn.functional as F

        logits = outputs["logits"]
        target = labels[:, 1:][:, self._kept.to(labels.device)].to(logits.device)
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        if num_items_in_batch is None:
            return loss / (target != IGNORE_INDEX).sum().clamp(min=1)
        if hasattr(num_items_in_batch, "to"):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        return loss / num_items_in_batch

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: every process gets here, so the reduction is collective
            import torch

            counts = torch.tensor(self._window, dtype=torch.float64, device=self.args.device)
            counts = self.accelerator.reduce(counts, reduction="sum").tolist()
            steps = max(1, self.state.global_step - self._window_step)
            seconds = max(time.perf_counter() - self._window_start, 1e-9)
            logs["tokens_per_second"] = round(counts[0] / seconds, 2)
            logs["tokens_per_step"] = counts[0] / steps
            logs["visual_tokens_per_step"] = counts[1] / steps
            logs["target_tokens_per_step"] = counts[2] / steps
            self._window = [0, 0, 0]
            self._window_start = time.perf_counter()
            self._window_step = self.state.global_step
        super().log(logs, start_time)


def _accepts_logits_to_keep(model: Any) -> bool:
    """Whether the (possibly peft-wrapped) model's forward takes ``logits_to_keep`` (GLM-4.1V and Qwen-VL do)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


class _DataOrderLog(TrainerCallback):
    """Writes ``{"step": n, "ids": [...]}`` per optimiser step (all processes' records, main process writes)."""

    def __init__(self, trainer: GlyphTrainer) -> None:
        self.trainer = trainer

    def _path(self, args: Any) -> Path:
        return Path(args.output_dir) / DATA_ORDER

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        t = self.trainer
        t._pending_ids.clear()
        # a resumed run starts counting at its checkpoint's step, not at 0
        t._window, t._window_step, t._window_start = [0, 0, 0], state.global_step, time.perf_counter()
        if state.is_world_process_zero:
            truncate_jsonl(self._path(args), state.global_step)  # a resumed run rewrites later steps

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from accelerate.utils import gather_object

        ids = self.trainer._pending_ids
        if self.trainer.accelerator.num_processes > 1:
            ids = gather_object(ids)
        self.trainer._pending_ids = []
        if ids and state.is_world_process_zero:
            path = self._path(args)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "ids": ids}) + "\n")
