"""A static-files finder for plotly.js, served from the installed ``plotly`` package.

The dashboards draw with plotly, and nothing may come from a CDN, so the app
serves the ``plotly.min.js`` that ships inside the Python package (same
version as the Python side, so figures and library always match). Only that
one file is exposed, as ``plotly/plotly.min.js``: the package's data folder
also holds datasets and another bundle that have no business in ``static/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PLOTLY_PATH = "plotly/plotly.min.js"


def plotly_js_file() -> Path:
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> str | list[str]:
        if path != PLOTLY_PATH:
            return []
        found = str(plotly_js_file())
        return [found] if find_all else found

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        storage = FileSystemStorage(location=str(plotly_js_file().parent))
        storage.prefix = "plotly"  # type: ignore[attr-defined] # collectstatic puts files under it
        yield "plotly.min.js", storage
