"""Outputs written area by area: the batch runner's GeoPackage, GeoParquet and PostGIS stores.

:func:`microgrid.partition_many` writes each finished area as it comes
(from the calling process only) and keeps an ``areas_status`` layer, so a
rerun skips the areas already done. A store appends areas, removes the rows
of areas to be redone, and reads a layer back. Optional dependencies
(SQLAlchemy for PostGIS) are imported only when such a store is opened.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import geopandas as gpd
import numpy as np
import pandas as pd

from .._types import PathLike
from ..errors import InputError
from .postgis import db_url_of

__all__ = ["Store", "open_store", "STATUS_LAYER", "DATA_LAYERS"]

#: The layer of one status row per area (status, reason, counts, fingerprint).
STATUS_LAYER = "areas_status"
#: The layers every area writes (coarser levels and divided sites are added when produced).
DATA_LAYERS = ("grids", "households")


class Store:
    """Streams finished areas to one output; only the calling process writes."""

    paths: Any  # the files or tables written (a property where it is looked up)

    def done(self) -> pd.DataFrame | None:
        """The status layer of an earlier run (None: a new output)."""
        raise NotImplementedError

    def remove(self, area_ids: list) -> None:
        """Delete every row of these areas (before they are written again)."""
        raise NotImplementedError

    def write(self, layers: dict[str, list], status: gpd.GeoDataFrame) -> None:
        """Append the areas' data layers, then their status rows (so a status means the rows are there)."""
        raise NotImplementedError

    def read(self, layer: str) -> gpd.GeoDataFrame:
        """One layer of every area written."""
        raise NotImplementedError

    def present_ids(self) -> list:
        """Area ids that have rows in the data layers (a crashed run may have left rows without a status).

        None here: in memory nothing survives a crash, and a PostGIS flush deletes its areas' rows and writes
        them in one transaction.
        """
        return []


class MemoryStore(Store):
    def __init__(self):
        self.frames: dict[str, list] = {}
        self.paths = []

    def done(self):
        return None

    def remove(self, area_ids: list) -> None:
        pass

    def write(self, layers: dict[str, list], status: gpd.GeoDataFrame) -> None:
        for name, frames in [*layers.items(), (STATUS_LAYER, [status])]:
            self.frames.setdefault(name, []).extend(f for f in frames if len(f))

    def read(self, layer: str) -> gpd.GeoDataFrame:
        frames = self.frames.get(layer)
        if not frames:
            raise InputError(f"no layer {layer!r} was produced (layers: {', '.join(sorted(self.frames))})")
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _concat(frames):
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


class GpkgStore(Store):
    """One GeoPackage; areas appended with pyogrio, rows of redone areas deleted with SQL."""

    def __init__(self, path: Path, area_col: str, overwrite: bool):
        self.path = path
        self.area_col = area_col
        self.paths = [path]
        if path.exists() and overwrite:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
                p.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)

    def layers(self) -> list[str]:
        import pyogrio

        if not self.path.exists():
            return []
        return [str(n) for n in pyogrio.list_layers(self.path)[:, 0]]

    def done(self):
        if not self.path.exists():
            return None
        names = self.layers()
        if STATUS_LAYER not in names:
            raise InputError(
                f"{self.path} exists and is not a partition_many output (no {STATUS_LAYER} layer); "
                "pass overwrite=True (CLI: --overwrite) to replace it, or choose another --out"
            )
        st = gpd.read_file(self.path, layer=STATUS_LAYER, engine="pyogrio")
        if self.area_col not in st.columns:
            raise InputError(
                f"{self.path} was written with another area id column (its {STATUS_LAYER} has no "
                f"column {self.area_col!r}); pass overwrite=True to replace it"
            )
        return st

    def remove(self, area_ids: list) -> None:
        if not area_ids or not self.path.exists():
            return
        names = self.layers()
        con = sqlite3.connect(self.path)
        try:
            with con:
                for name in names:
                    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
                    if self.area_col not in cols:
                        continue
                    for i in range(0, len(area_ids), 500):
                        chunk = [_sql_value(a) for a in area_ids[i : i + 500]]
                        con.execute(
                            f'DELETE FROM "{name}" WHERE "{self.area_col}" IN ({",".join("?" * len(chunk))})', chunk
                        )
        finally:
            con.close()

    def write(self, layers: dict[str, list], status: gpd.GeoDataFrame) -> None:
        import pyogrio

        for name, frames in layers.items():
            gdf = _concat(frames)
            if gdf is not None:
                pyogrio.write_dataframe(gdf, self.path, layer=name, driver="GPKG", append=True)
        pyogrio.write_dataframe(status, self.path, layer=STATUS_LAYER, driver="GPKG", append=True)

    def read(self, layer: str) -> gpd.GeoDataFrame:
        if layer not in self.layers():
            raise InputError(f"{self.path} has no layer {layer!r}")
        return gpd.read_file(self.path, layer=layer, engine="pyogrio")

    def present_ids(self) -> list:
        """Area ids with rows in a data layer."""
        if not self.path.exists():
            return []
        con = sqlite3.connect(self.path)
        try:
            ids: list = []
            for name in self.layers():
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
                if name != STATUS_LAYER and self.area_col in cols:
                    ids.extend(r[0] for r in con.execute(f'SELECT DISTINCT "{self.area_col}" FROM "{name}"'))
            return list(dict.fromkeys(ids))
        finally:
            con.close()


