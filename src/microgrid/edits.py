"""Change lists from a grid-management platform: households added, removed, moved or resized.

:func:`changed_households` applies a change list to a plan's households and
names every bad row; :func:`apply_changes` then updates the plan with the
least churn (:func:`microgrid.repartition`), with locks and pins as there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._types import CRSLike, PathLike
from .errors import InputError
from .io import read_layer
from .plan import Plan

if TYPE_CHECKING:
    from .repartition import ChangeReport

__all__ = ["apply_changes", "changed_households", "OPS"]

#: The operations of a change list and the fields each needs besides ``op`` and ``household_id``.
OPS = {"add": ("x", "y", "persons"), "remove": (), "move": ("x", "y"), "persons": ("persons",)}


def _rows(changes) -> list[dict]:
    if isinstance(changes, pd.DataFrame):
        return [{k: v for k, v in r.items() if not _missing(v)} for r in changes.to_dict("records")]
    if isinstance(changes, dict):
        changes = [changes]
    try:
        rows = [dict(r) for r in changes]
    except (TypeError, ValueError):
        raise InputError(
            "changes must be a list of dicts or a DataFrame with columns op, household_id, x, y, persons"
        ) from None
    return rows


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _check_row(i: int, r: dict, present: set) -> str | None:
    """The problem of row ``i`` (given the ids present before it), or None; updates ``present``."""
    op, hid = r.get("op"), r.get("household_id")
    if op not in OPS:
        return f"row {i}: op {op!r} is not one of {', '.join(OPS)}"
    if _missing(hid):
        return f"row {i} ({op}): no household_id"
    missing = [k for k in OPS[op] if _missing(r.get(k))]
    if missing:
        return f"row {i} ({op} {hid!r}): missing {', '.join(missing)}"
    bad = [k for k in OPS[op] if _number(r[k]) is None]
    if bad:
        return f"row {i} ({op} {hid!r}): {', '.join(f'{k}={r[k]!r}' for k in bad)} not a number"
    n = _number(r["persons"]) if "persons" in OPS[op] else None
    if n is not None and (n < 1 or n != int(n)):
        return f"row {i} ({op} {hid!r}): persons={r['persons']!r} must be a whole number >= 1"
    extra = set(r) - {"op", "household_id", *OPS[op]}
    if extra:
        return f"row {i} ({op} {hid!r}): fields {', '.join(sorted(map(str, extra)))} do not belong to {op!r}"
    if op == "add":
        if hid in present:
            return f"row {i}: household {hid!r} to add is already there (use move or persons to change it)"
        present.add(hid)
    elif hid not in present:
        return f"row {i} ({op}): household {hid!r} is not among the plan's households"
    elif op == "remove":
        present.discard(hid)
    return None


def changed_households(
    households: gpd.GeoDataFrame,
    changes: Iterable[Mapping[str, Any]] | Mapping[str, Any] | pd.DataFrame,
    *,
    crs: CRSLike = None,
) -> gpd.GeoDataFrame:
    """The households after a change list, applied row by row in order.

    Parameters
    ----------
    households : GeoDataFrame
        Current households (``household_id``, ``persons``, points).
    changes : list of dict, dict or DataFrame
        Rows ``{"op": "add", "household_id", "x", "y", "persons"}``,
        ``{"op": "remove", "household_id"}``, ``{"op": "move",
        "household_id", "x", "y"}``, ``{"op": "persons", "household_id",
        "persons"}``.
    crs : pyproj.CRS, str or int, optional
        CRS of ``x``/``y`` (default: that of ``households``).

    Raises
    ------
    InputError
        Naming every bad row (unknown op, missing or non-numeric fields,
        an id added twice, or changed or removed without being there).

    Examples
    --------
    >>> import microgrid
    >>> from microgrid.edits import changed_households
    >>> hh = microgrid.samples.make_village(300, seed=1)[0]
    >>> x, y = hh.geometry.iloc[0].x, hh.geometry.iloc[0].y
    >>> out = changed_households(hh, [{"op": "add", "household_id": "new1", "x": x, "y": y, "persons": 3},
    ...                               {"op": "remove", "household_id": hh["household_id"].iloc[1]}])
    >>> len(out) == len(hh)
    True
    """
    rows = _rows(changes)
    if households is None or "household_id" not in households.columns:
        raise InputError("the plan's households have no household_id column; a change list names households by it")
    if pd.api.types.is_integer_dtype(households["household_id"]):  # ids read from CSV or JSON come as text
        for r in rows:
            h = r.get("household_id")
            if isinstance(h, str) and h.strip().lstrip("-").isdigit():
                r["household_id"] = int(h)
    present = set(households["household_id"].tolist())
    problems = [p for i, r in enumerate(rows) if (p := _check_row(i, r, present)) is not None]
    if problems:
        raise InputError(
            [f"{len(problems)} of {len(rows)} changes are wrong:"]
            + problems[:20]
            + ([f"(and {len(problems) - 20} more)"] if len(problems) > 20 else [])
        )
    hh = households.copy()
    xy_crs = hh.crs if crs is None else crs
    pos = {h: i for i, h in enumerate(hh["household_id"].tolist())}
    geoms = list(hh.geometry.to_numpy())
    persons = hh["persons"].tolist()
    gone, added = set(), []
    for r in rows:
        op, hid = r["op"], r["household_id"]
        if op == "add":
            added.append(hid)
            pos[hid] = len(geoms)
            geoms.append(_point(r, xy_crs, hh.crs))
            persons.append(int(_number(r["persons"]) or 0))  # checked: a whole number >= 1
            gone.discard(pos[hid])
        elif op == "remove":
            gone.add(pos.pop(hid))
        elif op == "move":
            geoms[pos[hid]] = _point(r, xy_crs, hh.crs)
        else:
            persons[pos[hid]] = int(_number(r["persons"]) or 0)  # checked: a whole number >= 1
    extra = pd.DataFrame({"household_id": added})
    out = pd.concat([pd.DataFrame(hh.drop(columns=hh.geometry.name)), extra], ignore_index=True)
    out["persons"] = np.asarray(persons, dtype=np.int64)
    out = gpd.GeoDataFrame(out, geometry=geoms, crs=hh.crs)
    keep = np.ones(len(out), bool)
    keep[list(gone)] = False
    return out[keep].drop(columns=[c for c in ("grid_id",) if c in out.columns]).reset_index(drop=True)


def _point(r: dict, src, dst):
    p = shapely.Point(_number(r["x"]), _number(r["y"]))
    if src is None or dst is None or src == dst:
        return p
    return gpd.GeoSeries([p], crs=src).to_crs(dst).iloc[0]


def apply_changes(
    plan: Plan | PathLike,
    changes: Iterable[Mapping[str, Any]] | Mapping[str, Any] | pd.DataFrame,
    *,
    crs: CRSLike = None,
    **kwargs: Any,
) -> tuple[Plan, ChangeReport]:
    """Apply a platform's change list to ``plan`` and update it with the least churn.

    Parameters
    ----------
    plan : Plan or path
        The current plan.
    changes : list of dict, dict or DataFrame
        See :func:`changed_households`.
    crs : pyproj.CRS, str or int, optional
        CRS of the changes' ``x``/``y`` (default: that of the plan's
        households).
    **kwargs
        Passed to :func:`microgrid.repartition` (``locked``, ``pinned``,
        ``seed``, ``min_persons``, ``max_persons``, ...).

    Returns
    -------
    (Plan, ChangeReport)

    Raises
    ------
    InputError
        Bad rows, named (see :func:`changed_households`).

    Examples
    --------
    >>> import microgrid
    >>> hh, bnd, roads, marks = microgrid.samples.make_village(600, seed=1)
    >>> plan = microgrid.partition(hh, bnd, roads, marks)
    >>> new_plan, report = microgrid.apply_changes(plan, [{"op": "persons", "household_id":
    ...                                                   hh["household_id"].iloc[0], "persons": 4}])
    >>> new_plan.report.ok, len(new_plan.households) == len(hh)
    (True, True)
    """
    from .repartition import repartition

    old = plan.households if isinstance(plan, Plan) else read_layer(plan, layer="households", what="households")
    return repartition(plan, changed_households(old, changes, crs=crs), **kwargs)
