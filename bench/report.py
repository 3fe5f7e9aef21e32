"""What a ``make bench`` run leaves: its raw results in ``bench/results/<UTC time>.json``
(the machine, the commit, every row and every sample), and the table in bench/README.md,
made from the newest results file with the one before it beside it.

``python -m bench.report`` makes the README's table again from the files there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.results import Results, Row

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
README = HERE / "README.md"
START = "<!-- bench-table:start (made by bench/report.py from bench/results/) -->"
END = "<!-- bench-table:end -->"


def machine() -> dict[str, Any]:
    """What the numbers depend on: cores, CPU, Python, and the versions that render."""
    from importlib.metadata import version

    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = ("weasyprint", "rq", "redis", "gunicorn", "flask", "sqlalchemy", "celery")
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = version(name)
        except Exception:
            found[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": found,
    }


def commit() -> str | None:
    try:
        described = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return described.stdout.strip() or None


def save(results: Results, settings: dict[str, Any], started: float) -> Path:
    """Write this run's raw results; the file's path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    when = time.gmtime(started)
    path = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%SZ', when)}.json"
    document = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", when),
        "minutes": round((time.time() - started) / 60, 1),
        "commit": commit(),
        "machine": machine(),
        "settings": settings,
        "rows": [dataclasses.asdict(row) for row in results.rows],
        "samples": results.samples,
        "extra": results.extra,
        "violations": results.violations,
    }
    path.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def _heading(run: dict[str, Any]) -> str:
    m = run["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    settings = ", ".join(f"{k}={v}" for k, v in run["settings"].items())
    outcome = "no job lost, failed or announced twice" if not run["violations"] else (
        f"{len(run['violations'])} correctness violations"
    )  # fmt: skip
    return (
        f"Run {run['started']} at commit `{run['commit']}`, {run['minutes']} min, {outcome}; "
        f"nproc {m['nproc']} ({m['cpu']}), Python {m['python']}, {packages}; {settings}."
    )


def _table(run: dict[str, Any]) -> str:
    results = Results(rows=[Row(**row) for row in run["rows"]])
    return results.table()


def readme_block(runs: list[dict[str, Any]]) -> str:
    """The README's generated part: the newest run's table, then the one before it."""
    newest, *rest = runs
    parts = [START, "", "**Latest.** " + _heading(newest), "", _table(newest)]
    if rest:
        parts += ["", "**The run before.** " + _heading(rest[0]), "", _table(rest[0])]
    parts += ["", END]
    return "\n".join(parts)


def update_readme() -> bool:
    """Replace the README's generated part from the two newest results files; False when
    there are none yet."""
    files = sorted(RESULTS_DIR.glob("*.json"), reverse=True)[:2]
    if not files:
        return False
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    text = README.read_text(encoding="utf-8")
    head, found, tail = text.partition(START)
    if not found:
        raise SystemExit(f"{README} has no {START!r} line to replace from")
    _, _, after = tail.partition(END)
    README.write_text(head + readme_block(runs) + after, encoding="utf-8")
    return True


if __name__ == "__main__":
    if not update_readme():
        raise SystemExit(f"no results in {RESULTS_DIR} yet: run `make bench`")
