"""The URL fetcher a render uses: ``data:`` URLs and files inside the pack's folders,
nothing else, and a refused resource stops the render (WeasyPrint's own advice for
untrusted templates: no ``/etc/passwd``, no internal hosts).

The class is defined on first use, so importing this module does not import WeasyPrint.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

FETCH_TIMEOUT = 5


@functools.cache
def _shown_url(url: str) -> str:
    """A URL as messages show it: a file by its name only (its folder is the server's
    business), anything else cut to 200 characters."""
    if url.lower().startswith("file:"):
        return repr(Path(unquote(urlsplit(url).path)).name)
    return repr(url if len(url) <= 200 else url[:200] + "…")


def safe_fetcher_class() -> type[Any]:
    """Define the fetcher on first use, so importing this module does not import WeasyPrint."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class SafeURLFetcher(URLFetcher):  # type: ignore[misc]
        """Serve ``data:`` URLs and files under ``roots``; refuse everything else, fatally.

        WeasyPrint swallows every exception while drawing an SVG image, even fatal ones,
        so each failure is also recorded in ``failures`` for the caller to check.
        """

        def __init__(self, roots: Sequence[Path]) -> None:
            # fail_on_errors: a missing or unreadable allowed file also stops the render.
            super().__init__(
                timeout=FETCH_TIMEOUT,
                allowed_protocols={"data", "file"},
                allow_redirects=False,
                fail_on_errors=True,
            )
            self._roots = [os.path.realpath(root) for root in roots]
            self.failures: list[str] = []

        def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
            shown = _shown_url(url)
            scheme = url.partition(":")[0].lower()
            if scheme != "data" and not (scheme == "file" and self._inside_roots(url)):
                self.failures.append(
                    f"{shown} (only data: URLs and files inside the template folders are allowed)"
                )
                raise FatalURLFetchingError(f"refused to load {shown}")
            try:
                return super().fetch(url, headers)
            except Exception as exc:  # the reason, not its text: that names server paths
                self.failures.append(f"{shown} ({type(exc).__name__})")
                raise

        def _inside_roots(self, url: str) -> bool:
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                return False
            # realpath resolves "..", percent-encoded segments and symlinks alike.
            real = os.path.realpath(url2pathname(parts.path))
            return any(os.path.commonpath((real, root)) == root for root in self._roots)

    return SafeURLFetcher
