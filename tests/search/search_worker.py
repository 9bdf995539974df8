"""A search worker in its own process (used by the two-process test): start-or-join the same study."""

from __future__ import annotations

import sys
from pathlib import Path

from search_helpers import SMALL_SPACE  # registers counting-synthetic

from glyph.search import SearchSettings, SearchSpace, session

if __name__ == "__main__":
    storage, study, count_file, out_dir = sys.argv[1:5]
    search = session.start(
        storage, study, Path(out_dir), space=SearchSpace.from_dict(SMALL_SPACE), evaluator="counting-synthetic",
        evaluator_options={"count_file": count_file, "sleep": 0.05},
        settings=SearchSettings(generations=3, population=6, seed=1), poll_seconds=0.05,
    )
    summary = search.run()
    print(f"pid-summary {summary.evaluations} {summary.generations_bred}", flush=True)
