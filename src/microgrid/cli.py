"""Command line: ``microgrid partition|validate ...``.

Bad input prints the error message (no traceback) and exits 2; an
infeasible plan exits 3, and so does an internal error (a bug of microgrid,
reported as such); ``validate`` exits 1 when it finds violations;
``partition-many`` exits 1 when an area failed, 3 when areas were only
infeasible. No command replaces an existing file or folder without
``--overwrite``, and none writes over one of its inputs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import geopandas as gpd

    from ._types import CRSLike, LayerSource

__all__ = ["main"]

EXIT_OK, EXIT_VIOLATIONS, EXIT_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3
EXIT_INTERNAL = 3

#: The forms ``--crs`` takes, for its help text.
_CRS_HELP = (
    "CRS of inputs that carry none: an EPSG code (EPSG:4326 lon/lat, EPSG:4490 CGCS2000, "
    "EPSG:32650 UTM), a PROJ string or WKT"
)


def _layer_or_none(path: str | None, layer: str):
    """``path#layer`` when the file has that layer, else None."""
    from .errors import InputError
    from .io import list_layers

    if path is None:
        return None
    try:
        names = list_layers(path)
    except InputError:
        return None
    return f"{path}#{layer}" if layer in names else None


def _check_out(path, a, inputs, what: str = "--out", folder: bool = False) -> Path:
    """``path`` as a Path, after checking it replaces nothing without ``--overwrite`` and is no input."""
    from .io import check_target

    return check_target(
        path, overwrite=getattr(a, "overwrite", False), inputs=inputs, what=what, empty_folder_ok=folder
    )


def _recorded_bound(bnd, col: str, given: int | None, default: int) -> int:
    """``given``, else the bound a plan records in its boundary layer's ``col``, else ``default``."""
    import numpy as np
    import pandas as pd

    from .errors import InputError

    if given is not None:
        return given
    if bnd is None or col not in bnd.columns:
        return default
    raw = bnd[col]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(num) | (num != np.round(num)) | (num < 0)
    flag = "--" + col.replace("_", "-")
    if bad.any():
        v = raw[bad].iloc[0]
        what = "is empty" if pd.isna(v) else f"is {v!r}, not a whole number of persons"
        raise InputError(
            f"the plan's boundary layer field {col!r} {what}; write the bound as a whole "
            f"number (e.g. 200) in that field, or pass {flag} N"
        )
    if len(set(num.tolist())) > 1:
        raise InputError(
            f"the plan's boundary layer field {col!r} differs between its rows "
            f"({', '.join(str(int(x)) for x in sorted(set(num.tolist())))}); pass {flag} N"
        )
    return int(num[0]) if len(num) else default


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks and shows each option's default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or action.default in (None, False, argparse.SUPPRESS) or "default" in text.lower():
            return text
        return f"{text} (default: %(default)s)"


def _examples(lines: str) -> str:
    """An epilog of example commands, one a line of ``lines`` (indentation and the first newline dropped)."""
    return "Examples:\n" + "\n".join(f"  {x.strip()}" for x in lines.strip("\n").split("\n"))


# Each subcommand: its one-line help and its example commands (the epilog of its --help).
_COMMANDS: dict[str, tuple[str, str]] = {
    "partition": (
        "partition households into grids and write a plan",
        """
    microgrid partition village.gpkg --out plan.gpkg
    microgrid partition register.xlsx --boundary village.gpkg#boundary --barriers village.gpkg#roads --id-col 户号 --persons-col 人数 --out plan.gpkg
    microgrid partition town.gpkg --min-persons 200 --max-persons 300 --code-prefix 110108001002 --out plan.shp""",
    ),
    "partition-many": (
        "partition every area of a district in parallel on Dask (the dask extra)",
        """
    microgrid partition-many --households county.gpkg#households --areas county.gpkg#villages --area-id village_code --barriers county.gpkg#roads --out county_plan.gpkg
    microgrid partition-many --households register.csv --areas villages.shp --area-id 村代码 --code-prefix-col 村代码 --workers 2 --out county_plan.gpkg
    microgrid partition-many ... --scheduler tcp://10.0.0.5:8786 --out county.parquet""",
    ),
    "validate": (
        "validate a grid map (ours or hand-drawn)",
        """
    microgrid validate plan.gpkg
    microgrid validate --grids drawn.shp --households register.xlsx --boundary village.shp --json report.json
    microgrid validate plan.gpkg --assignment-col "" --map violations.png   # audit by location only""",
    ),
    "repair": (
        "fill gaps, trim overlaps and stray parts of a grid map; list every change",
        """
    microgrid repair plan.gpkg --out repaired.gpkg
    microgrid repair --grids drawn.shp --boundary village.shp --households hh.gpkg --out repaired.gpkg
    microgrid repair drawn.gpkg --min-persons 150 --max-persons 250 --out repaired.gpkg""",
    ),
    "ledger": (
        "write household rosters (台账) per grid: a folder of CSV or one .xlsx",
        """
    microgrid ledger plan.gpkg --out 台账.xlsx
    microgrid ledger plan.gpkg --out rosters/""",
    ),
    "repartition": (
        "update a plan for changed households, or after hand edits, with the least churn",
        """
    microgrid repartition plan.gpkg --households register_2025.gpkg#households --out plan_2025.gpkg
    microgrid repartition plan.gpkg --households register_2025.xlsx --locked 3,7 --out plan_2025.gpkg
    microgrid repartition --plan edited.gpkg --out fixed.gpkg   # a plan edited by hand in QGIS""",
    ),
    "changes": (
        "apply a change list (add/remove/move/persons) to a plan with the least churn",
        """
    microgrid changes plan.gpkg --changes changes.csv --out plan_new.gpkg
    microgrid changes plan.gpkg --changes changes.json --pinned pins.csv --out plan_new.gpkg""",
    ),
    "staff": (
        "assign leaders, workers and volunteers to grids (min total distance)",
        """
    microgrid staff plan.gpkg --people staff.gpkg
    microgrid staff plan.gpkg --people staff.gpkg --composition leader:1,worker:2 --out teams.csv""",
    ),
    "map": (
        "draw a map of a plan file: PNG, or HTML that works offline (画网格图)",
        """
    microgrid map plan.gpkg --out plan.png --labels name
    microgrid map plan.gpkg --out plan.html
    microgrid map plan.gpkg --out plan.html --basemap amap""",
    ),
    "serve": (
        "run the HTTP service (the service extra)",
        """
    microgrid serve
    microgrid serve --host 0.0.0.0 --port 8080 --jobs 2""",
    ),
}


