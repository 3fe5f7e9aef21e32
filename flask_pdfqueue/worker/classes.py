"""The RQ worker classes, with what keeps a queue alive unattended.

- Render runs go, by default, to one warm job process (:class:`InProcessWorker`, on
  RQ's ``SimpleWorker``, watched by :mod:`.watchdog`): no fork and no fresh
  connections per run. RQ's stop command (a cancel) has no horse to kill there: it
  interrupts the run in the job process instead (:func:`stoppable`).
- With ``--fork`` (``PDFQUEUE_WORKER_FORK=true``) they go to RQ's forking worker
  (:class:`PDFWorker`): a horse per run. A horse that dies (OOM killer, ``kill -9``,
  the hard timeout) is reported through RQ's documented ``work_horse_killed_handler``,
  :func:`~flask_pdfqueue.rq_jobs.on_horse_killed`.
- Webhook attempts run in the worker process itself (:class:`InProcessWorker`
  too): an attempt is one bounded POST and two SQL writes, and a
  fork per attempt cost more CPU than the attempt. Its time limit still holds
  (RQ's signal-based death penalty); should the process die mid-POST, the claim's
  lease runs out and the reconciler queues the attempt again.
- Maintenance runs every :data:`MAINTENANCE_SECONDS` (RQ's default is ten minutes),
  and besides RQ's own tasks it: registers the worker again when Redis forgot it
  (flushed, or a new server); clears a scheduler lock whose owner stopped
  heartbeating (killed uncleanly), so RQ's maintenance starts a scheduler here;
  and runs the reconciler when its interval is due, and the alerts' check
  (:mod:`~flask_pdfqueue.ops.alerts`) when theirs is.
- A short worker TTL makes a dead worker's registration expire within a minute.
- A warm stop (SIGTERM) is also kept as a flag that the loop reads before every dequeue
  (:meth:`_Upkeep.request_stop`): RQ raises its stop from the signal handler, wherever
  the signal lands, and one that lands in a log call is swallowed by ``logging``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from types import FrameType
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker, worker_registration
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker, WorkerStatus

from ..jobs import outages
from ..jobs.reconcile import reconcile_if_due
from ..ops.alerts import evaluate_if_due
from ..queue.rq_state import SCHEDULER_SILENCE, forget_beat, note_beat, scheduler_silence
from ..state import PDFQueueState, current_pdfqueue
from ..timestamps import redis_now

log = logging.getLogger(__name__)

#: Seconds between maintenance rounds (and so between scheduler checks).
MAINTENANCE_SECONDS = 15
#: Seconds between a reconciler thread's asks for a round (each cheap: a Redis lock).
RECONCILE_POLL = 5.0
#: RQ's worker TTL: an idle worker heartbeats every TTL - 15 s, a dead one expires.
WORKER_TTL = 40


class _Upkeep(BaseWorker):
    """The maintenance both worker kinds run, their short TTL, and the pause through an
    outage of what their jobs need (``needs``: render workers need every dependency,
    delivery workers none that may be out: SQL they need, but a failed attempt stays
    owed in SQL anyway)."""

    def __init__(
        self,
        queues: Any,
        *,
        needs: tuple[str, ...] = (),
        reconciles: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(queues, **kwargs)
        self.needs = needs
        self.reconciles = reconciles
        self.stop_asked = False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """RQ's warm stop, noted first. RQ raises ``StopRequested`` from this signal
        handler when the worker is idle; if the signal lands inside a log call (RQ logs
        between the dequeue and the run), ``logging.Handler.handleError`` swallows it and
        the worker would go on taking jobs until killed. The note makes the loop stop at
        its next safe point all the same (:attr:`should_run_maintenance_tasks`)."""
        self.stop_asked = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    @property
    def should_run_maintenance_tasks(self) -> bool:
        """RQ's question before every dequeue (in its loop and while idle), so the
        point where a noted stop ends the loop: no job is held there."""
        if self.stop_asked:
            raise StopRequested()
        return bool(super().should_run_maintenance_tasks)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop; with ``reconciles``, a reconciler thread beside it (see
        :class:`ReconcilerThread`)."""
        if not self.reconciles:
            return bool(super().work(*args, **kwargs))
        thread = ReconcilerThread(current_app._get_current_object(), self.name)  # type: ignore[attr-defined]
        thread.start()
        try:
            return bool(super().work(*args, **kwargs))
        finally:
            thread.stop()

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> Any:
        if self.needs:
            self._wait_out_outages()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _wait_out_outages(self) -> None:
        """Take no job while a dependency the jobs need is down (and younger than the
        grace), probing it; heartbeats and maintenance go on, a shutdown ends the wait."""
        state = current_pdfqueue()
        grace = timedelta(seconds=state.settings.outage_grace)
        said = ""
        while True:
            try:
                found = [
                    o for o in outages.open_outages(self.connection) if o.dependency in self.needs
                ]
                now = redis_now(self.connection) if found else None  # (no outage: one round trip)
                blocking = [
                    outage
                    for outage in found
                    if now is not None
                    and outage.age(now) < grace
                    and not self._answers_again(state, outage.dependency)
                ]
            except RedisError:
                return  # RQ's own loop waits for Redis
            if not blocking:
                if said:
                    log.warning("worker %s: taking jobs again", self.name)
                return
            names = ", ".join(outages.NAMES[outage.dependency] for outage in blocking)
            if names != said:
                log.warning("worker %s: taking no job while %s does not answer", self.name, names)
                said = names
            self.set_state(WorkerStatus.SUSPENDED)
            self.heartbeat()
            if self.should_run_maintenance_tasks:
                self.run_maintenance_tasks()
            time.sleep(outages.PROBE_EVERY)

    def _answers_again(self, state: PDFQueueState, dependency: str) -> bool:
        """Probe ``dependency``; when it answers, its outage is over for everybody."""
        if not outages.answers(state, dependency):
            return False
        outages.report_up(self.connection, dependency)
        return True

    def run_maintenance_tasks(self) -> None:
        self._register_again_if_forgotten()
        for queue in self.queues:
            clear_dead_scheduler_lock(self.connection, queue.name)
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        try:  # alerts fire with nobody reading the stats (one worker per round, by a lock)
            evaluate_if_due(current_pdfqueue(), self.name)
        except Exception:
            log.exception("alert evaluation failed")

    def _register_again_if_forgotten(self) -> None:
        if self.birth_date is None:  # not started yet: RQ registers it when it starts
            return
        if self.key in worker_registration.get_keys(connection=self.connection):
            return
        log.warning("worker %s: Redis no longer knew this worker; registering again", self.name)
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            note_beat(pipeline, self.name)
            pipeline.execute()

    # RQ's registration and heartbeats, each with the worker's beat by Redis's clock (what
    # health, stats and metrics count as alive: see flask_pdfqueue.queue.rq_state).

    def register_birth(self) -> None:
        super().register_birth()  # type: ignore[no-untyped-call]
        note_beat(self.connection, self.name)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline=pipeline)
        note_beat(pipeline if pipeline is not None else self.connection, self.name)

    def register_death(self) -> None:
        super().register_death()  # type: ignore[no-untyped-call]
        forget_beat(self.connection, self.name)


