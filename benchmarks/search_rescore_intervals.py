"""Re-pick a validation winner under the Wilson interval from a stored ``validation.json``, at no scoring cost.

The Wilson interval depends only on a row's accuracy and sample count, both stored, so the tie rule can be
re-applied to a report made with the old percentile bootstrap, which shows what the interval alone changes:

    git show 6110045:benchmarks/results/search/validation.json > /tmp/val_bootstrap.json
    python benchmarks/search_rescore_intervals.py /tmp/val_bootstrap.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from glyph.search.fitness import Interval, wilson_interval
from glyph.search.selection import Scoring, TrialRecord, rank
from glyph.search.validation import REFERENCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="a validation.json written by glyph search validate / run")
    parser.add_argument("--floor", type=float, default=0.9, help="the search's accuracy floor")
    args = parser.parse_args()
    data = json.loads(args.report.read_text())
    confidence = float(data.get("confidence", 0.95))
    records, ref = [], None
    print(f"{'config':>18} {'accuracy':>9} {'n':>3} {'stored interval':>17} {'Wilson':>17} {'compression':>11}")
    for row in data["rows"]:
        stored = Interval.from_dict(row["ci"])
        wilson = wilson_interval([row["accuracy"]] * stored.n, confidence)  # Wilson needs only p and n
        print(f"{row['label']:>18} {row['accuracy']:9.4f} {stored.n:3d} {stored.low:8.3f}-{stored.high:.3f} "
              f"{wilson.low:8.3f}-{wilson.high:.3f} {row['compression']:10.2f}x")
        if row["number"] == REFERENCE:
            ref = (row, wilson)
            continue
        records.append(TrialRecord(number=row["number"], generation=0, origin="validated", values={},
                                   accuracy=row["accuracy"], compression=row["compression"],
                                   metrics={"accuracy_ci": wilson.to_dict()}))
    best = rank(records, Scoring(accuracy_floor=args.floor))[0]
    print(f"stored winner: trial {data['winner']}; Wilson winner: trial {best.number} "
          f"{best.interval} at {best.compression:.2f}x")
    if ref is not None:
        row, wilson = ref
        tie = "ties with" if best.accuracy_interval.overlaps(wilson) else "does not tie with"
        print(f"it {tie} the reference default {wilson} at {row['compression']:.2f}x: "
              f"{best.compression / row['compression']:.2f}x its compression")


if __name__ == "__main__":
    main()
