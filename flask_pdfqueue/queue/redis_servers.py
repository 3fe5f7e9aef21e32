"""Which Redis servers the queue runs on, said in one sentence when one is outside that.

RQ 3 needs Redis 5.0; the service itself needs 6.2 (``GETDEL`` for alerts, ``LPOS``
for queue positions). The suite runs on Redis 7 (Debian 12) and 8 (Debian 13).
``make run`` asks this module about the Redis it is about to use, and so does every
worker at start, so a server on the wrong side of that range is named at once
instead of failing a command deep inside a job.

``python -m flask_pdfqueue.queue.redis_servers VERSION`` prints the sentence, if any, and
exits 1 for a version the service cannot run on.
"""

from __future__ import annotations

import re
import sys

MINIMUM = (6, 2)
TESTED_MAJORS = (7, 8)


def parse_version(text: str) -> tuple[int, ...]:
    """``"7.0.15"`` → ``(7, 0, 15)``; raises ``ValueError`` for anything else."""
    if not re.fullmatch(r"\d+(\.\d+)*", text.strip()):
        raise ValueError(f"{text!r} is not a Redis version")
    return tuple(int(part) for part in text.strip().split("."))


def supported(version: str) -> bool:
    """Whether the service can run on Redis ``version`` at all."""
    return parse_version(version) >= MINIMUM


def support_note(version: str) -> str | None:
    """One sentence when Redis ``version`` is too old or newer than tested, else None."""
    wanted = ".".join(map(str, MINIMUM))
    if not supported(version):
        return (
            f"Redis {version} is older than {wanted}, which flask-pdfqueue needs (RQ 3 needs "
            f"5.0, the service uses GETDEL): install a newer redis-server (Debian 12 ships 7, "
            f"Debian 13 ships 8) or set PDFQUEUE_REDIS_URL to a Redis {wanted} or later."
        )
    if parse_version(version)[0] > max(TESTED_MAJORS):
        tested = " and ".join(f"{major}.x" for major in TESTED_MAJORS)
        return (
            f"Redis {version} is newer than the {tested} flask-pdfqueue is tested on: "
            f"it should work, and anything that does not is worth an issue."
        )
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m flask_pdfqueue.queue.redis_servers VERSION", file=sys.stderr)
        return 2
    try:
        note = support_note(argv[0])
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if note:
        print(note)
    return 0 if supported(argv[0]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