def _verbosity(top: bool) -> argparse.ArgumentParser:
    """-v/-q, taken before or after the subcommand (``microgrid partition ... -v``)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="log progress and timings, Dask's logs included (-vv: debug)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log errors only; no progress bar",
    )
    return p


def _add_reading(p: argparse.ArgumentParser):
    """Options for inputs as they come: Shapefiles in GBK, CSV/XLSX registers."""
    p.add_argument(
        "--encoding",
        help="text encoding of Shapefile/CSV inputs, e.g. GBK or GB18030 (default: the "
        ".cpg file; a Shapefile without one whose text reads garbled is read as GB18030 or UTF-8, "
        "whichever its bytes are)",
    )
    p.add_argument(
        "--x-col",
        help="longitude/x column of a CSV/XLSX register (default: the first of 经度, 东经, lon, lng, longitude, x)",
    )
    p.add_argument(
        "--y-col",
        help="latitude/y column of a CSV/XLSX register (default: the first of 纬度, 北纬, "
        "lat, latitude, y); registers in lon/lat within China are EPSG:4326, others need --crs",
    )


_OUTSIDE_HELP = (
    "households outside the boundary: error, drop them, or snap/nearest (synonyms): move each onto "
    "the nearest point inside"
)


def _add_bounds(p: argparse.ArgumentParser) -> None:
    """``--min-persons`` and ``--max-persons``, 200 and 300 unless given."""
    p.add_argument("--min-persons", type=int, default=200, help="fewest persons in a grid")
    p.add_argument("--max-persons", type=int, default=300, help="most persons in a grid")


def _add_out(p: argparse.ArgumentParser, out_help: str, overwrite_help: str, *, required: bool = True) -> None:
    """``--out`` (required unless said otherwise) and, next to it, ``--overwrite``."""
    p.add_argument("--out", required=required, help=out_help)
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def _add_site_columns(p: argparse.ArgumentParser, help_template: str) -> None:
    """``--entrance-col`` and ``--floor-col``, the household columns a building is divided by, alike but for names."""
    for col, zh in (("entrance", "单元"), ("floor", "楼层")):
        p.add_argument(f"--{col}-col", help=help_template.format(col=col, zh=zh))


def _add_common_inputs(p: argparse.ArgumentParser):
    p.add_argument(
        "input",
        nargs="?",
        help="a GeoPackage with layers households (or buildings), boundary, "
        "and optionally barriers and landmarks; an OpenStreetMap extract (.osm, .pbf: households estimated "
        "from its buildings); or a CSV/XLSX household register (then give --boundary)",
    )
    p.add_argument("--households", help="household points (file, file#layer, or a CSV/XLSX register)")
    p.add_argument("--buildings", help="building footprints to estimate households from (instead of --households)")
    p.add_argument("--boundary", help="community/village polygon")
    p.add_argument("--barriers", help="roads, lanes, rivers, walls (lines)")
    p.add_argument("--id-col", default="household_id", help="household id column (in a Shapefile: household_)")
    p.add_argument("--persons-col", default="persons", help="persons column")
    p.add_argument("--crs", help=_CRS_HELP)
    _add_reading(p)


def _parser_update(add) -> None:
    """The ``repartition`` and ``changes`` subcommands (updating a plan)."""
    for cmd in ("repartition", "changes"):
        rp = add(cmd)
        rp.add_argument("plan", nargs="?", help="the current plan GeoPackage")
        rp.add_argument(
            "--plan",
            dest="plan_opt",
            metavar="PLAN",
            help="the plan (same as the positional PLAN); without --households, a plan edited by "
            "hand: households whose grid_id was changed are pinned to it",
        )
        if cmd == "repartition":
            rp.add_argument(
                "--households",
                help="the full, current set of households, or a CSV/XLSX register "
                "(default: the plan's own, read as hand edits)",
            )
        else:
            rp.add_argument(
                "--changes",
                required=True,
                help="CSV or JSON rows: op (add/remove/move/persons), household_id, x, y, persons",
            )
            rp.add_argument("--changes-crs", help="CRS of x/y in the changes (default: the plan's)")
        rp.add_argument("--id-col", default="household_id", help="household id column")
        rp.add_argument("--persons-col", default="persons", help="persons column")
        rp.add_argument("--seed", type=int, default=0, help="random seed")
        rp.add_argument("--min-persons", type=int, help="default: the plan's own bounds")
        rp.add_argument("--max-persons", type=int, help="default: the plan's own bounds")
        rp.add_argument("--locked", help="grid ids that keep polygon and households exactly, e.g. 3,7")
        rp.add_argument("--pinned", help="CSV with household_id (or building) and grid_id: each holds")
        rp.add_argument("--crs", help=_CRS_HELP)
        _add_reading(rp)
        _add_out(rp, "the new plan (.gpkg)", "replace an existing --out")


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    ap = argparse.ArgumentParser(
        prog="microgrid",
        formatter_class=_HelpFormatter,
        parents=[_verbosity(True)],
        description="Divide a community into micro-grids along its roads and prove the result "
        "(按线划分、不漏一地、不漏一户).",
        epilog=_examples("""
            microgrid partition village.gpkg --out plan.gpkg
            microgrid validate plan.gpkg --json report.json
            microgrid partition --help     # each subcommand's options and examples"""),
    )
    ap.add_argument("--version", action="version", version=f"microgrid {__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [_verbosity(False)]

    def add(name):
        help, examples = _COMMANDS[name]
        return sub.add_parser(
            name,
            help=help,
            description=help[0].upper() + help[1:] + ".",
            epilog=_examples(examples),
            formatter_class=_HelpFormatter,
            parents=common,
        )

    for build in (
        _parser_partition,
        _parser_partition_many,
        _parser_validate,
        _parser_repair,
        _parser_ledger,
        _parser_update,
        _parser_staff,
        _parser_map,
        _parser_serve,
    ):
        build(add)
    return ap


def _parser_partition(add) -> None:
    """The ``partition`` subcommand's options."""
    p = add("partition")
    _add_common_inputs(p)
    p.add_argument(
        "--landmarks",
        help="landmark points/polygons (a polygon is kept whole unless it holds more persons than a grid)",
    )
    p.add_argument("--kind-col", help="barrier kind column (default: kind or highway)")
    p.add_argument(
        "--default-persons",
        type=int,
        help="persons per household when there is no persons column (default: none; the column is required)",
    )
    _add_bounds(p)
    p.add_argument("--n-grids", type=int, help="number of grids (default: chosen from the bounds)")
    p.add_argument(
        "--divide-sites",
        choices=["auto", "never"],
        default="auto",
        help="a building whose households share one point (or a landmark holding households) may be "
        "divided between grids by entrance, then floor, only where whole buildings cannot meet "
        "the bounds (auto); never: keep every site whole (default: %(default)s)",
    )
    _add_site_columns(
        p,
        "household column with the {col} ({zh}) used to divide a building (default: a column "
        "named {col} or {zh}, if any)",
    )
    p.add_argument(
        "--oversize",
        choices=["flag", "stack"],
        help="older name: stack = --divide-sites auto; flag = --divide-sites never with each building "
        "above max persons in its own flagged grid (default: not used)",
    )
    p.add_argument("--stack-col", help="older name of --entrance-col (default: not used)")
    p.add_argument(
        "--parents", help="existing areas (villages, grids) to partition inside; no grid crosses them (default: none)"
    )
    p.add_argument("--parent-id-col", help="parent id column (default parent_id, else the first column)")
    p.add_argument(
        "--input-crs",
        choices=["wgs84", "gcj02", "bd09"],
        type=str.lower,
        help="lon/lat system of all inputs: gcj02 (Amap/Gaode, Tencent) or bd09 (Baidu) are converted "
        "to WGS84 and the plan is written back in the same system, marked in its coord_system "
        "field (default: wgs84 or the inputs' CRS)",
    )
    p.add_argument(
        "--level",
        action="append",
        metavar="NAME:MIN:MAX",
        help="nested level, repeatable, coarse to fine (e.g. --level grid:800:1500 "
        "--level microgrid:200:300); replaces --min/--max-persons (default: one level)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same plan")
    _add_search_options(p)
    p.add_argument(
        "--code-prefix",
        default="000000000000",
        help="12 digits: 6-digit division + 3-digit street/town + 3-digit community code",
    )
    p.add_argument("--outside", choices=["error", "drop", "snap", "nearest"], default="error", help=_OUTSIDE_HELP)
    p.add_argument("--snap-tolerance", type=float, default=2.0, help="join road ends missing a junction by <= m")
    p.add_argument(
        "--on-infeasible",
        choices=["raise", "flag"],
        default="raise",
        help="raise: exit 3 naming the cause; flag: write the best plan with the grids that break a bound flagged",
    )
    _add_out(
        p,
        "plan file (.gpkg; or .geojson/.shp/.parquet for two files; a .shp gets short field names, see docs)",
        "replace an existing plan",
    )
    p.add_argument("--report", help="also write the validation report as JSON (replaced only with --overwrite)")


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """How hard the search works and what it favours: ``--compactness``, ``--tries``, ``--restarts``, ``--no-refine``."""
    p.add_argument(
        "--compactness",
        type=float,
        default=0.5,
        help="weight of round grids against lines off the barriers (0 = follow barriers only)",
    )
    p.add_argument(
        "--tries",
        type=int,
        default=6,
        help="spanning trees drawn per split (more: slower, slightly better lines; default: %(default)s)",
    )
    p.add_argument(
        "--restarts",
        type=int,
        default=3,
        help="independent bisections; the one with the cheapest cut is kept (default: %(default)s)",
    )
    p.add_argument(
        "--no-refine",
        dest="refine",
        action="store_false",
        help="skip the refinement that moves units to straighten lines (faster, rougher)",
    )


def _parser_partition_many(add) -> None:
    """The ``partition-many`` subcommand's options."""
    pm = add("partition-many")
    pm.add_argument(
        "--households",
        required=True,
        help="household points of the whole district (file#layer, or a CSV/XLSX register)",
    )
    pm.add_argument("--areas", required=True, help="area polygons (villages, communities) with an id column")
    pm.add_argument("--area-id", required=True, help="the areas' id column; every output row carries it")
    pm.add_argument("--barriers", help="roads, lanes, rivers, walls of the district (lines)")
    pm.add_argument("--landmarks", help="landmark points/polygons of the district")
    pm.add_argument("--out", required=True, help="X.gpkg, X.parquet (GeoParquet datasets) or a postgresql:// URL")
    pm.add_argument(
        "--scheduler",
        default="local",
        help="local (a cluster on this machine) or tcp://HOST:PORT of a running dask scheduler",
    )
    pm.add_argument("--workers", type=int, help="workers of the local cluster (default: one per core)")
    pm.add_argument("--id-col", default="household_id", help="household id column (in a Shapefile: household_)")
    pm.add_argument("--persons-col", default="persons", help="persons column")
    pm.add_argument(
        "--default-persons",
        type=int,
        help="persons per household when there is no persons column (default: none; the column is required)",
    )
    pm.add_argument("--kind-col", help="barrier kind column (default: kind or highway)")
    _add_bounds(pm)
    pm.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same plans")
    _add_search_options(pm)
    pm.add_argument("--snap-tolerance", type=float, default=2.0, help="join road ends missing a junction by <= m")
    pm.add_argument(
        "--code-prefix",
        default="000000000000",
        help="12-digit code prefix; without --code-prefix-col each area gets its own: the last 3 "
        "digits become the area's sequence (001, 002, ...) so no code repeats in the layer",
    )
    pm.add_argument(
        "--code-prefix-col",
        help="areas column with each area's own 12-digit code prefix (default: derived from --code-prefix)",
    )
    pm.add_argument(
        "--outside",
        choices=["error", "drop", "nearest", "snap"],
        default="error",
        help="households in no area (or in several): error, drop, or nearest/snap (synonyms): give "
        "each to the nearest area",
    )
    pm.add_argument(
        "--on-infeasible",
        choices=["raise", "flag"],
        default="raise",
        help="raise: the area fails, infeasible; flag: an area that cannot meet a bound gets its best "
        "plan with those grids flagged",
    )
    pm.add_argument("--crs", help=_CRS_HELP)
    _add_reading(pm)
    pm.add_argument(
        "--divide-sites",
        choices=["auto", "never"],
        default="auto",
        help="divide a building on one point by entrance/floor only where needed (auto) or never "
        "(default: %(default)s)",
    )
    _add_site_columns(pm, "household column with the {col} ({zh}); default: {col} or {zh}")
    pm.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh (default: resume, skipping areas already done with the same inputs)",
    )
    pm.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _add_grid_map(p, plan_help: str) -> None:
    """The layers of a grid map to audit: a plan file, or grids, households and boundary, and their columns."""
    p.add_argument("plan", nargs="?", help=plan_help)
    p.add_argument("--grids", help="grid polygons (default: layer grids of the plan)")
    p.add_argument(
        "--households", help="household points or a CSV/XLSX register (default: layer households of the plan)"
    )
    p.add_argument("--boundary", help="community/village polygon (default: layer boundary of the plan)")
    p.add_argument("--grid-id-col", default="grid_id", help="grid id column")
    p.add_argument("--id-col", default="household_id", help="household id column")
    p.add_argument("--persons-col", default="persons", help="persons column")
    p.add_argument("--crs", help=_CRS_HELP)
    _add_reading(p)


