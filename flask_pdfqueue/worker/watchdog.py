"""The default render worker: one warm process runs the jobs, a watchdog watches it.

Every job runs in one long-lived process, as Celery's prefork pool runs its tasks: no
fork, no fresh MongoDB and SQL clients, no copy-on-write faults per job. What a work
horse per run gave (isolation), the watchdog, the process that started it, gives back
from outside:

- **the hard time limit**: a run still going :data:`KILL_GRACE` seconds after its
  ``job_timeout`` (RQ's in-process time limit did not stop it: a render stuck in C
  code, signals blocked) has its process killed, and the run is settled as timed out;
- **a dead process** (the OOM killer, ``kill -9``, a crash in C) is seen at once: its
  run is settled (retried, or failed as ``worker_lost``) without waiting for RQ to find
  it abandoned, and a new process takes its place;
- **recycling**: the process retires between jobs after ``PDFQUEUE_WORKER_MAX_JOBS``
  jobs, or once its resident memory passes ``PDFQUEUE_WORKER_MAX_RSS_MB``.

A new process is forked from the watchdog, which loaded WeasyPrint and the templates;
it adds its own fonts and a warm-up render before taking a job, so it starts warm.
The watchdog runs no job and holds no lock; it tells the job process about SIGTERM and
SIGINT (RQ's warm, then cold, shutdown) and exits when it does. A job process that is
between runs and still alive :data:`STOP_GRACE` seconds after a stop is killed with its
process group (RQ's scheduler included), so a stop always ends. The job process says
when a run starts and ends on a pipe, one line each (``start <run> <timeout>``, ``end``).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import signal
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import SQLAlchemyError

from ..errors import JobFailure, WorkerLost
from ..jobs.attempts import classify, death_of, settle_reported_run
from ..queue.queues import job_of_run
from ..queue.rq_state import forget_beat
from ..state import PDFQueueState
from .classes import WORKER_TTL, InProcessWorker

log = logging.getLogger(__name__)

#: Seconds past a run's ``job_timeout`` before the watchdog kills its process.
KILL_GRACE = 5.0
#: The job process's exit status when it retires to be replaced (EX_TEMPFAIL).
RETIRED = 75
#: Seconds a job process between runs has to end after a stop before the watchdog kills
#: it: more than the longest wait between two reads of the stop (RQ's dequeue timeout).
STOP_GRACE = float(WORKER_TTL)
#: How long the watchdog waits before replacing a process that ended without retiring
#: (Redis gone, say), so that a failing start does not spin.
RESTART_PAUSE = 2.0


class WatchedWorker(InProcessWorker):
    """The job process: an in-process worker that tells the watchdog when a run starts
    and ends, and retires after ``retire_after`` jobs or past ``max_rss_mb``."""

    def __init__(
        self, *args: Any, report_fd: int, retire_after: int, max_rss_mb: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.report_fd = report_fd
        self.retire_after = retire_after
        self.max_rss_mb = max_rss_mb
        self.jobs_done = 0
        self.retiring = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._report(f"start {job.id} {job.timeout or 0}")
        try:
            super().execute_job(job, queue)
        finally:
            self._report("end")
        self.jobs_done += 1
        rss = resident_mb()
        if self.jobs_done >= self.retire_after or (self.max_rss_mb and rss > self.max_rss_mb):
            log.info(
                "worker %s: retiring after %d jobs (%d MB resident)",
                self.name,
                self.jobs_done,
                rss,
            )
            self.retiring = True
            raise StopRequested()  # RQ's loop ends here, between jobs

    def _report(self, line: str) -> None:
        os.write(self.report_fd, line.encode() + b"\n")


class _Lines:
    """The job process's report pipe, read as whole lines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def within(self, seconds: float) -> list[str]:
        """The lines that arrive within ``seconds`` (none if nothing does)."""
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select([self.fd], [], [], seconds)
            if readable:
                return self._split(os.read(self.fd, 4096))
        return []

    def rest(self) -> list[str]:
        """Every line still in the pipe of a process that has ended (without waiting: a
        process it forked, RQ's scheduler, may hold the pipe open a while longer)."""
        os.set_blocking(self.fd, False)
        found: list[str] = []
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.fd, 4096):
                found += self._split(chunk)
        return found

    def _split(self, chunk: bytes) -> list[str]:
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        return [line.decode() for line in lines]


@dataclass
class _Run:
    """The run the job process says it is on, and when the watchdog kills it."""

    run: str
    timeout: int
    deadline: float | None


