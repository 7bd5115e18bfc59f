"""Household ledgers (台账): one roster per grid, as CSV or XLSX."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ._types import PathLike
from .errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["ledger_table", "write_ledger", "divided_sites_table"]


def ledger_table(
    grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame, *, grid_id_col: str = "grid_id"
) -> pd.DataFrame:
    """One row per household with its grid's code and name, ordered by grid code then household id.

    Parameters
    ----------
    grids : GeoDataFrame
        Grids with ``grid_id`` and, for a plan, ``code`` and ``name``.
    households : GeoDataFrame
        Households with ``household_id``, ``persons`` and the ``grid_id`` of
        their grid (``plan.households``).
    grid_id_col : str
        The grid id column of both layers.

    Returns
    -------
    DataFrame
        Columns ``grid_id``, ``code``, ``name``, ``household_id``,
        ``persons``, then every other household column (address, head of
        household...).

    Raises
    ------
    InputError
        A layer has no ``grid_id_col``, or a household names a grid that is
        not in ``grids``.

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> t = ledger_table(plan.grids, plan.households)
    >>> list(t.columns[:5])
    ['grid_id', 'code', 'name', 'household_id', 'persons']
    >>> len(t) == len(plan.households)
    True
    """
    if grid_id_col not in grids.columns or grid_id_col not in households.columns:
        raise InputError(f"grids and households need a {grid_id_col!r} column to build a ledger")
    g = pd.DataFrame(grids.drop(columns=grids.geometry.name))
    keep = [c for c in (grid_id_col, "code", "name") if c in g.columns]
    g = g[keep]
    h = pd.DataFrame(households.drop(columns=households.geometry.name))
    t = h.merge(g, on=grid_id_col, how="left", validate="many_to_one")
    missing = t["code"].isna() if "code" in t.columns else pd.Series(False, index=t.index)
    if missing.any():
        raise InputError(f"{int(missing.sum())} households name a grid that is not in the grids layer")
    first = [c for c in (grid_id_col, "code", "name", "household_id", "persons") if c in t.columns]
    t = t[first + [c for c in t.columns if c not in first]]
    sort = [c for c in ("code", "household_id") if c in t.columns]
    return t.sort_values(sort, kind="stable").reset_index(drop=True)


def divided_sites_table(grids: gpd.GeoDataFrame, divided: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per divided building or landmark, its parts in words, for the ledger.

    Each row reads like the field sheet: ``29号楼 (459 persons): 1单元 -> 001
    东门; 2-3单元 -> 002 ...``.

    Parameters
    ----------
    grids : GeoDataFrame
        ``grid_id``, ``code``, ``name``.
    divided : GeoDataFrame
        ``plan.divided_sites``.

    Returns
    -------
    DataFrame
        ``site_id``, ``site``, ``persons``, ``parts`` and ``division`` (text).

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_community(40, seed=2))
    >>> t = divided_sites_table(plan.grids, plan.divided_sites)
    >>> list(t.columns)
    ['site_id', 'site', 'persons', 'parts', 'division']
    """
    cols = ["site_id", "site", "persons", "parts", "division"]
    if divided is None or not len(divided):
        return pd.DataFrame(columns=cols)
    g = pd.DataFrame(grids.drop(columns=grids.geometry.name)).set_index("grid_id")
    out = []
    for sid, rows in divided.groupby("site_id", sort=True):
        parts = []
        for r in rows.itertuples():
            where = (
                " ".join(x for x in (str(r.entrances or ""), f"{r.floors}层" if r.floors else "") if x)
                or f"{r.first_household}..{r.last_household}"
            )
            code = g["code"].get(r.grid_id, r.grid_id) if "code" in g.columns else r.grid_id
            name = g["name"].get(r.grid_id) if "name" in g.columns else None
            label = f"{code} {name}" if isinstance(name, str) and name else str(code)
            parts.append(f"{where} -> {label} ({r.persons}人)")
        out.append(
            {
                "site_id": sid,
                "site": rows["site_label"].iloc[0],
                "persons": int(rows["site_persons"].iloc[0]),
                "parts": len(rows),
                "division": "; ".join(parts),
            }
        )
    return pd.DataFrame(out, columns=cols)