def _sql_value(v):
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _area_file(area_id) -> str:
    return quote(str(area_id), safe="") + ".parquet"


class ParquetStore(Store):
    """GeoParquet datasets ``<stem>_<layer>.parquet/``: one file per area, written atomically."""

    def __init__(self, path: Path, area_col: str, overwrite: bool):
        self.area_col = area_col
        self.base = path
        self.dirs = {}
        for name in (*DATA_LAYERS, STATUS_LAYER):
            self.dirs[name] = self.layer_dir(name)
        if overwrite:
            import shutil

            for d in path.parent.glob(f"{path.stem}_*.parquet"):
                if d.is_dir() and (d / ".microgrid-batch").exists():
                    shutil.rmtree(d)
        self.paths = [self.dirs[n] for n in (*DATA_LAYERS, STATUS_LAYER)]

    def layer_dir(self, name: str) -> Path:
        return self.base.with_name(f"{self.base.stem}_{name}.parquet")

    def done(self):
        d = self.dirs[STATUS_LAYER]
        if not d.exists():
            for name in DATA_LAYERS:
                if self.layer_dir(name).exists():
                    raise InputError(
                        f"{self.layer_dir(name)} exists and is not a partition_many output; pass "
                        "overwrite=True (CLI: --overwrite) or choose another --out"
                    )
            return None
        files = sorted(d.glob("*.parquet"))
        if not files:
            return None
        st = _concat([gpd.read_parquet(f) for f in files])
        if self.area_col not in st.columns:
            raise InputError(f"{d} was written with another area id column; pass overwrite=True to replace it")
        return st

    def remove(self, area_ids: list) -> None:
        for name in os.listdir(self.base.parent) if self.base.parent.exists() else []:
            d = self.base.parent / name
            if not (d.is_dir() and name.startswith(f"{self.base.stem}_") and name.endswith(".parquet")):
                continue
            for a in area_ids:
                (d / _area_file(a)).unlink(missing_ok=True)

    def _put(self, name, area_id, gdf):
        d = self.layer_dir(name)
        d.mkdir(parents=True, exist_ok=True)
        (d / ".microgrid-batch").touch()
        target = d / _area_file(area_id)
        tmp = d / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        gdf.to_parquet(tmp, index=False)
        os.replace(tmp, target)

    def write(self, layers: dict[str, list], status: gpd.GeoDataFrame) -> None:
        for name, frames in layers.items():
            for gdf in frames:
                if len(gdf):
                    self._put(name, gdf[self.area_col].iat[0], gdf)
        for i in range(len(status)):
            self._put(STATUS_LAYER, status[self.area_col].iat[i], status.iloc[[i]])

    def read(self, layer: str) -> gpd.GeoDataFrame:
        d = self.layer_dir(layer)
        files = sorted(d.glob("*.parquet")) if d.exists() else []
        if not files:
            raise InputError(f"no layer {layer!r}: {d} holds no files")
        return _concat([gpd.read_parquet(f) for f in files])

    def present_ids(self) -> list:
        """Area ids with a file in a data layer's folder."""
        ids: list = []
        for name in DATA_LAYERS:
            d = self.layer_dir(name)
            if d.exists():
                ids.extend(f.name[: -len(".parquet")] for f in d.glob("*.parquet"))
        return list(dict.fromkeys(unquote(i) for i in ids))


