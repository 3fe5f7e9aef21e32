"""The table of results, and the correctness violations that fail a run."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.stack import log

# --------------------------------------------------------------------------- results


@dataclass
class Row:
    id: str
    measure: str
    ours: str = "-"
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    #: Every measured value behind a row, by row id (saved with the run, bench/report.py).
    samples: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        log(f"{row.id} {row.measure}: ours {row.ours}, baseline {row.baseline}, {row.ratio}")

    def table(self) -> str:
        head = ("id", "measure", "ours", "baseline", "ratio", "target", "met?")
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        for r in sorted(self.rows, key=lambda row: row.id):  # stable: run order within an id
            cells = (r.id, r.measure, r.ours, r.baseline, r.ratio, r.target, r.met)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def paired_ratio_row(
    pid: str, measure: str, ours: list[float], theirs: list[float], target: float | None
) -> Row:
    """A rate row from alternating runs: medians of both, and the median of the per-pair
    ratios (this VM's speed drifts between runs a minute apart), met at ``target`` (None:
    a row for information)."""
    ratios = [o / t for o, t in zip(ours, theirs, strict=True)]
    ratio = statistics.median(ratios)
    spread = f" (runs {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
    repeats = f", median of {len(ratios)}" if len(ratios) > 1 else ""
    return Row(
        pid,
        measure + repeats,
        f"{statistics.median(ours):.2f}/s",
        f"{statistics.median(theirs):.2f}/s",
        f"{ratio:.3f}{spread}",
        "-" if target is None else f"≥ {target}",
        "-" if target is None else yes(ratio >= target),
    )
