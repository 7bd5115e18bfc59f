"""Result types: Plan and ValidationReport (reading and writing go through :mod:`microgrid.io`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._types import PathLike
from .errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Plan", "ValidationReport", "read_plan", "jsonable"]

_SEVERITIES = ("error", "flagged", "warning")


def jsonable(x: object) -> Any:
    """``x`` with numpy scalars and arrays as plain Python (for JSON); anything else unknown as text."""
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, (list, tuple, np.ndarray)):
        return [jsonable(i) for i in x]
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`microgrid.validate` found.

    Attributes
    ----------
    violations : GeoDataFrame
        One row per violation: ``check`` (name), ``severity`` (``"error"``,
        ``"flagged"`` for rule breaks the caller accepted, ``"warning"`` for
        slivers below the threshold), ``ids`` (grid or household ids),
        ``figure`` (an area, a count or persons), ``message`` and the
        geometry where it happens.
    metrics : dict
        Plan-wide figures (see ``docs``): ``n_grids``, ``in_bounds_share``,
        ``contiguous_share``, ``coverage_valid``, ``gap_area``,
        ``overlap_area``, ``outside_area``, ``households_in``,
        ``households_out``, ``persons_in``, ``persons_out``,
        ``online_share``, ``mean_polsby_popper``.
    per_grid : DataFrame
        Per grid: persons, households, area, on-line share, Polsby-Popper.
    notes : list of str
        What was repaired or dropped on the way in.

    Examples
    --------
    >>> import json, microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> plan.report.ok, len(plan.report.errors)
    (True, 0)
    >>> sorted(json.loads(plan.report.to_json()))
    ['metrics', 'notes', 'ok', 'violations']

    Take one grid away and the report names the gap and every household left
    without a grid:

    >>> grids = plan.grids[plan.grids["grid_id"] != 1]
    >>> report = microgrid.validate(grids, plan.households, plan.boundary, assignment_col="grid_id")
    >>> report.ok, "gap" in report.checks, "household_unknown_grid" in report.checks
    (False, True, True)
    >>> report.table("gap")["severity"].tolist()
    ['error']
    >>> "coverage INVALID" in report.summary()
    True
    """

    violations: gpd.GeoDataFrame
    metrics: dict
    per_grid: pd.DataFrame
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no violation has severity ``"error"``."""
        return not (self.violations["severity"] == "error").any()

    @property
    def errors(self) -> gpd.GeoDataFrame:
        """The violations of severity ``"error"``."""
        return self.violations[self.violations["severity"] == "error"]

    def table(self, check: str) -> gpd.GeoDataFrame:
        """The violations of one check, e.g. ``report.table("gap")``."""
        return self.violations[self.violations["check"] == check]

    @property
    def checks(self) -> list[str]:
        """Names of the checks that found something."""
        return sorted(set(self.violations["check"]))

    def to_dict(self) -> dict:
        """The report as plain Python (JSON-able): ``ok``, ``metrics``, ``violations`` (with WKT), ``notes``."""
        rows = []
        for r in self.violations.itertuples():
            rows.append(
                {
                    "check": r.check,
                    "severity": r.severity,
                    "ids": jsonable(r.ids),
                    "figure": jsonable(r.figure),
                    "message": r.message,
                    "wkt": None if r.geometry is None else r.geometry.wkt,
                }
            )
        return {"ok": self.ok, "metrics": jsonable(self.metrics), "violations": rows, "notes": list(self.notes)}

    def to_json(self, path: PathLike | None = None, *, overwrite: bool = False, **kw: Any) -> str:
        """The report as JSON text; written to ``path`` when given.

        An existing ``path`` is only replaced with ``overwrite=True``.
        """
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=kw.pop("indent", 2), **kw)
        if path is not None:
            from .io import atomic_write

            atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), overwrite)
        return text

    def summary(self) -> str:
        """The report in a few lines: grids, bounds, coverage, households, lines, shapes, errors."""
        m = self.metrics
        lines = [
            f"{m['n_grids']} grids; in bounds {m['in_bounds_share']:.0%}; contiguous {m['contiguous_share']:.0%}; "
            f"coverage {'valid' if m['coverage_valid'] else 'INVALID'} (gaps {m['gap_area']:.2f} m2, "
            f"overlaps {m['overlap_area']:.2f} m2, outside {m['outside_area']:.2f} m2)",
            f"households in/out {m['households_in']}/{m['households_out']}; persons in/out "
            f"{m['persons_in']}/{m['persons_out']}; on-line share {m['online_share']:.2f}; "
            f"mean Polsby-Popper {m['mean_polsby_popper']:.2f}",
        ]
        counts = self.violations.groupby(["severity", "check"]).size()
        for (sev, chk), c in counts.items():
            lines.append(f"  {sev}: {chk} x{c}")
        if self.ok:
            sev = set(self.violations["severity"])
            lines.append(
                "valid"
                + (" (with flagged grids)" if "flagged" in sev else "")
                + (" (with warnings)" if "warning" in sev else "")
            )
        return "\n".join(lines)

    def plot(self, grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame | None = None, **kw: Any) -> Axes:
        """Static map with every violation highlighted (matplotlib); returns the Axes.

        Keyword arguments go to :func:`microgrid.viz.plot_report` (``barriers``, ``boundary``, ``ax``,
        ``labels``, ``title``, ...).
        """
        from .viz import plot_report

        return plot_report(self, grids, households, **kw)

    def explore(self, grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame | None = None, **kw: Any):
        """Interactive map (folium, ``pip install microgrid[viz]``); returns the ``folium.Map``.

        Keyword arguments go to :func:`microgrid.viz.explore_report` (``barriers``, ``boundary``, ...).
        """
        from .viz import explore_report

        return explore_report(self, grids, households, **kw)

    def __repr__(self) -> str:
        return f"<ValidationReport ok={self.ok} violations={len(self.violations)}>"


@dataclass(frozen=True)
class Plan:
    """A partition of a community into grids.

    Attributes
    ----------
    grids : GeoDataFrame
        One row per grid: ``grid_id``, ``persons``, ``households``,
        ``flagged`` (a rule the caller allowed to break, with ``flag_reason``),
        ``area_m2``, ``polsby_popper``, geometry; in the households' CRS.
    households : GeoDataFrame
        Every input household with its ``grid_id`` (ids as given, in id order).
    report : ValidationReport
        The validation of this plan.
    boundary : GeoDataFrame or None
        The boundary the plan tiles.
    barriers : GeoDataFrame or None
        The barriers used (clipped to the boundary), with ``kind`` and ``rank``.
    units : GeoDataFrame or None
        The units the grids were built from (``unit_id``, ``grid_id``,
        ``persons``), in the households' CRS.
    params : dict
        The parameters the plan was made with.
    layers : dict of GeoDataFrame
        Coarser levels of a nested plan, ``{"grids_<name>": grids}``; each
        grid's children in the next finer layer carry its id as ``parent_id``.
    level_reports : dict of ValidationReport
        Validation of each coarser level against its own bounds.
    options : PartitionOptions
        Every option the plan was made with: ``partition(..., options=plan.options)``
        on the same inputs gives the same plan. ``params["inputs"]`` holds the
        digests of the inputs it was made from.

    Examples
    --------
    >>> import pathlib, tempfile, microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> plan
    <Plan grids=3 households=300 ok=True>
    >>> plan.summary().splitlines()[0]
    '3 grids, 825 persons in 300 households; persons per grid 258..288'
    >>> tmp = tempfile.TemporaryDirectory()
    >>> [p.name for p in plan.to_file(pathlib.Path(tmp.name) / "plan.gpkg")]
    ['plan.gpkg']
    >>> plan.to_file(pathlib.Path(tmp.name) / "plan.gpkg")  # never replaced by accident
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: ... exists; pass overwrite=True (CLI: --overwrite) to replace it
    >>> tmp.cleanup()
    """

    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    report: ValidationReport
    boundary: gpd.GeoDataFrame | None = None
    barriers: gpd.GeoDataFrame | None = None
    units: gpd.GeoDataFrame | None = None
    params: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    level_reports: dict = field(default_factory=dict)
    options: Any = None  # the PartitionOptions the plan was made with (None for a plan read from a foreign file)

    @property
    def n_grids(self) -> int:
        """Number of grids."""
        return len(self.grids)

    @property
    def divided_sites(self) -> gpd.GeoDataFrame:
        """Sites divided between grids, one row per part (empty when none was divided).

        Columns: ``site_id``, ``site_label`` (building or landmark name),
        ``site_persons``, ``part``, ``parts``, ``grid_id``, ``households``,
        ``persons``, ``entrances``, ``floors``, ``first_household``,
        ``last_household``; geometry: the part of the site's cell in that grid.
        Households of a divided site carry ``site_id`` and ``site_part``.
        """
        from .sites import DIVIDED_COLUMNS

        lay = self.layers.get("divided_sites")
        if lay is None:
            return gpd.GeoDataFrame(
                columns=DIVIDED_COLUMNS, geometry=gpd.GeoSeries([], crs=self.grids.crs), crs=self.grids.crs
            )
        return lay

    def summary(self) -> str:
        """The plan in a few lines: grids, persons, flagged, divided sites, then the report's summary."""
        g = self.grids
        return (
            f"{len(g)} grids, {int(g['persons'].sum())} persons in {int(g['households'].sum())} households; "
            f"persons per grid {int(g['persons'].min())}..{int(g['persons'].max())}"
            + (f"; {int(g['flagged'].sum())} flagged" if g["flagged"].any() else "")
            + (
                f"\n{self.divided_sites['site_id'].nunique()} buildings/landmarks divided between grids "
                f"({len(self.divided_sites)} parts; layer divided_sites)"
                if len(self.divided_sites)
                else ""
            )
            + (
                f"\ncoordinates in {_SYSTEM_NAMES[self.coord_system]}, as the inputs (field coord_system of the "
                "boundary layer)"
                if self.coord_system in _SYSTEM_NAMES
                else ""
            )
            + "\n"
            + self.report.summary()
        )

    @property
    def coord_system(self) -> str | None:
        """``"gcj02"`` or ``"bd09"`` for a plan in those lon/lat systems (``input_crs=``), else None."""
        s = self.params.get("input_crs")
        return s if s in _SYSTEM_NAMES else None

    def to_file(self, path: PathLike, *, overwrite: bool = False) -> list:
        """Write the plan; returns the paths written.

        A ``.gpkg`` path (the default format) gets layers ``grids``,
        ``households``, ``boundary``, ``barriers`` and each extra layer (coarser levels,
        ``divided_sites``); for ``.geojson``, ``.shp`` or ``.parquet`` the files
        ``<stem>_grids<suffix>``, ``<stem>_households<suffix>`` and
        ``<stem>_divided_sites<suffix>`` (when sites were divided; GeoParquet
        also gets the coarser levels) are written.
        Files are written to a temporary name and renamed, so an interrupted
        write never leaves a partial plan; an existing file is only replaced
        with ``overwrite=True``.

        A PostgreSQL URL writes PostGIS tables in one transaction (needs
        ``microgrid[postgis]``; see :func:`microgrid.io.postgis.write_plan`):
        ``"postgresql://USER:PASSWORD@HOST:PORT/DB#plan_"`` writes
        ``plan_grids``, ``plan_households``, ``plan_boundary``,
        ``plan_barriers`` and each extra layer in schema ``public``;
        ``"...#SCHEMA.plan_"`` writes them in ``SCHEMA``. The returned list
        then holds ``URL#SCHEMA.TABLE`` strings.
        """
        from .io import write_plan

        return write_plan(self, path, overwrite=overwrite)

    def info_table(self) -> pd.DataFrame:
        """How the plan was made, as ``key``/``value`` (JSON) rows: what a plan file stores in ``plan_info``.

        Keys: ``microgrid_version``, ``options`` (:class:`PartitionOptions`),
        ``inputs`` (digests of the inputs), ``params`` (working CRS, dropped
        and moved households, timings, ...).
        """
        from . import __version__

        params = {k: v for k, v in self.params.items() if k != "inputs"}
        rows = [
            ("microgrid_version", __version__),
            ("options", None if self.options is None else self.options.to_dict()),
            ("inputs", self.params.get("inputs")),
            ("params", params),
        ]
        return pd.DataFrame(
            {"key": [k for k, _ in rows], "value": [json.dumps(jsonable(v), ensure_ascii=False) for _, v in rows]}
        )

    def plot(self, **kw: Any) -> Axes:
        """Static map (matplotlib); returns the Axes.

        Grids coloured so neighbours differ, labelled with code and persons, barriers by class,
        households, flagged grids hatched, legend, scale bar.

        Keyword arguments go to :func:`microgrid.viz.plot_plan` (``ax``, ``labels``, ``households``,
        ``barriers``, ``title``, ``figsize``, ``legend``, ...).
        """
        from .viz import plot_plan

        return plot_plan(self, **kw)

    def explore(self, **kw: Any):
        """Interactive map (folium, the ``viz`` extra); returns the ``folium.Map``.

        Popups with code, name, persons, households and team, violations in red, a layer control.

        Keyword arguments go to :func:`microgrid.viz.explore_plan` (``teams``, ``households``, ...).
        """
        from .viz import explore_plan

        return explore_plan(self, **kw)

    def __repr__(self) -> str:
        return f"<Plan grids={len(self.grids)} households={len(self.households)} ok={self.report.ok}>"


