"""P7's RSS part: peak RSS of the render workers' processes, and their growth.

A default render worker is a watchdog (``parents``) and its job process (a child), which
runs the jobs; ``worker --fork`` is a parent and a work horse per run (children)."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from bench.results import Results, Row, yes
from bench.stack import API_KEY, BATCH_PATH, PRODUCT, Stack, log
from bench.workers import check_webhooks, product_workers, webhooks_after

LIMIT_MB = 120.0


def _status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB (empty when it is gone)."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    found[line[:5]] = int(line.split()[1])
    except OSError:
        return {}
    return found


def _children(parents: set[int]) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid in parents:
            found.append(int(entry.name))
    return found


@dataclass
class RssSampler:
    """Samples /proc every ``every`` s in a thread: the parents' VmRSS/VmHWM and the peak
    VmHWM of each child (work horse) seen. Start it after the warm-up (preload)."""

    parents: list[int]
    every: float = 0.1
    start_kb: dict[int, int] = field(default_factory=dict)
    child_start_kb: dict[int, int] = field(default_factory=dict)
    end_kb: dict[int, int] = field(default_factory=dict)
    parent_peak_kb: int = 0
    horse_peak_kb: dict[int, int] = field(default_factory=dict)
    #: Each sample's largest child VmRSS: the job processes' envelope over the run.
    child_envelope_kb: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self.start_kb = {pid: _status_kb(pid).get("VmRSS", 0) for pid in self.parents}
        self.child_start_kb = {
            pid: _status_kb(pid).get("VmRSS", 0) for pid in _children(set(self.parents))
        }
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self.end_kb = {pid: _status_kb(pid).get("VmRSS", 0) for pid in self.parents}

    def _sample(self) -> None:
        for pid in self.parents:
            self.parent_peak_kb = max(self.parent_peak_kb, _status_kb(pid).get("VmHWM", 0))
        largest = 0
        for pid in _children(set(self.parents)):
            status = _status_kb(pid)
            self.horse_peak_kb[pid] = max(self.horse_peak_kb.get(pid, 0), status.get("VmHWM", 0))
            largest = max(largest, status.get("VmRSS", 0))
        if largest:
            self.child_envelope_kb.append(largest)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def growth(self) -> float:
        """The largest relative growth of a parent's VmRSS from start to end."""
        return max(
            (self.end_kb[p] - self.start_kb[p]) / self.start_kb[p]
            for p in self.parents
            if self.start_kb.get(p)
        )

    def envelope_tenths_kb(self) -> tuple[int, int]:
        """The largest child VmRSS in the first and in the last tenth of the samples: a
        leak lifts the second over the first, whichever job process is running then."""
        samples = self.child_envelope_kb
        tenth = max(1, len(samples) // 10)
        return max(samples[:tenth], default=0), max(samples[-tenth:], default=0)


def rss_rows(sampler: RssSampler, jobs: int, during: str, results: Results, *, fork: bool) -> None:
    """The peak row and the growth row: of the job processes for the default worker (they
    run the jobs; a retired one's successor starts warm from the watchdog), of the parents
    with ``fork`` (for information: their horses live one run each)."""
    horse_mb = max(sampler.horse_peak_kb.values(), default=0) / 1024
    parent_mb = sampler.parent_peak_kb / 1024
    peak = max(horse_mb, parent_mb)
    results.extra["p7_rss_fork" if fork else "p7_rss"] = {
        "parents_start_kb": sampler.start_kb,
        "parents_end_kb": sampler.end_kb,
        "parent_peak_kb": sampler.parent_peak_kb,
        "children_start_kb": sampler.child_start_kb,
        "children_seen": len(sampler.horse_peak_kb),
        "child_envelope_tenths_kb": sampler.envelope_tenths_kb(),
        "child_peak_kb": max(sampler.horse_peak_kb.values(), default=0),
    }
    children = "horses" if fork else "job processes"
    mode = "`worker --fork` (for information): " if fork else ""
    results.add(
        Row(
            "P7",
            f"{mode}peak RSS per render worker process (VmHWM), {jobs:,} jobs {during}",
            f"{peak:.0f} MB (parent {parent_mb:.0f}, {children} {horse_mb:.0f}, "
            f"{len(sampler.horse_peak_kb)} seen)",
            "-",
            "-",
            "-" if fork else f"≤ {LIMIT_MB:.0f} MB",
            "-" if fork else yes(peak <= LIMIT_MB and horse_mb > 0),
        )
    )
    if fork:
        growth = sampler.growth()
        start = max(sampler.start_kb.values()) / 1024
        end = max(sampler.end_kb.values()) / 1024
        what = f"{start:.0f} → {end:.0f} MB, largest parent"
    else:
        first, last = (kb / 1024 for kb in sampler.envelope_tenths_kb())
        growth = (last - first) / first if first else float("inf")
        what = f"{first:.0f} MB in the first tenth of the run → {last:.0f} MB in the last"
    results.add(
        Row(
            "P7",
            f"{mode}render worker RSS growth over {jobs:,} jobs"
            + (", largest parent, start to end" if fork else ", job processes' largest VmRSS"),
            f"{growth * 100:+.1f} % ({what})",
            "-",
            "-",
            "-" if fork else "< 10 %",
            "-" if fork else yes(growth < 0.10),
        )
    )


def rss_run(s: Stack, workers: int, jobs: int, results: Results, *, fork: bool) -> None:
    """P7 on its own (when P4 does not run): ``jobs`` jobs through the batch endpoint."""
    from bench.renders import seed_reports

    s.state.redis.flushdb()
    tag = "P7f" if fork else "P7r"
    codes = [f"{tag}-{i:05d}" for i in range(jobs)]
    seed_reports(s, codes)
    client = s.app.test_client()
    with product_workers(s, workers, tag, fork=fork) as render:
        log(f"P7: RSS of {workers} render workers over {jobs} jobs")
        before = len(s.receiver.requests())
        job_ids: set[str] = set()
        with RssSampler([p.pid for p in render]) as sampler:
            for b in range(0, jobs, 100):
                batch = [
                    {"code": c, "productId": PRODUCT, "callback": s.callback}
                    for c in codes[b : b + 100]
                ]
                r = client.post(BATCH_PATH, json={"jobs": batch}, headers={"X-API-Key": API_KEY})
                if r.status_code != 202:
                    results.violations.append(f"{tag}: batch answered {r.status_code}")
                    continue
                for item in r.get_json()["jobs"]:
                    if "job_id" not in item:
                        results.violations.append(f"{tag}: batch item refused: {item}")
                    else:
                        job_ids.add(item["job_id"])
            webhooks_after(s, before, job_ids, 120 + 3 * jobs)
            time.sleep(0.5)
        check_webhooks(s, before, job_ids, tag, results)
    rss_rows(sampler, jobs, "(own run)", results, fork=fork)
