"""Runs a recipe in a child process and kills itself hard (os._exit) at a given step: a real crash.

Usage: python train_worker.py RECIPE_JSON KILL_AT_STEP. The kill happens when step KILL_AT_STEP is
logged, i.e. after the last checkpoint and with work done since it that is lost.
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
    # the JsonlLogger is added before this callback, so step KILL_AT's line is written, then the process dies
    run_training(recipe, resume="auto", callbacks=[KillAt(int(sys.argv[2]))])
    sys.exit(3)  # not reached unless the kill step is never logged
