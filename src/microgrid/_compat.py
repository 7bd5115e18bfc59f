"""Optional dependencies: imported on first use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MicrogridError

__all__ = ["import_optional", "EXTRAS", "MissingDependency"]

#: What each extra installs (as in pyproject.toml).
EXTRAS: dict[str, str] = {
    "plot": "matplotlib",
    "viz": "matplotlib folium mapclassify xstatic-leaflet xstatic-leaflet-markercluster",
    "xlsx": "openpyxl",
    "parquet": "pyarrow",
    "service": "fastapi uvicorn",
    "postgis": "sqlalchemy psycopg[binary] geoalchemy2",
    "dask": "dask[distributed] distributed tqdm",
    "osm": "osmnx pyrosm",
}


class MissingDependency(MicrogridError, ImportError):
    """An optional dependency is not installed; the message names the extra and the packages."""


def import_optional(name: str, extra: str, what: str | None = None) -> ModuleType:
    """Import ``name``, or raise :class:`MissingDependency` saying which extra brings it.

    Parameters
    ----------
    name : str
        Module to import (e.g. ``"folium"``).
    extra : str
        The microgrid extra that installs it (a key of :data:`EXTRAS`).
    what : str, optional
        What needs it, for the message (e.g. ``"HTML maps"``).

    Examples
    --------
    >>> import_optional("json", "viz").__name__
    'json'
    >>> import_optional("no_such_module_here", "viz", "HTML maps")
    Traceback (most recent call last):
    ...
    microgrid._compat.MissingDependency: no_such_module_here is needed for HTML maps but is not installed: ...
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or name
        raise MissingDependency(
            f"{missing} is needed for {what or 'this'} but is not installed: install microgrid's '{extra}' extra from "
            f'the microgrid source folder (pip install ".[{extra}]"), or the packages themselves '
            f"(pip install {EXTRAS.get(extra, missing)})"
        ) from None
