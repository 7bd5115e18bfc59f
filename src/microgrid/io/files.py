"""Files: reading one layer, writing layers and plans, and the rules every write keeps.

GeoPackage, GeoJSON, Shapefile and anything else GDAL/OGR reads, through
pyogrio; GeoParquet through pyarrow. Every write goes through
:func:`check_target` (never replaces a file without ``overwrite``, never
writes over an input) and :func:`atomic_write` (a temporary name renamed into
place, so an interrupted write never leaves a partial file).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from .._types import LayerLike, PathLike
from ..errors import InputError

if TYPE_CHECKING:
    from ..plan import Plan

__all__ = [
    "split_layer",
    "list_layers",
    "read_file",
    "check_target",
    "atomic_write",
    "write_gpkg",
    "write_plan_files",
    "read_plan_file",
    "plan_targets",
    "shapefile_columns",
    "SHP_FIELDS",
]

#: Suffixes read and written as GeoParquet.
PARQUET_SUFFIXES = (".parquet", ".geoparquet")


def split_layer(src: str | os.PathLike) -> tuple[str, str | None]:
    """``(path, layer)`` of ``"file.gpkg#layer"``; the layer is None without ``#`` or for a file named with ``#``.

    Examples
    --------
    >>> split_layer("village.gpkg#roads")
    ('village.gpkg', 'roads')
    >>> split_layer("village.gpkg")
    ('village.gpkg', None)
    """
    s = os.fspath(src)
    if "#" in s and not Path(s).exists():
        path, layer = s.rsplit("#", 1)
        return path, layer or None
    return s, None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no detail'}"


def list_layers(path: PathLike, *, what: str = "layer") -> list[str]:
    """Layer names of a file GDAL reads.

    Raises
    ------
    InputError
        When the file is missing or not geodata GDAL can open.
    """
    import pyogrio

    if not Path(path).exists():
        raise InputError(f"{what}: file not found: {path}")
    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # GDAL raises several types for files it cannot open
        raise InputError(
            f"{what}: cannot read {path} as geodata ({_first_line(exc)}); check the file is a "
            "complete GeoPackage, GeoJSON, Shapefile or GeoParquet"
        ) from None


def _pick_layer(path: str, layer: str | None, what: str) -> str | None:
    """The layer to read: the one named (checked), else the only one, else the one called ``what``."""
    if path.lower().endswith((".shp", ".dbf", ".geojson", ".json", ".csv")):  # one layer per file
        return layer
    names = list_layers(path, what=what)
    if layer is not None:
        if layer not in names:
            raise InputError(
                f"{what}: {path} has no layer {layer!r}; its layers are "
                f"{', '.join(names) or '(none)'}; name one as {path}#LAYER"
            )
        return layer
    if len(names) > 1:
        if what in names:
            return what
        raise InputError(f"{what}: {path} has {len(names)} layers ({', '.join(names)}); name one as {path}#LAYER")
    return None


def read_file(
    path: str, *, layer: str | None = None, what: str = "layer", encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read one layer of a geodata file (see :func:`microgrid.read_layer` for the parameters).

    Raises
    ------
    InputError
        When the file is missing, has no such layer (or several and none
        named), or is not geodata.
    """
    from .registers import fix_shapefile_text

    if not Path(path).exists():
        raise InputError(f"{what}: file not found: {path}")
    try:
        if path.lower().endswith(PARQUET_SUFFIXES):
            gdf = gpd.read_parquet(path)
        else:
            layer = _pick_layer(path, layer, what)
            if encoding is not None and path.lower().endswith((".shp", ".dbf")):  # others are UTF-8 by spec
                gdf = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=encoding)
            else:
                gdf = fix_shapefile_text(gpd.read_file(path, layer=layer, engine="pyogrio"), path, layer, what=what)
    except InputError:
        raise
    except Exception as exc:  # pyogrio/GDAL/arrow raise many types for bad files
        raise InputError(
            f"{what}: cannot read {path}{'#' + layer if layer else ''} as geodata ({_first_line(exc)}); "
            "check the file is a complete GeoPackage, GeoJSON, Shapefile or GeoParquet"
        ) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry is None:
        raise InputError(f"{what}: {path} has no geometry column")
    return gdf


# ---------------------------------------------------------------- the rules of every write


