"""Processes whose clock is off: libfaketime (Debian's ``faketime``), preloaded by ``env``.

``env`` keeps the pid a worker registers with RQ (the ``faketime`` command would not).
``make test`` installs the package as root; without it the tests that need it skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)


def skewed(offset: str) -> list[str]:
    """The command prefix that runs a program with its clock ``offset`` (``"+30s"``)."""
    if LIBFAKETIME is None:
        pytest.skip("faketime is not installed (`make test` installs Debian's faketime as root)")
    return ["env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME={offset}"]
