"""Type aliases shared by the library's signatures.

Nothing is imported here that ``import microgrid`` does not load anyway
(geopandas, shapely, pyproj). :data:`LayerLike` is re-exported as
``microgrid.io.LayerLike``: it is what :func:`microgrid.io.read_layer`, the
one read dispatch, reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeAlias

import geopandas as gpd
import pyproj
import shapely

#: A file path: ``str`` or any ``os.PathLike`` (``pathlib.Path``).
PathLike: TypeAlias = str | os.PathLike[str]

#: A CRS as pyproj takes it: a ``pyproj.CRS``, ``"EPSG:4326"``/WKT/PROJ text, an EPSG code, or ``None``.
CRSLike: TypeAlias = pyproj.CRS | str | int | None

#: Anything :func:`microgrid.io.read_layer` reads: a GeoDataFrame, GeoSeries or shapely geometry, a GeoJSON
#: mapping, a path (``file.gpkg#layer``, a CSV/XLSX register, an OSM extract), a PostGIS URL, or ``None``
#: (no layer: read_layer gives None).
LayerLike: TypeAlias = (
    gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | Mapping[str, Any] | str | os.PathLike[str] | None
)

#: :data:`LayerLike` but ``None``: a layer that must be given (read_layer of it is a GeoDataFrame).
LayerSource: TypeAlias = (
    gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | Mapping[str, Any] | str | os.PathLike[str]
)
