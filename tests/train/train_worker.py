"""Runs a recipe in a child process and kills itself hard (os._exit) at a given step: a real crash.

Usage: python train_worker.py RECIPE_JSON KILL_AT_STEP. The kill happens when step KILL_AT_STEP is
logged, i.e. after the last checkpoint and with work done since it that is lost. KILL_AT_STEP 0 runs
to the end (resuming if there is a checkpoint) and exits 0: a clean run in a fresh process, to compare
with a killed and resumed one without any state a test session leaves in its own process.
"""

from __future__ import annotations

import json
import os
import sys

from transformers import TrainerCallback

from glyph.train.recipes import load_recipe
from glyph.train.run import run_training


class KillAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.global_step >= self.step and logs and "loss" in logs:
            os._exit(137)  # no cleanup, no atexit, no final save: as SIGKILL leaves things


if __name__ == "__main__":
    recipe = load_recipe(json.loads(sys.argv[1]))
    kill_at = int(sys.argv[2])
    # the JsonlLogger is added before this callback, so step KILL_AT's line is written, then the process dies
    result = run_training(recipe, resume="auto", callbacks=[KillAt(kill_at)] if kill_at else [])
    print(json.dumps({"resumed_from": result.resumed_from, "global_step": result.global_step}))
    sys.exit(0 if not kill_at else 3)  # 3: the kill step was never logged