def _parser_validate(add) -> None:
    """The ``validate`` subcommand's options."""
    v = add("validate")
    _add_grid_map(v, "a plan GeoPackage (layers grids, households, boundary[, barriers])")
    v.add_argument("--barriers", help="roads etc. for the on-line share")
    v.add_argument(
        "--assignment-col",
        help="household column naming its grid (default: grid_id, or another "
        'column whose values are grid ids, when there is one; else by location); "" audits by '
        "location only",
    )
    v.add_argument("--min-persons", type=int, help="default: the plan's own bounds, else 200")
    v.add_argument("--max-persons", type=int, help="default: the plan's own bounds, else 300")
    v.add_argument(
        "--sliver-area", type=float, default=0.5, help="gaps and overlaps below this many m2 are warnings, not errors"
    )
    v.add_argument("--json", help="write the report as JSON (all violations; the listing shows the first 20)")
    v.add_argument("--map", help="write a map of the violations: OUT.png (matplotlib) or OUT.html (folium)")
    v.add_argument("--overwrite", action="store_true", help="replace existing --json/--map files")


def _parser_repair(add) -> None:
    """The ``repair`` subcommand's options."""
    r = add("repair")
    _add_grid_map(r, "a plan GeoPackage (layers grids, households, boundary)")
    r.add_argument(
        "--assignment-col",
        help="household column naming its grid before repair (default: grid_id for a plan file, else by location)",
    )
    _add_bounds(r)
    _add_out(r, "repaired plan (.gpkg): layers grids, households, changes", "replace an existing --out")


