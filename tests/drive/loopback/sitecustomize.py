"""On the PYTHONPATH of the processes the Drive tests start: they may use loopback only."""

import importlib.util
import os
from pathlib import Path

if os.environ.get("PDFQUEUE_TEST_LOOPBACK_ONLY"):
    _spec = importlib.util.spec_from_file_location(
        "loopback_guard", Path(__file__).with_name("loopback_guard.py")
    )
    assert _spec is not None and _spec.loader is not None
    _guard = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_guard)
    _guard.install()
