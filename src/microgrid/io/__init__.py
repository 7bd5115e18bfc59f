"""Reading and writing: one read dispatch and one write dispatch for every source and target.

:func:`read_layer` reads one layer from whatever a user holds: data in
memory, a GeoJSON object, a file GDAL reads (``file.gpkg#layer``), a
GeoParquet file, a CSV/XLSX household register, an OpenStreetMap extract
(``map.osm#barriers``) or a PostGIS table (``postgresql://...#table``).
:func:`write_plan` writes a plan to files or PostGIS tables;
:func:`read_plan_layers` reads it back. The library, the CLI, the service and
the batch runner read and write only through this package.

Modules: :mod:`.files` (GDAL/GeoParquet files and the rules every write
keeps), :mod:`.postgis`, :mod:`.geojson` (the service's wire format),
:mod:`.osm`, :mod:`.registers` (CSV/XLSX registers, GBK text) and
:mod:`.stores` (the batch runner's incremental outputs). Optional
dependencies (SQLAlchemy, osmnx, openpyxl, ...) are imported only when such a
source is used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import geopandas as gpd
import pandas as pd
import shapely

from .._types import CRSLike, LayerLike, LayerSource, PathLike
from ..errors import InputError
from . import files
from .files import (
    SHP_FIELDS,
    atomic_write,
    check_target,
    plan_targets,
    read_file,
    shapefile_columns,
    split_layer,
    write_gpkg,
)
from .postgis import db_url_of, is_db_url, mask_password

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    from ..plan import Plan

    class _ReadOptions(TypedDict, total=False):
        """The keyword options of :func:`read_layer`, for its typed overloads."""

        layer: str | None
        what: str
        encoding: str | None
        x_col: str | None
        y_col: str | None
        crs: CRSLike


__all__ = [
    "read_layer",
    "read_layers",
    "LayerLike",
    "LayerSource",
    "write_plan",
    "read_plan_layers",
    "list_layers",
    "split_layer",
    "check_target",
    "atomic_write",
    "write_gpkg",
    "plan_targets",
    "shapefile_columns",
    "is_db_url",
    "db_url_of",
    "mask_password",
    "SHP_FIELDS",
    "OSM_SUFFIXES",
]

#: Suffixes read as OpenStreetMap extracts (layers ``buildings``, ``barriers``, ``landmarks``, ``boundary``).
OSM_SUFFIXES = (".osm", ".osm.bz2", ".pbf", ".osm.pbf")
_OSM_LAYERS = ("buildings", "barriers", "landmarks", "boundary")


def list_layers(path: PathLike, *, what: str = "input") -> list[str]:
    """Layer names of a file: a GDAL file's layers, an OpenStreetMap extract's (see :func:`read_layer`).

    Raises
    ------
    InputError
        When the file is missing or not geodata.
    """
    if str(path).lower().endswith(OSM_SUFFIXES):
        if not Path(path).exists():
            raise InputError(f"{what}: file not found: {path}")
        return list(_OSM_LAYERS)
    return files.list_layers(path, what=what)


@overload
def read_layer(src: None, **options: Unpack[_ReadOptions]) -> None: ...


@overload
def read_layer(src: LayerSource, **options: Unpack[_ReadOptions]) -> gpd.GeoDataFrame: ...


def read_layer(
    src: LayerLike,
    *,
    layer: str | None = None,
    what: str = "layer",
    encoding: str | None = None,
    x_col: str | None = None,
    y_col: str | None = None,
    crs: CRSLike = None,
) -> gpd.GeoDataFrame | None:
    """Read ``src`` into a GeoDataFrame.

    Parameters
    ----------
    src : GeoDataFrame, GeoSeries, shapely geometry, GeoJSON mapping, path, database URL or None
        A path may name a layer after ``#`` (``"village.gpkg#roads"``). Any
        format GDAL/OGR reads works (GeoPackage, GeoJSON, Shapefile,
        GeoParquet by its ``.parquet`` suffix). A PostGIS table is read from
        ``"postgresql://USER:PASSWORD@HOST:PORT/DB#SCHEMA.TABLE"`` (see
        :func:`microgrid.io.postgis.read_table`; needs ``microgrid[postgis]``).
        A ``.csv`` or ``.xlsx`` register (one row per household with
        coordinate columns) is read by :func:`microgrid.io.registers.read_register`.
        An OpenStreetMap extract (``.osm``, ``.pbf``; needs ``microgrid[osm]``)
        gives the layers of :func:`microgrid.from_osm` by name:
        ``map.osm#buildings``, ``#barriers`` (or ``#roads``), ``#landmarks``,
        ``#boundary``; without a name, the layer called ``what``. A mapping is
        read as a GeoJSON FeatureCollection, Feature or geometry (see
        :func:`microgrid.io.geojson.read_feature_collection`).
    layer : str, optional
        Layer (or database table, or workbook sheet) to read; overrides a
        ``#layer`` suffix.
    what : str
        Name of the input, used in error messages.
    encoding : str, optional
        Text encoding of a Shapefile's ``.dbf`` or a CSV (e.g. ``"GBK"``);
        GeoPackage, GeoJSON and GeoParquet are UTF-8 by their specs and
        read as such.
        By default a Shapefile without ``.cpg`` whose text reads garbled
        (GBK read as Latin-1) is re-read as GB18030 or UTF-8, whichever its
        bytes are; text that is garbled either way raises InputError.
    x_col, y_col : str, optional
        Coordinate columns of a CSV/XLSX register (default: columns named
        经度/纬度, lon/lat, x/y, ...).
    crs : pyproj.CRS, str or int, optional
        CRS of a register's coordinates (default: EPSG:4326 for lon/lat in
        China's range) and of a GeoJSON mapping's coordinates (default WGS84).

    Returns
    -------
    GeoDataFrame or None
        A copy: the caller's data is never modified. ``None`` for ``None``.

    Raises
    ------
    InputError
        When the file (or database table) is missing, unreadable, or not geodata.

    Examples
    --------
    >>> import microgrid, pathlib, tempfile
    >>> hh, bnd, roads, marks = microgrid.samples.make_village(300, seed=1)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "village.gpkg"
    >>> roads.to_file(path, layer="roads")
    >>> lines = read_layer(f"{path}#roads")
    >>> len(lines), lines.crs.to_epsg(), list(lines.columns)
    (8, 32650, ['kind', 'name', 'geometry'])
    >>> read_layer(f"{path}#houses", what="households")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: households: ...village.gpkg has no layer 'houses'; its layers are roads; ...
    >>> tmp.cleanup()
    """
    if src is None or isinstance(src, (gpd.GeoDataFrame, gpd.GeoSeries, shapely.Geometry, pd.DataFrame, Mapping)):
        return _from_memory(src, what=what, crs=crs)
    if not isinstance(src, (str, os.PathLike)):
        raise InputError(
            f"{what}: expected a GeoDataFrame, a shapely geometry or a file path, got {type(src).__name__}"
        )
    if isinstance(src, str) and is_db_url(src):
        from .postgis import read_table

        return read_table(src, table=layer, what=what)
    from .registers import is_register, read_register

    path, suffix_layer = split_layer(src)
    if is_register(path):
        return read_register(src, what=what, x_col=x_col, y_col=y_col, crs=crs, encoding=encoding, sheet=layer)
    layer = layer or suffix_layer
    if path.lower().endswith(OSM_SUFFIXES):
        return _osm_layer(path, layer, what)
    return read_file(path, layer=layer, what=what, encoding=encoding)


def read_layers(sources: dict[str, LayerLike], **kw: Any) -> dict[str, gpd.GeoDataFrame | None]:
    """:func:`read_layer` of each source, by name; one :class:`InputError` listing every layer that cannot be read.

    ``sources`` maps the name used in messages (``"boundary"``) to what to
    read; other keywords go to :func:`read_layer`.

    Examples
    --------
    >>> read_layers({"boundary": "nowhere.gpkg#boundary", "barriers": "nowhere.gpkg#roads"})
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: 2 problems with the inputs:
      - boundary: file not found: nowhere.gpkg
      - barriers: file not found: nowhere.gpkg
    """
    out: dict[str, gpd.GeoDataFrame | None] = {}
    problems: list[str] = []
    for what, src in sources.items():
        try:
            out[what] = read_layer(src, what=what, **kw)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return out


def _from_memory(src, *, what: str, crs) -> gpd.GeoDataFrame | None:
    if src is None:
        return None
    if isinstance(src, gpd.GeoDataFrame):
        return src.copy()
    if isinstance(src, gpd.GeoSeries):
        return gpd.GeoDataFrame(geometry=src.copy())
    if isinstance(src, shapely.Geometry):
        # a bare geometry carries no CRS: callers give it the CRS of the main layer
        gdf = gpd.GeoDataFrame(geometry=[src], crs=None)
        gdf.attrs["bare_geometry"] = True
        return gdf
    if isinstance(src, pd.DataFrame):
        raise InputError(
            f"{what}: got a pandas DataFrame without geometry; build a GeoDataFrame "
            "first, e.g. geopandas.GeoDataFrame(df, geometry=geopandas.points_from_xy(df.x, df.y), crs=...)"
        )
    from .geojson import read_feature_collection

    return read_feature_collection(dict(src), what=what, crs=crs)


def _osm_layer(path: str, layer: str | None, what: str) -> gpd.GeoDataFrame:
    """One layer of :func:`microgrid.from_osm` of ``path`` (the last file read is kept, so its layers read once)."""
    name = {"roads": "barriers"}.get(layer or what, layer or what)
    if name not in _OSM_LAYERS:
        hint = (
            (
                " (households are estimated from the buildings: microgrid.from_osm(path).households(), "
                "or the CLI's --buildings)"
            )
            if name == "households"
            else ""
        )
        raise InputError(
            f"{what}: an OpenStreetMap extract has the layers {', '.join(_OSM_LAYERS)}; name one as {path}#LAYER{hint}"
        )
    if not Path(path).exists():
        raise InputError(f"{what}: file not found: {path}")
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)
    if _OSM_CACHE.get("key") != key:
        from .osm import from_osm

        _OSM_CACHE.clear()
        _OSM_CACHE.update(key=key, layers=from_osm(path))
    return getattr(_OSM_CACHE["layers"], name).copy()


_OSM_CACHE: dict = {}


def write_plan(plan: Plan, target: PathLike, *, overwrite: bool = False) -> list:
    """Write ``plan`` to files or PostGIS tables; returns what was written.

    See :meth:`microgrid.Plan.to_file` for the formats: a ``.gpkg`` (the
    default), ``.geojson``, ``.shp`` or ``.parquet`` path, or a PostgreSQL
    URL ``postgresql://.../DB#[SCHEMA.]PREFIX`` (returns ``URL#SCHEMA.TABLE``
    strings, password masked).
    """
    url = db_url_of(target)
    if url is not None:
        from .postgis import write_plan as write_tables

        return write_tables(plan, url, overwrite=overwrite)
    from .files import write_plan_files

    return write_plan_files(plan, target, overwrite=overwrite)


def read_plan_layers(src: PathLike) -> tuple[dict, dict]:
    """The layers of a plan written by :func:`write_plan` by name, and its ``plan_info`` (empty when absent).

    ``src`` is a plan GeoPackage or a PostgreSQL URL ``postgresql://.../DB#[SCHEMA.]PREFIX``.
    :func:`microgrid.read_plan` turns them into a Plan.
    """
    url = db_url_of(src)
    if url is not None:
        from .postgis import read_plan_tables

        return read_plan_tables(url)
    from .files import read_plan_file

    return read_plan_file(src)