def _parser_ledger(add) -> None:
    """The ``ledger`` subcommand's options."""
    g = add("ledger")
    g.add_argument("plan", help="a plan GeoPackage (layers grids and households)")
    _add_out(g, "a folder (CSV files) or FILE.xlsx (the xlsx extra)", "replace an existing workbook or folder")


def _parser_staff(add) -> None:
    """The ``staff`` subcommand's options."""
    t = add("staff")
    t.add_argument("plan", help="a plan GeoPackage (layer grids)")
    t.add_argument("--people", required=True, help="home points with person_id and role columns")
    t.add_argument("--role-col", default="role", help="role column of --people")
    t.add_argument("--id-col", default="person_id", help="person id column of --people")
    t.add_argument("--composition", default="leader:1,worker:3,volunteer:2", help="slots per grid and role")
    _add_out(t, "write the team table as CSV", "replace an existing CSV", required=False)


def _parser_map(add) -> None:
    """The ``map`` subcommand's options."""
    mp = add("map")
    mp.add_argument("plan", help="a plan GeoPackage (microgrid partition --out)")
    mp.add_argument("--out", required=True, help="OUT.png (also .svg, .pdf) or OUT.html (self-contained, offline)")
    mp.add_argument(
        "--basemap",
        default="none",
        choices=["none", "osm", "tianditu", "amap"],
        help="HTML background tiles: none (offline), osm (OpenStreetMap), tianditu (天地图, "
        "needs --tianditu-key) or amap (高德; layers shifted to GCJ-02 to match it)",
    )
    mp.add_argument("--tianditu-key", help="your 天地图 key (https://console.tianditu.gov.cn)")
    mp.add_argument(
        "--labels",
        default="code",
        choices=["code", "name", "persons"],
        help="grid labels: code, name or persons, each with the persons",
    )
    mp.add_argument("--households", action="store_true", help="show households (PNG: always)")
    mp.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _parser_serve(add) -> None:
    """The ``serve`` subcommand's options."""
    sv = add("serve")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on")
    sv.add_argument("--jobs", type=int, help="jobs run at once, each in its own process (default: CPUs)")
    sv.add_argument("--queue", type=int, default=64, help="requests that may wait for a job slot (more get 503)")
    sv.add_argument("--timeout", type=float, default=300.0, help="seconds a job may run (then 504)")
    sv.add_argument("--max-body-mb", type=float, default=50.0, help="largest request body in MB (then 413)")
    sv.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="seconds each chunk of a request body may take, the whole body 4x that (then 408)",
    )
    sv.add_argument(
        "--max-job-mb",
        type=float,
        default=4096.0,
        help="memory a job may add to its worker process, in MB (then 507); 0: no limit",
    )