class PDFWorker(_Upkeep, Worker):
    """Render worker: a work horse per run, inside the app context of ``flask pdfqueue
    worker`` (inherited by the horses)."""


class InProcessWorker(_Upkeep, SimpleWorker):
    """A worker that runs each job in its own process, warm and without a fork: the
    webhook delivery worker, and (watched) the default render worker's job process."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        signal.signal(STOP_SIGNAL, _stop_on_signal)
        return super().work(*args, **kwargs)

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """RQ's stop command, from its command thread: there is no horse, so the run in
        this process is interrupted where it is stoppable (:func:`stoppable`)."""
        run = self.get_current_job_id()
        main = threading.main_thread().ident
        if run is None or main is None:
            return
        _switch.requested = run
        signal.pthread_kill(main, STOP_SIGNAL)


class ReconcilerThread(threading.Thread):
    """The reconciler's rounds, on a thread of their own in a delivery worker: a round
    never holds up a job (the worker's loop goes on beside it), and the delivery worker
    forks no work horse a thread could leave locks behind in. Every
    :data:`RECONCILE_POLL` seconds it asks for a round; the Redis lock and lease of
    :func:`~flask_pdfqueue.jobs.reconcile.reconcile_if_due` make it one per interval across
    every delivery worker."""

    def __init__(self, app: Flask, owner: str) -> None:
        super().__init__(name="pdfqueue-reconciler", daemon=True)
        self.app = app
        self.owner = owner
        self.stopping = threading.Event()

    def run(self) -> None:
        with self.app.app_context():
            while not self.stopping.wait(RECONCILE_POLL):
                try:
                    reconcile_if_due(current_pdfqueue(), self.owner)
                except Exception:  # the thread must live on; the next round tries again
                    log.exception("reconcile round failed")

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=RECONCILE_POLL + 30)


class RunStopped(Exception):
    """RQ's stop command reached a run of an in-process worker (the job was cancelled)."""


#: What an in-process worker's command thread sends its main thread to stop a run.
STOP_SIGNAL = signal.SIGUSR2


class _StopSwitch:
    """Which run may be interrupted now, and which run a stop was asked for."""

    stoppable: str | None = None
    requested: str | None = None

    def stop_if_asked(self) -> None:
        if self.stoppable is not None and self.requested == self.stoppable:
            self.requested = None
            raise RunStopped(f"run {self.stoppable} was stopped on request")


_switch = _StopSwitch()


def _stop_on_signal(signum: int, frame: FrameType | None) -> None:
    _switch.stop_if_asked()


@contextlib.contextmanager
def stoppable(run: str) -> Iterator[None]:
    """Let RQ's stop command interrupt ``run`` while this block runs, in an in-process
    worker (:class:`RunStopped` is raised in it). In a forking worker the horse is killed
    instead, and this changes nothing. The stop is taken only inside the block, so it
    never lands in RQ's own bookkeeping around the job."""
    _switch.stoppable = run
    try:
        _switch.stop_if_asked()  # asked before the block began
        yield
    finally:
        _switch.stoppable = None


def clear_dead_scheduler_lock(connection: Redis, queue_name: str) -> bool:
    """Delete ``queue_name``'s scheduler lock if its owner is dead; True if it did.

    The lock is deleted only if it still names the same owner (a scheduler that
    took it over meanwhile keeps it).
    """
    key = RQScheduler.get_locking_key(queue_name)
    owner = connection.get(key)
    silence = scheduler_silence(connection, queue_name)
    if owner is None or silence is None or silence < SCHEDULER_SILENCE:
        return False
    if not connection.eval(_DELETE_IF_OWNER, 1, key, owner):
        return False
    log.warning("cleared the scheduler lock of %s: its owner stopped heartbeating", queue_name)
    return True


#: Delete KEYS[1] only if it still holds ARGV[1] (atomic compare-and-delete).
_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