#: Lon/lat systems a plan may be written in besides WGS84, as the summary names them.
_SYSTEM_NAMES = {"gcj02": "GCJ-02 (Amap/Gaode, Tencent)", "bd09": "BD-09 (Baidu)"}


def read_plan(path: PathLike) -> Plan:
    """Open a saved plan as a :class:`Plan`: plot, explore, validate, repartition or write it again.

    Parameters
    ----------
    path : path or str
        A plan GeoPackage written by :meth:`Plan.to_file` (or ``microgrid
        partition --out``), or a PostgreSQL URL
        ``postgresql://.../DB#[SCHEMA.]PREFIX`` naming the tables
        ``{PREFIX}grids``, ``{PREFIX}households`` (and ``boundary``,
        ``barriers`` when written).

    Returns
    -------
    Plan
        Its layers (coarser levels and ``divided_sites`` included), the
        options it was made with (``plan.options``; None for a file written
        by another tool or an older microgrid) and a fresh validation report
        against the bounds its boundary layer records.

    Examples
    --------
    >>> import microgrid, pathlib, tempfile
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> tmp = tempfile.TemporaryDirectory()
    >>> [p.name for p in plan.to_file(pathlib.Path(tmp.name) / "plan.gpkg")]
    ['plan.gpkg']
    >>> again = read_plan(pathlib.Path(tmp.name) / "plan.gpkg")
    >>> again.n_grids, len(again.households), again.report.ok, again.options == plan.options
    (3, 300, True, True)
    >>> tmp.cleanup()
    """
    from .io import read_plan_layers

    return _plan_from_layers(*read_plan_layers(path))