def _cmd_partition(a) -> int:
    from .io import is_db_url, plan_targets, write_plan
    from .partition import partition

    hh, bnd, bar, lm = _partition_layers(a)
    inputs = [a.input, a.households, a.buildings, a.boundary, a.barriers, a.landmarks, a.parents]
    out = a.out if is_db_url(a.out) else Path(a.out)  # a database URL is no path: keep its "//"
    targets = [] if is_db_url(a.out) else [_check_out(t, a, inputs) for t in plan_targets(out)]
    if a.report:
        _check_out(a.report, a, inputs + targets, what="--report")
    t0 = time.perf_counter()
    hh, bnd, bar, lm = (
        _read_input(a, x, w) for x, w in ((hh, "households"), (bnd, "boundary"), (bar, "barriers"), (lm, "landmarks"))
    )
    options = _partition_options(a)
    options.update(levels=_levels(a.level), oversize=a.oversize, stack_col=a.stack_col, parents=a.parents)
    plan = partition(hh, bnd, bar, lm, **options)
    written = write_plan(plan, out, overwrite=a.overwrite)
    if a.report:
        plan.report.to_json(a.report, overwrite=a.overwrite)
    given = _given_line(plan)
    if given:
        print(given)
    print(plan.summary())
    print(f"wrote {', '.join(map(str, written))} in {time.perf_counter() - t0:.2f} s")
    return EXIT_OK


def _partition_layers(a) -> tuple:
    """Households, boundary, barriers and landmarks from the flags and the input file.

    Households are estimated from buildings when none are given.
    """
    from .errors import InputError
    from .inputs import estimate_households
    from .io import list_layers
    from .io.registers import is_register

    single = (".shp", ".geojson", ".json", ".parquet")  # one-layer files: the households, with --boundary
    if a.input and (is_register(a.input) or (a.boundary and Path(a.input).suffix.lower() in single)):
        a.households, a.input = a.households or a.input, None  # a CSV/XLSX register is the households
    a.outside = "snap" if a.outside == "nearest" else a.outside
    hh, bnd, bar, lm = a.households, a.boundary, a.barriers, a.landmarks
    buildings = a.buildings
    if a.input:
        if Path(a.input).exists():
            list_layers(a.input)  # an unreadable file is an error of its own, not "no layers"
        hh = hh or _layer_or_none(a.input, "households")
        if hh is None and buildings is None:
            buildings = _layer_or_none(a.input, "buildings")
        bnd = bnd or _layer_or_none(a.input, "boundary")
        bar = bar or _layer_or_none(a.input, "barriers") or _layer_or_none(a.input, "roads")
        lm = lm or _layer_or_none(a.input, "landmarks")
        if not Path(a.input).exists():
            raise InputError(f"input file not found: {a.input}")
    if hh is None and buildings is not None:
        if bnd is None:
            raise InputError(
                "--buildings needs --boundary (footprints are cut to it)"
                if a.buildings
                else f"{a.input} has buildings but no boundary layer: give --boundary, the area to divide"
            )
        hh = estimate_households(buildings, seed=a.seed, clip_to=bnd)
        print(
            f"estimated {len(hh)} households ({int(hh['persons'].sum())} persons) from buildings "
            "(an estimate: footprint x levels / 90 m2 per household)"
        )
    if hh is None or bnd is None:
        raise InputError(
            "give households (--households or --buildings) and a boundary (--boundary), "
            "or one GeoPackage with layers households and boundary"
        )
    return hh, bnd, bar, lm


def _levels(specs: list[str] | None) -> list | None:
    """``--level NAME:MIN:MAX`` flags as Levels (None without any)."""
    if not specs:
        return None
    from .errors import InputError
    from .options import Level

    levels = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise InputError(f"--level must look like NAME:MIN:MAX (e.g. microgrid:200:300), got {spec!r}")
        levels.append(Level(parts[0], int(parts[1]), int(parts[2])))
    return levels


def _given_line(plan) -> str:
    """How many households were given, dropped or moved from outside the boundary, or ''."""
    from .errors import ids_preview

    dropped = list(plan.params.get("dropped") or [])
    snapped = list(plan.params.get("snapped") or [])
    if not dropped and not snapped:
        return ""
    n_in = len(plan.households)
    parts = [f"{n_in + len(dropped)} households given"]
    if dropped:
        parts.append(f"{len(dropped)} dropped outside the boundary (ids {ids_preview(dropped, 5)})")
    if snapped:
        parts.append(f"{len(snapped)} moved inside from outside the boundary (ids {ids_preview(snapped, 5)})")
    return ", ".join(parts) + f", {n_in} in the plan"


def _partition_options(a: argparse.Namespace) -> dict:
    """Every partition option that is a flag of this command, by its name in :class:`PartitionOptions`.

    Each option's flag has the option's name (tests/test_options.py checks it), so all pass through.
    """
    from dataclasses import fields

    from .options import PartitionOptions

    return {f.name: getattr(a, f.name) for f in fields(PartitionOptions) if hasattr(a, f.name)}


