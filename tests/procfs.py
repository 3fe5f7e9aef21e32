"""The processes of this machine as ``/proc/<pid>/stat`` shows them: the tests find a
worker's job process, its parent and whether it still runs from here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the tests ask about."""

    pid: int
    state: str  # "Z": a zombie, dead but not yet reaped
    ppid: int
    pgid: int

    @property
    def leads_its_group(self) -> bool:
        return self.pgid == self.pid


def proc_stat(pid: int) -> ProcStat | None:
    """``pid``'s stat, or None when it is gone (the name may hold ") ": split at the last)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return ProcStat(pid, fields[0], int(fields[1]), int(fields[2]))
    except (OSError, IndexError, ValueError):
        return None


def all_procs() -> Iterator[ProcStat]:
    """Every process there is now (one that ends meanwhile is left out)."""
    for entry in Path("/proc").glob("[0-9]*"):
        stat = proc_stat(int(entry.name))
        if stat is not None:
            yield stat


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` forked that still exist."""
    return [p.pid for p in all_procs() if p.ppid == pid]