def _plan_from_layers(frames: dict, info: dict) -> Plan:
    from .options import PartitionOptions
    from .validate import validate

    grids, hh = frames.pop("grids"), frames.pop("households")
    bnd, bars, units = frames.pop("boundary", None), frames.pop("barriers", None), frames.pop("units", None)
    options = None
    if info.get("options"):
        try:
            options = PartitionOptions.from_dict(info["options"])
        except InputError:  # a Generator seed, or options of another version: the plan is still a plan
            options = None
    params = dict(info.get("params") or {})
    if info.get("inputs"):
        params["inputs"] = info["inputs"]
    lo, hi = _recorded_bounds(bnd, options)
    divided = frames.get("divided_sites")
    if bnd is None:
        raise InputError(
            "the plan has no boundary layer to validate it against; write it with Plan.to_file, or "
            "validate its grids with microgrid.validate(..., boundary=...)"
        )
    report = validate(
        grids,
        hh,
        bnd,
        bars if bars is not None and len(bars) else None,
        min_persons=lo,
        max_persons=hi,
        assignment_col="grid_id" if "grid_id" in hh.columns else None,
        divided_sites=divided,
    )
    return Plan(
        grids=grids,
        households=hh,
        report=report,
        boundary=bnd,
        barriers=bars,
        units=units,
        params=params,
        layers=frames,
        options=options,
    )


def _recorded_bounds(bnd, options) -> tuple[int, int]:
    """The bounds a plan was made with: its options, else its boundary layer's columns, else 200..300."""
    if options is not None:
        return options.specs[-1][1], options.specs[-1][2]
    out = []
    for col, dflt in (("min_persons", 200), ("max_persons", 300)):
        v = bnd[col].iloc[0] if bnd is not None and col in bnd.columns and len(bnd) else dflt
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise InputError(
                f"the plan's boundary layer records {col}={v!r}, not a whole number; fix it in the file"
            ) from None
    return out[0], out[1]