def _cmd_partition_many(a) -> int:
    from .batch import partition_many
    from .errors import InputError

    client = a.scheduler
    if client != "local" and not client.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        raise InputError(f"--scheduler must be local or tcp://HOST:PORT, got {client!r}")
    if client != "local" and a.workers is not None:
        raise InputError("--workers sizes the local cluster; a tcp:// scheduler has its own workers")
    res = partition_many(
        _read_input(a, a.households, "households"),
        _read_input(a, a.areas, "areas"),
        _read_input(a, a.barriers, "barriers"),
        _read_input(a, a.landmarks, "landmarks"),
        area_id_col=a.area_id,
        out=a.out,
        client=client,
        n_workers=a.workers,
        code_prefix_col=a.code_prefix_col,
        overwrite=a.overwrite,
        progress=not (a.no_progress or a.quiet),
        **_partition_options(a),
    )
    print(res.summary_text())
    print(f"wrote {', '.join(map(str, res.paths))}")
    if res.counts["error"]:
        return EXIT_VIOLATIONS
    return EXIT_INFEASIBLE if res.counts["infeasible"] else EXIT_OK


def _plan_layers(a):
    """Grids, households, boundary, barriers and assignment column from flags or a plan file."""
    from .errors import InputError

    grids, hh, bnd, bar = a.grids, a.households, a.boundary, getattr(a, "barriers", None)
    assignment = a.assignment_col
    if a.plan:
        if not Path(a.plan).exists():
            raise InputError(f"plan file not found: {a.plan}")
        grids = grids or f"{a.plan}#grids"
        hh = hh or _layer_or_none(a.plan, "households")
        bnd = bnd or _layer_or_none(a.plan, "boundary")
        bar = bar or _layer_or_none(a.plan, "barriers")
        assignment = "grid_id" if assignment is None else assignment
    return grids, hh, bnd, bar, assignment or None  # "": by location only


def _audit_basis(a, grids, hh, assignment):
    """Read grids and households, and the column that assigns households to grids.

    With separate layers and no --assignment-col, a household column whose values are grid ids is the
    assignment (said on the console), so validate and repair audit alike.
    """
    from .io import read_layer

    hh, grids = _read_input(a, hh, "households"), _read_input(a, grids, "grids")
    if a.assignment_col is None and not a.plan and hh is not None:
        grids, hh = read_layer(grids, what="grids"), read_layer(hh, what="households")
        assignment = _guess_assignment(hh, grids, a.grid_id_col)
        if assignment is not None:
            print(
                f"auditing by the households' column {assignment!r}, whose values are grid ids "
                '(--assignment-col "" audits by location only)'
            )
    return grids, hh, assignment


def _audit_columns(a: argparse.Namespace, assignment: str | None) -> dict:
    """The columns validate and repair read a grid map by (the flags of ``_add_grid_map``), and its CRS."""
    return dict(
        grid_id_col=a.grid_id_col,
        household_id_col=a.id_col,
        persons_col=a.persons_col,
        assignment_col=assignment,
        crs=a.crs,
    )


def _cmd_validate(a) -> int:
    from .errors import InputError
    from .validate import validate

    grids, hh, bnd, bar, assignment = _plan_layers(a)
    if grids is None or hh is None or bnd is None:
        raise InputError("give --grids, --households and --boundary, or a plan file")
    from .io import read_layer

    inputs = [a.plan, grids, hh, bnd, bar]
    if a.json:
        _check_out(a.json, a, inputs, what="--json")
    if a.map:
        _check_out(a.map, a, inputs + [a.json], what="--map")
    bnd = read_layer(bnd, what="boundary", encoding=a.encoding)
    grids, hh, assignment = _audit_basis(a, grids, hh, assignment)
    # a plan written by microgrid records its bounds on the boundary layer
    lo = _recorded_bound(bnd, "min_persons", a.min_persons, 200)
    hi = _recorded_bound(bnd, "max_persons", a.max_persons, 300)
    rep = validate(
        grids,
        hh,
        bnd,
        bar,
        min_persons=lo,
        max_persons=hi,
        sliver_area=a.sliver_area,
        divided_sites=_layer_or_none(a.plan, "divided_sites") if a.plan else None,
        **_audit_columns(a, assignment),
    )
    how = f"households by their column {assignment!r}" if assignment else "households by location"
    rep.notes.append(f"audit: {how}")
    if a.json:
        rep.to_json(a.json, overwrite=a.overwrite)
    if a.map:
        from .viz import save_map

        save_map(
            rep,
            read_layer(grids, what="grids"),
            a.map,
            households=read_layer(hh, what="households"),
            overwrite=a.overwrite,
        )
    print(rep.summary())
    print(f"audit: {how}")
    shown = 20
    for r in rep.violations.head(shown).itertuples():
        print(f"  [{r.severity}] {r.check}: {r.message}")
    if len(rep.violations) > shown:
        more = len(rep.violations) - shown
        print(f"  ... and {more} more; all of them in " + (f"{a.json}" if a.json else "--json FILE"))
    return EXIT_OK if rep.ok else EXIT_VIOLATIONS


#: Household columns taken as naming each household's grid, first match wins.
_ASSIGNMENT_NAMES = ("grid_id", "grid_code", "grid", "网格编号", "网格编码", "网格", "网格号")


def _guess_assignment(hh, grids, grid_id_col: str) -> str | None:
    """A household column whose values are all grid ids (grid_id, 网格编号, ...), or None."""
    if hh is None or grids is None or grid_id_col not in grids.columns:
        return None
    ids = {str(x) for x in grids[grid_id_col].dropna().tolist()}
    names = [grid_id_col, *_ASSIGNMENT_NAMES]
    names += [c for c in hh.columns if ("grid" in str(c).lower() or "网格" in str(c)) and c not in names]
    for c in names:
        if c in hh.columns:
            vals = hh[c].dropna()
            if len(vals) and {str(x) for x in vals.tolist()} <= ids:
                return c
    return None