class Watchdog:
    """Start the job process, watch it, replace it; see the module's description."""

    def __init__(
        self,
        state: PDFQueueState,
        start: Callable[[int, str], WatchedWorker],
        *,
        name: str | None,
        burst: bool,
        max_jobs: int | None,
        work: Callable[[WatchedWorker, int | None], None],
    ) -> None:
        self.state = state
        self.start = start
        self.work = work
        self.base_name = name or uuid.uuid4().hex
        self.burst = burst
        self.max_jobs = max_jobs
        self.jobs_done = 0
        self.generation = 0
        self.stopping: int | None = None
        self.child: int | None = None

    def run(self) -> int:
        """Keep a job process running until asked to stop (or, in burst mode, until one
        ends with the queues empty); the exit status."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._forward)
        while True:
            pid, name, reports = self._spawn()
            status, retired = self._watch(pid, name, reports)
            os.close(reports)
            if self.stopping is not None or (self.max_jobs and self.jobs_done >= self.max_jobs):
                return 0
            if retired:
                continue
            if self.burst and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
                return 0
            time.sleep(RESTART_PAUSE)

    def _spawn(self) -> tuple[int, str, int]:
        self.generation += 1
        name = self.base_name if self.generation == 1 else f"{self.base_name}.{self.generation}"
        read_end, write_end = os.pipe()
        watchdog = os.getpid()
        pid = os.fork()
        if pid == 0:  # the job process
            os.close(read_end)
            os.setpgid(0, 0)  # its own group: RQ's scheduler, forked by it, goes with it
            die_with(watchdog)
            forks_die_with_me()  # RQ's scheduler, which the job process forks
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            code = 1
            try:
                worker = self.start(write_end, name)
                remaining = self.max_jobs - self.jobs_done if self.max_jobs else None
                self.work(worker, remaining)
                code = RETIRED if worker.retiring else 0
            except BaseException:
                log.exception("worker %s: the job process failed", name)
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(write_end)
        self.child = pid
        log.info("worker %s: job process %d started", name, pid)
        return pid, name, read_end

    def _watch(self, pid: int, name: str, reports: int) -> tuple[int, bool]:
        """Follow the job process until it ends; its wait status, and whether it retired."""
        lines = _Lines(reports)
        current: _Run | None = None
        idle_since: float | None = None  # since when a stopping job process is between runs
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                for line in lines.rest():  # what it said just before it ended
                    current = self._note(line, current)
                break
            if self.stopping is None or current is not None:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > STOP_GRACE:
                log.error(
                    "worker %s: job process %d has not stopped %d s after the stop; killing it",
                    name,
                    pid,
                    STOP_GRACE,
                )
                status = _kill_group(pid)
                self.child = None
                self._forget(name)
                return status, False
            wait = 1.0
            if current is not None and current.deadline is not None:
                wait = max(0.0, min(wait, current.deadline - time.monotonic()))
            for line in lines.within(wait):
                current = self._note(line, current)
            if current and current.deadline and time.monotonic() > current.deadline:
                log.error(
                    "worker %s: run %s passed its %d s time limit; killing its process %d",
                    name,
                    current.run,
                    current.timeout,
                    pid,
                )
                status = _kill_group(pid)
                self.child = None
                self._settle(current, classify(JobTimeoutException(), current.timeout))
                self._forget(name)
                return status, False
        self.child = None
        retired = os.WIFEXITED(status) and os.WEXITSTATUS(status) == RETIRED
        if current is not None:
            log.error(
                "worker %s: job process %d died (%s) running %s",
                name,
                pid,
                death_of(status),
                current.run,
            )
            died = f"the worker running the job died ({death_of(status)})"
            self._settle(current, WorkerLost(died))
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, RETIRED)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # its scheduler, if it left one
            self._forget(name)
        return status, retired

    def _note(self, line: str, current: _Run | None) -> _Run | None:
        words = line.split()
        if words[:1] == ["start"] and len(words) == 3:
            timeout = int(words[2])
            deadline = time.monotonic() + timeout + KILL_GRACE if timeout > 0 else None
            return _Run(words[1], timeout, deadline)
        if words == ["end"]:
            self.jobs_done += 1
            return None
        return current

    def _settle(self, current: _Run, failure: JobFailure) -> None:
        try:
            settle_reported_run(self.state, job_of_run(current.run), current.run, failure)
        except (RedisError, SQLAlchemyError):  # the reconciler settles it later
            log.exception("run %s could not be settled now", current.run)

    def _forget(self, name: str) -> None:
        """Take a dead job process's registration out of Redis, so that health and stats
        stop counting it and its successor may use the name."""
        try:
            key = Worker.redis_worker_namespace_prefix + name
            dead = Worker.find_by_key(key, connection=self.state.redis)
            if dead is not None:
                dead.register_death()  # type: ignore[no-untyped-call]
            forget_beat(self.state.redis, name)
        except RedisError:
            log.warning("worker %s: its registration stays until it expires", name)

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: the job process shuts down as RQ does (warm, then cold)."""
        self.stopping = signum
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signum)


def _kill_group(pid: int) -> int:
    """Kill the job process ``pid`` and what it forked (its process group); its wait
    status."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def die_with(parent: int) -> None:
    """Have the kernel kill this process when ``parent`` dies (Linux), so a job process
    never works on unwatched (its run is then recovered like any lost run), and RQ's
    scheduler never outlives the worker process that started it, holding its locks."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the call took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def forks_die_with_me() -> None:
    """Have every process this one forks from now on die with it (see :func:`die_with`)."""
    me = os.getpid()
    os.register_at_fork(after_in_child=lambda: die_with(me))


def resident_mb() -> int:
    """This process's resident memory in MB (Linux's ``/proc``; 0 where there is none)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
