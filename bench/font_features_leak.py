"""What WeasyPrint keeps after each render when a text box has an OpenType feature.

``python -m bench.font_features_leak`` prints the C heap (glibc's ``mallinfo2``) that
stays in use per render of the same 60-cell table, with no feature and with each of
four ways of asking for one. WeasyPrint 70's ``text/line_break.py`` makes a new Pango
font-features attribute and attribute list for every text box that has features (the
cache there is filled with ``setdefault``, whose default is built on every call) and
frees neither. The built-in psikotes pack asks for none; the render worker's job
process retires after ``PDFQUEUE_WORKER_MAX_JOBS`` jobs, which bounds what a pack that
does ask for keeps.
"""

from __future__ import annotations

import ctypes
import gc

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

RENDERS = 100
STYLES = (
    "",
    "font-variant-numeric: tabular-nums",
    "font-feature-settings: 'tnum'",
    "font-variant-caps: small-caps",
    "font-kerning: none",
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _malloc_in_use() -> int:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return int(libc.mallinfo2().uordblks)


def kept_per_render(style: str) -> float:
    """KB of C heap still in use per render, after a warm-up and a collection."""
    cells = "".join(f"<td>{n}</td>" for n in range(60))
    html = f"<style>td {{ {style} }}</style><table><tr>{cells}</tr></table>"
    fonts = FontConfiguration()
    for _ in range(10):
        HTML(string=html).render(font_config=fonts)
    gc.collect()
    before = _malloc_in_use()
    for _ in range(RENDERS):
        HTML(string=html).render(font_config=fonts)
    gc.collect()
    return (_malloc_in_use() - before) / 1024 / RENDERS


def main() -> None:
    for style in STYLES:
        print(f"{style or '(no feature)':40} {kept_per_render(style):6.1f} KB kept per render")


if __name__ == "__main__":
    main()