def _cmd_repair(a) -> int:
    from .errors import InputError
    from .io import write_gpkg
    from .repair import repair

    grids, hh, bnd, _, assignment = _plan_layers(a)
    if grids is None or bnd is None:
        raise InputError("give --grids and --boundary (and --households), or a plan file")
    out = Path(a.out)
    if out.suffix.lower() not in ("", ".gpkg"):
        raise InputError(
            f"repair writes one GeoPackage (layers grids, households, boundary, changes); "
            f"give --out NAME.gpkg, got {a.out}"
        )
    out = _check_out(out.with_suffix(".gpkg"), a, [a.plan, grids, hh, bnd])
    grids, hh, assignment = _audit_basis(a, grids, hh, assignment)
    res = repair(grids, bnd, hh, min_persons=a.min_persons, max_persons=a.max_persons, **_audit_columns(a, assignment))

    changes = None
    if len(res.changes):
        changes = res.changes.copy()
        for c in ("from_grid", "grid_id", "household_id"):  # ids keep their type; missing stays missing
            changes[c] = _id_column(changes[c])
        changes = changes.to_crs(res.grids.crs)
    write_gpkg(
        out,
        {
            "grids": res.grids,
            "households": res.households,
            "boundary": read_boundary(bnd, res.grids.crs),
            "changes": changes,
        },
        overwrite=a.overwrite,
    )
    print(res.summary())
    shown = 20
    for r in res.changes.head(shown).itertuples():
        what = f"household {r.household_id}" if r.action == "household_reassigned" else f"{r.area_m2:.2f} m2"
        print(f"  {r.action}: {what} {r.from_grid} -> {r.grid_id}")
    if len(res.changes) > shown:
        print(f"  ... and {len(res.changes) - shown} more changes (layer 'changes' of {out.name})")
    if res.report is not None:
        print(res.report.summary())
    if len(res.remaining):
        print(f"not repaired ({len(res.remaining)}; exit 1):", file=sys.stderr)
        for r in res.remaining.head(shown).itertuples():
            print(f"  {r.issue}: {r.reason}", file=sys.stderr)
        if len(res.remaining) > shown:
            print(f"  ... and {len(res.remaining) - shown} more", file=sys.stderr)
    print(f"wrote {out}")
    return EXIT_OK if res.ok else EXIT_VIOLATIONS


def _id_column(col):
    """An id column for a file: whole numbers as nullable integers, anything else as text; missing stays missing."""
    import numpy as np
    import pandas as pd

    vals = col.tolist()
    known = [v for v in vals if v is not None and not (isinstance(v, float) and v != v)]
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in known):
        return pd.array(
            [None if v is None or (isinstance(v, float) and v != v) else int(v) for v in vals], dtype="Int64"
        )
    return [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in vals]


def read_boundary(src: LayerSource, crs: CRSLike) -> gpd.GeoDataFrame:
    """The boundary layer ``src`` in ``crs`` (a boundary without CRS is taken to be in it)."""
    from .io import read_layer

    b = read_layer(src, what="boundary")
    return b.set_crs(crs) if b.crs is None else b.to_crs(crs)


def _cmd_ledger(a) -> int:
    from .errors import InputError
    from .io import list_layers, read_layer
    from .ledger import write_ledger

    if not Path(a.plan).exists():
        raise InputError(f"plan file not found: {a.plan}")
    _check_out(a.out, a, [a.plan], folder=not Path(a.out).suffix)
    divided = None
    if "divided_sites" in list_layers(a.plan, what="plan"):
        divided = read_layer(a.plan, layer="divided_sites", what="divided sites")
    paths = write_ledger(
        read_layer(a.plan, layer="grids", what="grids"),
        read_layer(a.plan, layer="households", what="households"),
        a.out,
        overwrite=a.overwrite,
        divided_sites=divided,
    )
    print(f"wrote {len(paths)} file(s): {paths[0]}" + (" ..." if len(paths) > 1 else ""))
    return EXIT_OK


def _cmd_repartition(a) -> int:
    from .errors import InputError
    from .io import is_db_url, plan_targets, read_layer, write_plan
    from .repartition import repartition

    a.plan = a.plan or a.plan_opt
    if a.plan is None:
        raise InputError("give the plan: microgrid repartition PLAN.gpkg (or --plan PLAN.gpkg)")
    if not Path(a.plan).exists():
        raise InputError(f"plan file not found: {a.plan}")
    households = getattr(a, "households", None)
    if not is_db_url(a.out):
        for t in plan_targets(a.out):
            _check_out(t, a, [a.plan] + [x for x in (households, getattr(a, "changes", None)) if x])
    bnd = _layer_or_none(a.plan, "boundary")
    bnd = read_layer(bnd, what="boundary") if bnd is not None else None
    kw = {
        "seed": a.seed,
        "min_persons": _recorded_bound(bnd, "min_persons", a.min_persons, 200),
        "max_persons": _recorded_bound(bnd, "max_persons", a.max_persons, 300),
        "locked": [x.strip() for x in a.locked.split(",") if x.strip()] if a.locked else None,
        "pinned": _read_table(a.pinned, "--pinned") if a.pinned else None,
    }
    if a.command == "changes":
        from .edits import apply_changes

        plan, changes = apply_changes(a.plan, _read_table(a.changes, "--changes"), crs=a.changes_crs, **kw)
    else:
        plan, changes = repartition(
            a.plan, _read_input(a, households, "households"), id_col=a.id_col, persons_col=a.persons_col, **kw
        )
    written = write_plan(plan, a.out, overwrite=a.overwrite)
    print(changes.summary())
    for why in changes.reasons:
        print(f"  {why}")
    print(plan.report.summary())
    print(f"wrote {', '.join(map(str, written))}")
    return EXIT_OK