def _file_of(src):
    """The file path of an input spec (``path`` or ``path#layer``), or None for data, URLs and None."""
    if src is None or not isinstance(src, (str, os.PathLike)):
        return None
    s = os.fspath(src)
    if "://" in s:
        return None
    return Path(split_layer(s)[0])


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_target(
    target: PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[LayerLike] = (),
    what: str = "output",
    empty_folder_ok: bool = False,
) -> Path:
    """Check that writing ``target`` replaces nothing it should not; returns it as a Path.

    Every write of microgrid (plans, reports, ledgers, maps, CLI outputs)
    goes through this check first.

    Parameters
    ----------
    target : str or PathLike
        The file or folder about to be written.
    overwrite : bool
        Whether an existing ``target`` may be replaced.
    inputs : iterable of layer sources
        Input files (``path`` or ``path#layer``; data and URLs are skipped):
        ``target`` may never be one of them, even with ``overwrite``.
    what : str
        Name of the output in messages (e.g. ``"--report"``).
    empty_folder_ok : bool
        An existing empty folder counts as free (for outputs that are folders).

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    InputError
        ``target`` is one of ``inputs``, or exists and ``overwrite`` is False.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> f = pathlib.Path(tmp.name) / "report.json"
    >>> _ = f.write_text("{}")
    >>> check_target(f)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: ...report.json exists; pass overwrite=True (CLI: --overwrite) to replace it
    >>> check_target(f, overwrite=True, inputs=[f"{f}#layer"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: output ...report.json is one of the inputs; write to another file
    >>> tmp.cleanup()
    """
    target = Path(target)
    for src in inputs:
        path = _file_of(src)
        if path is not None and _same_path(target, path):
            raise InputError(f"{what} {target} is one of the inputs; write to another file")
    free = empty_folder_ok and target.is_dir() and not target.is_symlink() and not any(target.iterdir())
    if (target.exists() or target.is_symlink()) and not overwrite and not free:
        raise InputError(f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    return target


def atomic_write(target: PathLike, write: Callable[[str], object], overwrite: bool) -> Path:
    """Write a file by ``write(tmp)`` to a temporary name beside ``target`` and rename it into place.

    An interrupted write never leaves a partial file; ``target`` is checked by
    :func:`check_target` first (never replaced without ``overwrite``). A
    Shapefile's sidecar files are written in a temporary folder and moved
    together. Returns ``target`` as a Path.
    """
    target = check_target(target, overwrite=overwrite)
    if target.is_dir():
        raise InputError(f"{target} is a folder; give a file name to write to")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".shp":  # several sidecar files: write them in a temporary folder
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{target.stem}.", dir=target.parent))
        try:
            write(str(tmpdir / target.name))
            for f in sorted(tmpdir.iterdir()):
                os.replace(f, target.with_suffix(f.suffix))
        finally:
            for f in tmpdir.iterdir():
                f.unlink()
            tmpdir.rmdir()
        return target
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def write_gpkg(
    target: PathLike, layers: dict, *, overwrite: bool = False, metadata: dict | None = None, tables: dict | None = None
) -> Path:
    """Write layers to one GeoPackage, atomically; returns its path.

    Parameters
    ----------
    target : str or PathLike
        The GeoPackage (checked by :func:`check_target`).
    layers : dict of GeoDataFrame
        ``{layer name: frame}`` in the order to write; ``None`` and empty
        frames are skipped.
    overwrite : bool
        Whether an existing file may be replaced.
    metadata : dict, optional
        GeoPackage layer metadata written with each of the layers named in
        it: ``{layer name: {key: value}}``.
    tables : dict of DataFrame, optional
        Plain tables (no geometry) written after the layers.
    """
    import pyogrio

    def write(tmp):
        for name, gdf in layers.items():
            if gdf is None or not len(gdf):
                continue
            meta = (metadata or {}).get(name)
            kw = {"layer_metadata": meta} if meta else {}
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio", **kw)
        for name, table in (tables or {}).items():
            pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")

    return atomic_write(target, write, overwrite)


# ---------------------------------------------------------------- plans

#: Field names a plan takes in a Shapefile, whose .dbf keeps 10 characters of a name.
#: Any other name longer than 10 characters is cut to 10 (made unique with a digit).
SHP_FIELDS: dict[str, str] = {
    "household_id": "hh_id",
    "flag_reason": "flag_why",
    "online_share": "online",
    "polsby_popper": "polsby",
    "min_persons": "min_pers",
    "max_persons": "max_pers",
    "coord_system": "coord_sys",
    "parent_code": "par_code",
    "grid_code": "grid_code",
    "household_ids": "hh_ids",
}

_PLAN_DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile", ".parquet": None}


def shapefile_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` with field names that fit a Shapefile (:data:`SHP_FIELDS`; others cut to 10 characters).

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"household_id": ["a"], "polsby_popper": [0.5], "long_name_one": [1],
    ...                       "long_name_two": [2]}, geometry=[shapely.Point(0, 0)])
    >>> list(shapefile_columns(g).columns)
    ['hh_id', 'polsby', 'long_name_', 'long_nam_1', 'geometry']
    """
    geom = gdf.geometry.name
    taken = {str(c) for c in gdf.columns if c != geom and len(str(c)) <= 10 and str(c) not in SHP_FIELDS}
    names = {}
    for c in gdf.columns:
        if c == geom:
            continue
        c = str(c)
        new = SHP_FIELDS.get(c, c)
        if len(new) > 10 or (new != c and new in taken):
            base, k = new[:10], 0
            new = base
            while new in taken:
                k += 1
                new = f"{base[: 10 - len(str(k)) - 1]}_{k}"
        if new != c:
            names[c] = new
        taken.add(new)
    out = gdf.rename(columns=names)
    for c in out.columns:  # a Shapefile has no boolean field: write 0/1
        if c != geom and out[c].dtype == bool:
            out[c] = out[c].astype("int32")
    return out


def plan_targets(path: PathLike) -> list[Path]:
    """The files :meth:`Plan.to_file` writes for ``path`` (not for a database URL).

    ``X`` or ``X.gpkg``: ``[X.gpkg]``; ``X.geojson``, ``X.shp`` or
    ``X.parquet``: ``[X_grids.<suffix>, X_households.<suffix>]``.

    Raises
    ------
    InputError
        For any other suffix.

    Examples
    --------
    >>> [p.name for p in plan_targets("out/plan.shp")]
    ['plan_grids.shp', 'plan_households.shp']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in ("", ".gpkg"):
        return [path.with_suffix(".gpkg")]
    if suffix not in _PLAN_DRIVERS:
        raise InputError(f"unknown plan format {suffix!r}; use .gpkg, .geojson, .shp or .parquet")
    return [path.with_name(f"{path.stem}_{name}{path.suffix}") for name in ("grids", "households")]


def plan_layers(plan: Plan) -> dict:
    """The layers of ``plan`` as they are written: ``grids``, ``households``, ``boundary``, ``barriers``, extras.

    ``flag_reason`` columns become text (a file has no enum type); absent or
    empty layers are left out.
    """

    def text_flags(gdf):
        if "flag_reason" in gdf.columns:
            gdf = gdf.copy()
            gdf["flag_reason"] = gdf["flag_reason"].astype(str)
        return gdf

    out = {"grids": text_flags(plan.grids), "households": plan.households}
    if plan.boundary is not None:
        out["boundary"] = plan.boundary
    if plan.barriers is not None and len(plan.barriers):
        out["barriers"] = plan.barriers
    for name, layer in plan.layers.items():
        if name in out:
            raise InputError(f"the plan's extra layer {name!r} has the name of a main layer; rename it")
        out[name] = text_flags(layer)
    return out


def write_plan_files(plan: Plan, path: PathLike, *, overwrite: bool = False) -> list[Path]:
    """Write ``plan`` to files (see :meth:`Plan.to_file`); returns the paths written."""
    path = Path(path)
    suffix = path.suffix.lower()
    targets = plan_targets(path)
    layers = plan_layers(plan)
    if suffix in ("", ".gpkg"):
        meta = {"coord_system": plan.coord_system} if plan.coord_system else None
        metadata = dict.fromkeys(("grids", "households", "boundary"), meta) if meta else None
        return [
            write_gpkg(
                targets[0], layers, overwrite=overwrite, metadata=metadata, tables={"plan_info": plan.info_table()}
            )
        ]
    extra = [
        (path.with_name(f"{path.stem}_{n}{path.suffix}"), lay)
        for n, lay in plan.layers.items()
        if n == "divided_sites" or suffix == ".parquet"
    ]
    out = []
    for target, gdf in [*zip(targets, (layers["grids"], layers["households"])), *extra]:
        atomic_write(target, _layer_writer(gdf, suffix), overwrite)
        out.append(target)
    return out


def _layer_writer(gdf: gpd.GeoDataFrame, suffix: str) -> Callable[[str], None]:
    """``write(tmp)`` for :func:`atomic_write`: one plan layer in the file format of ``suffix``."""
    if suffix == ".parquet":
        return lambda tmp: gdf.to_parquet(tmp)
    if suffix == ".shp":  # short field names, text in UTF-8 with a .cpg naming it
        short = shapefile_columns(gdf)
        return lambda tmp: short.to_file(tmp, driver="ESRI Shapefile", engine="pyogrio", encoding="UTF-8")
    drv = _PLAN_DRIVERS[suffix]
    return lambda tmp: gdf.to_file(tmp, driver=drv, engine="pyogrio")


def decode_info(rows: Iterable[tuple[Any, Any]], where: str) -> dict:
    """The ``plan_info`` key/value rows (values JSON) as a dict.

    ``rows`` are the table's raw cells, as a GeoPackage or database returns them (a value that is not JSON
    text raises InputError).
    """
    info = {}
    for k, v in rows:
        try:
            info[str(k)] = json.loads(v)
        except (TypeError, ValueError):
            raise InputError(f"{where}: plan_info row {k!r} is not JSON; was it edited by hand?") from None
    return info


def read_plan_file(path: PathLike) -> tuple[dict, dict]:
    """The layers of a plan GeoPackage by name, and its ``plan_info`` (decoded; empty when absent)."""
    import pyogrio

    if not Path(path).exists():
        raise InputError(f"plan file not found: {path}")
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # not a GeoPackage GDAL can read
        raise InputError(f"cannot read the plan file {path}: {exc}") from None
    for need in ("grids", "households"):
        if need not in names:
            raise InputError(f"{path} is not a plan: it has no {need!r} layer (layers: {', '.join(names)})")
    info = {}
    if "plan_info" in names:
        t = pyogrio.read_dataframe(path, layer="plan_info")
        info = decode_info(zip(t["key"], t["value"]), str(path))
    frames = {n: read_file(os.fspath(path), layer=n, what=n) for n in names if n != "plan_info"}
    return frames, info
