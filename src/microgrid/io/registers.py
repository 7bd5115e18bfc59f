"""Inputs as they come: household registers (CSV, XLSX) and shapefiles in GBK.

A register is a table with one row per household and two coordinate
columns; :func:`read_register` finds them by their usual names (经度/纬度,
lon/lat, lng/lat, longitude/latitude, x/y, 东经/北纬) or takes them by name.
Coordinates that look like lon/lat in China's range are read as EPSG:4326
unless a CRS is given; other coordinates need one.

A shapefile written by ArcGIS-era tools in GBK/GB18030 without a ``.cpg``
reads as mojibake (王芳 -> ``Íõ·¼``); :func:`fix_shapefile_text` finds that
and re-reads the file in the encoding its bytes have, and raises
:class:`~microgrid.errors.InputError` naming an encoding to try when it
cannot tell.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .._types import CRSLike, PathLike
from ..errors import InputError

__all__ = ["REGISTER_SUFFIXES", "X_NAMES", "Y_NAMES", "is_register", "read_register", "fix_shapefile_text"]

#: File suffixes read as registers (tables with coordinate columns).
REGISTER_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")

#: Column names taken as the x (longitude, easting) column, first match wins (case-insensitive).
X_NAMES = ("经度", "东经", "lon", "lng", "long", "longitude", "x", "x坐标", "横坐标", "easting")
#: Column names taken as the y (latitude, northing) column, first match wins (case-insensitive).
Y_NAMES = ("纬度", "北纬", "lat", "latitude", "y", "y坐标", "纵坐标", "northing")

#: Lon/lat of China with a margin: a register whose coordinates all fall here is read as EPSG:4326.
_CHINA_LONLAT = (70.0, 140.0, 0.0, 56.0)


def is_register(path: object) -> bool:
    """True when ``path`` names a CSV/XLSX register (by its suffix); False for anything not a path."""
    return isinstance(path, (str, os.PathLike)) and Path(os.fspath(path)).suffix.lower() in REGISTER_SUFFIXES


def _find_col(columns, names, given, what: str, flag: str) -> str:
    if given is not None:
        if given not in columns:
            raise InputError(
                f"{what}: no column {given!r} (columns: {', '.join(map(str, columns))}); name the right one with {flag}"
            )
        return given
    by_lower = {str(c).strip().lower(): c for c in columns}
    for n in names:
        if n.lower() in by_lower:
            return by_lower[n.lower()]
    raise InputError(
        f"{what}: no geometry: found no coordinate column among {', '.join(map(str, columns))} "
        f"(looked for {'/'.join(names)}); name it with {flag} COLUMN"
    )


def _read_table(path: Path, what: str, encoding: str | None, sheet) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        tried = [encoding] if encoding else ["utf-8-sig", "gb18030"]
        for enc in tried:
            try:
                # ids and codes stay text: 0-padded ids (0012) and 12-digit codes must not turn into numbers
                return pd.read_csv(
                    path, encoding=enc, dtype=str, keep_default_na=False, na_values=[""], sep=None, engine="python"
                )
            except UnicodeDecodeError:
                continue
            except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError) as exc:
                raise InputError(f"{what}: cannot read {path} as CSV ({exc})") from None
        raise InputError(
            f"{what}: {path} is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV "
            "or name its encoding (CLI: --encoding)"
        )
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise InputError(
            f'{what}: reading {path.name} needs openpyxl: pip install "microgrid[xlsx]" (or save the sheet as CSV)'
        ) from None
    if suffix == ".xls":
        raise InputError(f"{what}: {path.name} is an old Excel .xls file; save it as .xlsx or CSV")
    try:
        return pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=object, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for bad workbooks
        raise InputError(
            f"{what}: cannot read {path} as an Excel workbook ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'})"
        ) from None


def _as_text(v) -> str:
    """A cell as text: 102.0 (Excel's number) is '102'."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _tidy_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers read as text or float (Excel) become integers; other text stays text."""
    out = {}
    for c in df.columns:
        col = df[c]
        vals = col.dropna()
        if len(vals) == 0:
            out[c] = col
            continue
        text = vals.astype(str).str.strip()
        if text.str.fullmatch(r"-?[1-9]\d{0,17}|0").all():  # no leading zeros: 0012 stays text
            out[c] = (
                pd.array([None if pd.isna(v) else int(str(v).strip()) for v in col], dtype="Int64")
                if col.isna().any()
                else col.astype(str).str.strip().astype("int64")
            )
        elif vals.map(lambda v: isinstance(v, float) and float(v).is_integer()).all():
            out[c] = pd.array([None if pd.isna(v) else int(v) for v in col], dtype="Int64")
        elif text.str.fullmatch(r"-?(0|[1-9]\d*)?\.\d+|-?[1-9]\d*\.?").all():
            out[c] = pd.to_numeric(col, errors="coerce")
        elif vals.map(lambda v: isinstance(v, str)).any():  # text and numbers mixed (Excel): all text
            out[c] = [None if pd.isna(v) else _as_text(v) for v in col]
        else:
            out[c] = col
    return pd.DataFrame(out, index=df.index)


def read_register(
    path: PathLike,
    *,
    what: str = "households",
    x_col: str | None = None,
    y_col: str | None = None,
    crs: CRSLike = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
) -> gpd.GeoDataFrame:
    """Read a register (CSV or XLSX, one row per household) as points.

    Parameters
    ----------
    path : str or PathLike
        A ``.csv`` (UTF-8, UTF-8 with BOM, or GBK/GB18030) or
        ``.xlsx`` file (needs ``pip install "microgrid[xlsx]"``); ``FILE#SHEET``
        names a sheet of a workbook.
    x_col, y_col : str, optional
        Coordinate columns; by default the first of :data:`X_NAMES` /
        :data:`Y_NAMES` present (经度/纬度, lon/lat, lng/lat, longitude/latitude,
        x/y, 东经/北纬; case-insensitive).
    what : str
        Name of the input, used in error messages.
    crs : pyproj.CRS, str or int, optional
        CRS of the coordinates. Default: EPSG:4326 when every point lies in
        China's lon/lat range, else none (the caller must give one).
    encoding : str, optional
        Text encoding of a CSV (default: UTF-8, else GB18030).
    sheet : str or int, optional
        Sheet of a workbook, by name or position (default the first); a
        ``FILE#SHEET`` suffix names it too.

    Returns
    -------
    GeoDataFrame
        All columns but the coordinates, whole-number columns as integers,
        text (Chinese ids included) as text.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = pathlib.Path(tmp.name) / "register.csv"
    >>> _ = p.write_text("户号,persons,经度,纬度\\n王家01,3,116.40,39.90\\n李家02,2,116.41,39.91\\n", encoding="utf-8")
    >>> hh = read_register(p)
    >>> list(hh.columns), hh.crs.to_epsg(), hh["户号"].tolist()
    (['户号', 'persons', 'geometry'], 4326, ['王家01', '李家02'])
    >>> tmp.cleanup()
    """
    s = os.fspath(path)
    if "#" in s and not Path(s).exists():
        s, sheet = s.rsplit("#", 1)
    p = Path(s)
    if not p.exists():
        raise InputError(f"{what}: file not found: {p}")
    df = _read_table(p, what, encoding, sheet)
    df.columns = [str(c).strip() for c in df.columns]
    if len(df.columns) < 2:
        raise InputError(
            f"{what}: {p.name} has {len(df.columns)} column(s); a register needs an id, "
            "persons and two coordinate columns"
        )
    xc = _find_col(df.columns, X_NAMES, x_col, what, "--x-col (x_col=)")
    yc = _find_col(df.columns, Y_NAMES, y_col, what, "--y-col (y_col=)")
    x = pd.to_numeric(df[xc], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    y = pd.to_numeric(df[yc], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(x) | ~np.isfinite(y)
    if bad.any():
        rows = (np.flatnonzero(bad) + 2).tolist()  # +2: the header is line/row 1
        shown = ", ".join(map(str, rows[:10])) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")
        raise InputError(
            f"{what}: {int(bad.sum())} rows of {p.name} have no numeric {xc}/{yc} "
            f"(rows {shown}); fill in the coordinates or remove the rows"
        )
    if crs is None:
        x0, x1, y0, y1 = _CHINA_LONLAT
        if len(x) and ((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).all():
            crs = "EPSG:4326"
        elif len(x) and ((y >= x0) & (y <= x1) & (x >= y0) & (x <= y1)).all():
            raise InputError(
                f"{what}: {xc} holds latitudes and {yc} longitudes in {p.name}; "
                f"swap them with --x-col {yc} --y-col {xc}"
            )
    rest = _tidy_ids(df.drop(columns=[xc, yc]))
    gdf = gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(x, y), crs=crs)
    gdf.attrs["register"] = {"x_col": xc, "y_col": yc, "crs_given": crs is not None}
    return gdf


# ---------------------------------------------------------------- shapefiles in GBK

#: Characters GDAL produces when it reads GBK/UTF-8 bytes as Latin-1: the
#: upper half of Latin-1 (and C1 controls).
_LATIN1_HIGH = re.compile(r"[\x80-\xff]")


def _text_columns(gdf: gpd.GeoDataFrame) -> list[str]:
    return [
        c
        for c in gdf.columns
        if c != gdf.geometry.name and (gdf[c].dtype == object or pd.api.types.is_string_dtype(gdf[c].dtype))
    ]


def _decodes(texts: list[str], enc: str) -> bool:
    try:
        for t in texts:
            t.encode("latin-1").decode(enc)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False
    return True


def fix_shapefile_text(gdf: gpd.GeoDataFrame, path: str, layer: str | None, *, what: str) -> gpd.GeoDataFrame:
    """Re-read a shapefile without ``.cpg`` whose text is GBK/UTF-8 read as Latin-1.

    Returns ``gdf`` when its text looks right; the file re-read in the right
    encoding (GB18030, a superset of GBK, or UTF-8) when the garbled text
    decodes in exactly one of them; raises InputError otherwise.
    """
    p = Path(path)
    if p.suffix.lower() != ".shp" or any(p.with_suffix(s).exists() for s in (".cpg", ".CPG")):
        return gdf
    texts: list = []
    column_names = [str(c) for c in gdf.columns if c != gdf.geometry.name]
    for c in _text_columns(gdf):
        texts.extend(v for v in gdf[c].tolist() if isinstance(v, str) and _LATIN1_HIGH.search(v))
    texts.extend(c for c in column_names if _LATIN1_HIGH.search(c))
    if not texts:
        return gdf
    if any(ord(ch) > 0xFF for t in texts for ch in t):
        return gdf  # already decoded into real CJK text (the .dbf named its code page)
    for enc, name in (("utf-8", "UTF-8"), ("gb18030", "GB18030")):
        if _decodes(texts, enc):
            out = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=name)
            out.attrs["encoding"] = name
            return out
    sample = texts[0][:20]
    raise InputError(
        f"{what}: the text of {p.name} looks garbled ({sample!r}) and has no .cpg file naming "
        "its encoding; name it: encoding='GBK' (CLI: --encoding GBK), or GB18030, BIG5, UTF-8, "
        "or write a .cpg file next to the .shp holding the encoding's name"
    )