def _read_table(path: str, flag: str):
    """A CSV or JSON (list of rows) table given on the command line."""
    import pandas as pd

    from .errors import InputError

    if not Path(path).exists():
        raise InputError(f"{flag}: file not found: {path}")
    try:
        if path.lower().endswith(".json"):
            return pd.read_json(path, orient="records", dtype=False)
        return pd.read_csv(path, dtype={"household_id": object, "grid_id": object})
    except ValueError as exc:
        raise InputError(f"{flag}: cannot read {path} as a table: {exc}") from None


def _cmd_staff(a) -> int:
    from .errors import InputError
    from .teams import assign_teams

    if not Path(a.plan).exists():
        raise InputError(f"plan file not found: {a.plan}")
    try:
        comp = {k.strip(): int(v) for k, v in (x.split(":") for x in a.composition.split(","))}
    except ValueError:
        raise InputError(f"--composition must look like leader:1,worker:3,volunteer:2, got {a.composition!r}") from None
    if a.out:
        _check_out(a.out, a, [a.plan, a.people])
    t = assign_teams(f"{a.plan}#grids", a.people, composition=comp, role_col=a.role_col, id_col=a.id_col)
    print(
        f"{len(t.members)} people assigned, total home-to-grid distance {t.total_distance_m:.0f} m; "
        f"{int(t.shortfalls['missing'].sum())} slots unfilled, {len(t.unassigned)} people not needed"
    )
    for r in t.shortfalls.itertuples():
        print(f"  grid {r.grid_id}: {r.missing} {r.role}(s) missing")
    if a.out:
        from .io import atomic_write

        atomic_write(Path(a.out), lambda tmp: t.members.to_csv(tmp, index=False, encoding="utf-8-sig"), a.overwrite)
    return EXIT_OK


def _cmd_map(a) -> int:
    from .viz import plan_from_file, save_plan_map

    out = _check_out(a.out, a, [a.plan])
    plan = plan_from_file(a.plan)
    save_plan_map(
        plan,
        out,
        basemap=a.basemap,
        tianditu_key=a.tianditu_key,
        labels=a.labels,
        households=True if a.households else None,
        overwrite=a.overwrite,
    )
    print(
        f"wrote {out}: {plan.n_grids} grids"
        + ("" if plan.report is None or plan.report.ok else f", {len(plan.report.errors)} errors shown in red")
    )
    return EXIT_OK


def _cmd_serve(a) -> int:
    from ._compat import import_optional
    from .errors import InputError

    import_optional("uvicorn", "service", "the HTTP service")
    serve = import_optional("microgrid.service", "service", "the HTTP service").serve
    if (
        not 0 < a.port < 65536
        or (a.jobs is not None and a.jobs < 1)
        or a.timeout <= 0
        or a.max_body_mb <= 0
        or a.body_timeout <= 0
        or a.max_job_mb < 0
    ):
        raise InputError(
            "--port must be 1..65535, --jobs >= 1, --timeout, --max-body-mb and --body-timeout > 0, --max-job-mb >= 0"
        )
    serve(
        a.host,
        a.port,
        max_jobs=a.jobs,
        max_queue=a.queue,
        timeout=a.timeout,
        max_body_bytes=int(a.max_body_mb * 1024 * 1024),
        body_timeout=a.body_timeout,
        max_job_mb=a.max_job_mb or None,
    )
    return EXIT_OK


def _quiet_dask(verbose: int) -> None:
    """Dask's INFO logs (a dozen lines per cluster start) only with -v."""
    if verbose:
        return
    import os

    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")  # read by dask here and in worker processes
    for name in (
        "distributed",
        "distributed.scheduler",
        "distributed.nanny",
        "distributed.worker",
        "distributed.core",
        "distributed.http.proxy",
        "distributed.deploy",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    if "dask" in sys.modules:
        import dask

        dask.config.set({"logging.distributed": "warning"})


def _read_input(a, src, what: str):
    """``src`` read with --encoding/--x-col/--y-col when they matter (a register, or an encoding named).

    Other paths are passed on as they are, for the library to read (its messages name the file).
    """
    from .io import split_layer
    from .io.registers import is_register

    if src is None or not isinstance(src, str):
        return src
    enc = getattr(a, "encoding", None)
    path = split_layer(src)[0]
    if not is_register(path) and (enc is None or not path.lower().endswith((".shp", ".dbf"))):
        return src
    from .io import read_layer

    return read_layer(
        src,
        what=what,
        encoding=enc,
        x_col=getattr(a, "x_col", None),
        y_col=getattr(a, "y_col", None),
        crs=getattr(a, "crs", None),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    ap = _build_parser()
    a = ap.parse_args(argv)
    level = logging.ERROR if a.quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(a.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _quiet_dask(a.verbose)
    from .errors import InfeasibleError, InternalError, MicrogridError

    try:
        if getattr(a, "crs", None) is not None:
            from .crs import check_crs

            check_crs(a.crs, what="--crs")  # the library checks it again; here it fails before any work
        run = {
            "partition": _cmd_partition,
            "partition-many": _cmd_partition_many,
            "validate": _cmd_validate,
            "repair": _cmd_repair,
            "ledger": _cmd_ledger,
            "staff": _cmd_staff,
            "repartition": _cmd_repartition,
            "changes": _cmd_repartition,
            "map": _cmd_map,
            "serve": _cmd_serve,
        }.get(a.command)
        if run is not None:
            return run(a)
    except InfeasibleError as exc:
        print(f"infeasible: {exc}", file=sys.stderr)
        return EXIT_INFEASIBLE
    except InternalError as exc:
        print(
            f"internal error (a bug in microgrid, not a problem with your input; please report it): {exc}",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    except MicrogridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_INPUT  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