class PostgisStore(Store):
    """PostGIS tables ``{prefix}grids``, ``{prefix}households``, ``{prefix}areas_status``.

    The URL is ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` with an
    optional ``#PREFIX`` or ``#SCHEMA.PREFIX`` (as for one plan). Each flush is
    one transaction that first deletes the rows of the areas it writes, so a
    flush repeated after a crash never duplicates an area.
    """

    def __init__(self, url: str, area_col: str, overwrite: bool, extra_layers=()):
        from . import postgis

        self.pg = postgis
        self.base, frag = postgis.split_url(url)
        schema, self.prefix = postgis.table_spec(frag)
        self.schema = schema or "public"
        self.engine = postgis.make_engine(self.base)
        self.sa = postgis.require_sqlalchemy()
        self.area_col = area_col
        self.names = [f"{self.prefix}{n}" for n in (*DATA_LAYERS, *extra_layers, STATUS_LAYER)]
        self._paths = [f"{postgis.mask_password(self.base)}#{self.schema}.{n}" for n in self.names]
        with self._begin("preparing the output tables") as con:
            postgis.require_postgis(con, self.base)
            con.execute(self.sa.text(f"CREATE SCHEMA IF NOT EXISTS {postgis.quote_ident(self.schema)}"))
            if overwrite:
                for name in self.names:
                    con.execute(self.sa.text(f"DROP TABLE IF EXISTS {postgis.quote_ident(self.schema, name)}"))

    @property
    def paths(self) -> list[str]:
        """The output tables that exist (a layer no area produced, e.g. divided_sites, is not listed)."""
        try:
            with self._begin("listing the output tables") as con:
                present = self._present(con)
        except InputError:  # the database went away: list what may be there
            return list(self._paths)
        return [p for p, n in zip(self._paths, self.names) if n in present]

    @contextmanager
    def _begin(self, doing):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            con = self.engine.connect()
        except SQLAlchemyError as exc:
            raise InputError(
                f"cannot connect to the database {self.pg.mask_password(self.base)}: {self.pg.db_cause(exc)}"
            ) from None
        with con, self.pg.db_errors(self.base, doing), con.begin():
            yield con

    def _table(self, layer):
        return f"{self.prefix}{layer}"

    def _present(self, con) -> set:
        return set(self.sa.inspect(con).get_table_names(schema=self.schema))

    def done(self):
        st_name = self._table(STATUS_LAYER)
        with self._begin("reading the batch status") as con:
            present = self._present(con)
            if st_name not in present:
                clash = sorted(present & {self._table(n) for n in DATA_LAYERS})
                if clash:
                    raise InputError(
                        f"the database already has tables {', '.join(clash)} but no {st_name}: not a "
                        "partition_many output; pass overwrite=True (CLI: --overwrite) to replace "
                        "them, or give another #prefix"
                    )
                return None
            st = gpd.read_postgis(
                f"SELECT * FROM {self.pg.quote_ident(self.schema, st_name)}", con, geom_col="geometry"
            )
        if self.area_col not in st.columns:
            raise InputError(f"{st_name} has no column {self.area_col!r}; pass overwrite=True to replace it")
        return st

    def _delete(self, con, area_ids):
        if not area_ids:
            return
        present = self._present(con)
        for name in self.names:
            if name in present:
                cols = {c["name"] for c in self.sa.inspect(con).get_columns(name, schema=self.schema)}
                if self.area_col in cols:
                    con.execute(
                        self.sa.text(
                            f"DELETE FROM {self.pg.quote_ident(self.schema, name)} "
                            f"WHERE {self.pg.quote_ident(self.area_col)} = ANY(:ids)"
                        ),
                        {"ids": [_sql_value(a) for a in area_ids]},
                    )

    def remove(self, area_ids: list) -> None:
        with self._begin("removing redone areas") as con:
            self._delete(con, list(area_ids))

    def write(self, layers: dict[str, list], status: gpd.GeoDataFrame) -> None:
        with self._begin("writing finished areas") as con:
            self._delete(con, status[self.area_col].tolist())
            present = self._present(con)
            for name, frames in [*layers.items(), (STATUS_LAYER, [status])]:
                gdf = _concat(frames)
                if gdf is None:
                    continue
                if gdf.geometry.name != "geometry":
                    gdf = gdf.rename_geometry("geometry")
                table = self._table(name)
                gdf.to_postgis(table, con, schema=self.schema, if_exists="append", index=False)
                if table not in present:  # a new table: spatial index, and an index on the area id
                    q = self.pg.quote_ident(self.schema, table)
                    con.execute(self.sa.text(f"CREATE INDEX ON {q} USING GIST (geometry)"))
                    con.execute(self.sa.text(f"CREATE INDEX ON {q} ({self.pg.quote_ident(self.area_col)})"))

    def read(self, layer: str) -> gpd.GeoDataFrame:
        with self._begin(f"reading {layer}") as con:
            return gpd.read_postgis(
                f"SELECT * FROM {self.pg.quote_ident(self.schema, self._table(layer))}", con, geom_col="geometry"
            )


def open_store(out: PathLike | None, area_col: str, overwrite: bool, extra_layers: Iterable[str] = ()) -> Store:
    """The store for ``out``: None (memory), a ``.gpkg`` file, a ``.parquet`` name or a PostgreSQL URL.

    ``area_col`` is the area id column every row carries; ``extra_layers``
    names layers beyond grids and households a PostGIS store creates.
    """
    if out is None:
        return MemoryStore()
    url = db_url_of(out)
    if url is not None:
        return PostgisStore(url, area_col, overwrite, extra_layers)
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in ("", ".gpkg"):
        return GpkgStore(path.with_suffix(".gpkg"), area_col, overwrite)
    if suffix in (".parquet", ".geoparquet"):
        return ParquetStore(path, area_col, overwrite)
    raise InputError(
        f"unknown batch output {out!r}: use a .gpkg file, a .parquet name (GeoParquet datasets) or a postgresql:// URL"
    )
