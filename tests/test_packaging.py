"""What the wheel ships: the ``flask_pdfqueue`` package only (its report pack, migrations and
type marker included), while jobs queued under the job functions' former names still run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from rq.utils import import_attribute

from flask_pdfqueue import rq_jobs
from flask_pdfqueue.queue.queues import DELIVERY_FUNCTION, JOB_FUNCTION

ROOT = Path(__file__).parent.parent


def test_the_wheel_ships_one_top_level_package(tmp_path: Path) -> None:
    # From a copy without build/: setuptools would add what an earlier build left there.
    source = tmp_path / "source"
    shutil.copytree(ROOT / "flask_pdfqueue", source / "flask_pdfqueue",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(source)],
        check=True,
        timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("flask_pdfqueue-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"flask_pdfqueue"}
    assert "flask_pdfqueue/py.typed" in names
    assert "flask_pdfqueue/records/migrations/script.py.mako" in names
    pack = "flask_pdfqueue/reports/packs/psikotes/"
    assert {
        f"{pack}__init__.py",
        f"{pack}templates/psikotes.html",
        f"{pack}templates/psikotes.css",
    } <= (set(names))
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    assert (
        not entry_points
        or "flask.commands" not in zipfile.ZipFile(wheel).read(entry_points[0]).decode()
    )


def test_jobs_queued_under_the_former_names_still_run() -> None:
    # what RQ does with the dotted path a job was queued with
    assert import_attribute(JOB_FUNCTION) is rq_jobs.generate_pdf_job
    assert import_attribute(DELIVERY_FUNCTION) is rq_jobs.deliver_webhook_job
    former = import_attribute("workers.pdf_worker.generate_pdf_job")
    assert former is rq_jobs.generate_pdf_job
    assert import_attribute("workers.webhook_worker.deliver_webhook_job") is (
        rq_jobs.deliver_webhook_job
    )