def _sheet_name(code: str, name) -> str:
    label = f"{code} {name}" if isinstance(name, str) and name else str(code)
    return re.sub(r"[\[\]:*?/\\]", "_", label)[:31]


def write_ledger(
    grids: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    out: PathLike,
    *,
    grid_id_col: str = "grid_id",
    overwrite: bool = False,
    divided_sites: gpd.GeoDataFrame | None = None,
) -> list[Path]:
    """Write the ledger (台账) as a folder of CSV files or one XLSX workbook.

    Parameters
    ----------
    grids, households : GeoDataFrame
        As for :func:`ledger_table`, e.g. ``plan.grids`` and ``plan.households``.
    out : str or PathLike
        ``FILE.xlsx``: one sheet per grid plus a ``summary`` sheet (needs
        ``pip install microgrid[xlsx]``). A path without a suffix: a folder
        of CSV files, ``ledger.csv`` with every household and ``<code>.csv``
        per grid, UTF-8 with BOM so that Excel shows Chinese text.
    grid_id_col : str
        The grid id column of both layers.
    overwrite : bool
        Replace an existing workbook, or an existing folder as a whole (its
        other files go too); without it an existing ``out`` is an error (an
        empty folder is used as it is).
    divided_sites : GeoDataFrame, optional
        ``plan.divided_sites``: buildings divided between grids are listed
        in words (sheet or file ``divided_sites``), e.g.
        ``29号楼: 1单元 1-18层 -> 002 ...; 2单元 -> 003 ...``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        ``out`` exists and ``overwrite`` is False, or has another suffix.

    Examples
    --------
    >>> import microgrid, pathlib, tempfile
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> paths = write_ledger(plan.grids, plan.households, pathlib.Path(tmp.name) / "ledger")
    >>> [p.name for p in paths]
    ['ledger.csv', '000000000000001.csv', '000000000000002.csv', '000000000000003.csv']
    >>> tmp.cleanup()
    """
    from .io import atomic_write, check_target

    out = Path(out)
    if out.suffix and out.suffix.lower() != ".xlsx":
        raise InputError(f"ledger output must be a folder or an .xlsx file, got {out}")
    check_target(out, overwrite=overwrite, what="ledger", empty_folder_ok=not out.suffix)
    t = ledger_table(grids, households, grid_id_col=grid_id_col)
    key = "code" if "code" in t.columns else grid_id_col
    if out.suffix.lower() == ".xlsx":
        from ._compat import import_optional

        import_optional("openpyxl", "xlsx", "XLSX ledgers")
        summary = (
            t.groupby([key] + (["name"] if "name" in t.columns else []), dropna=False, sort=True)
            .agg(households=("household_id", "size"), persons=("persons", "sum"))
            .reset_index()
        )

        def write(tmp):
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                summary.to_excel(xw, sheet_name="summary", index=False)
                if divided_sites is not None and len(divided_sites):
                    divided_sites_table(grids, divided_sites).to_excel(xw, sheet_name="divided_sites", index=False)
                for code, rows in t.groupby(key, sort=True):
                    nm = rows["name"].iloc[0] if "name" in rows.columns else None
                    rows.to_excel(xw, sheet_name=_sheet_name(code, nm), index=False)

        atomic_write(out, write, overwrite=True)  # checked above
        return [out]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        names = ["ledger.csv"]
        t.to_csv(tmp / names[0], index=False, encoding="utf-8-sig")
        if divided_sites is not None and len(divided_sites):
            names.append("divided_sites.csv")
            divided_sites_table(grids, divided_sites).to_csv(tmp / names[-1], index=False, encoding="utf-8-sig")
        for code, rows in t.groupby(key, sort=True):
            names.append(f"{code}.csv")
            rows.to_csv(tmp / names[-1], index=False, encoding="utf-8-sig")
        _replace_folder(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return [out / n for n in names]


def _replace_folder(new: Path, out: Path) -> None:
    """Put the folder ``new`` at ``out``, replacing what is there (checked by the caller)."""
    old = None
    if out.exists() or out.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old)
