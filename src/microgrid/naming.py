"""Codes and names of grids.

Codes follow the 15-digit unit-grid pattern: a 12-digit prefix (6-digit
administrative division code + 3-digit street/town + 3-digit community)
followed by a 3-digit grid sequence; each finer level appends its own
3-digit suffix. Sequences run in rows north to south, west to east within a
row, so the same plan always gets the same codes.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import shapely

from .errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["grid_codes", "grid_names", "check_prefix"]


def check_prefix(prefix: str) -> str:
    """Validate a 12-digit code prefix (administrative 6 + street 3 + community 3).

    Examples
    --------
    >>> check_prefix("110108001002")
    '110108001002'
    """
    prefix = str(prefix)
    if not re.fullmatch(r"\d{12}", prefix):
        raise InputError(
            f"code prefix must be 12 digits (6-digit division code + 3-digit street/town + 3-digit "
            f"community), got {prefix!r}"
        )
    return prefix


def grid_codes(
    sequence: np.ndarray, prefix: str = "000000000000", parent_codes: Sequence[str] | np.ndarray | None = None
) -> list[str]:
    """Codes for grids numbered ``sequence`` (1-based) under ``prefix`` or their parents' codes.

    Examples
    --------
    >>> grid_codes(np.array([1, 2]), "110108001002")
    ['110108001002001', '110108001002002']
    >>> grid_codes(np.array([1, 2]), parent_codes=["110108001002001"] * 2)
    ['110108001002001001', '110108001002001002']
    """
    seq = np.asarray(sequence)
    if (seq < 1).any():
        raise InputError("grid sequences start at 1")
    width = 3
    if len(seq) and seq.max() > 999:
        width = len(str(int(seq.max())))
        warnings.warn(
            f"{int(seq.max())} grids under one code: the sequence takes {width} digits, so codes no longer "
            "fit the 15-digit unit-grid pattern; split the area by community (parents) to keep 3 digits",
            stacklevel=3,
        )
    if parent_codes is not None:
        return [f"{p}{int(s):0{width}d}" for p, s in zip(parent_codes, seq)]
    prefix = check_prefix(prefix)
    return [f"{prefix}{int(s):0{width}d}" for s in seq]


#: Eight directions, counter-clockwise from east, for names such as 祠堂东 or 村大道西南段.
_DIRECTIONS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")


def _direction(origin: shapely.Point, to: shapely.Point) -> str:
    """One of the eight directions from ``origin`` to ``to`` (metric CRS), or '' when they meet."""
    dx, dy = to.x - origin.x, to.y - origin.y
    if dx * dx + dy * dy < 1e-6:
        return ""
    sector = int(np.floor((np.degrees(np.arctan2(dy, dx)) + 22.5) % 360 / 45)) % 8
    return _DIRECTIONS[sector]


def grid_names(
    grids: np.ndarray,
    landmarks: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
    *,
    name_col: str = "name",
    max_distance: float = 100.0,
) -> list[str | None]:
    """A human name per grid, unique within the plan: the landmark inside it, else the nearest one, else its road.

    Parameters
    ----------
    grids : array of Polygon
        Grid geometries (metric CRS).
    landmarks : GeoDataFrame, optional
        Points/polygons with a ``name_col`` column.
    barriers : GeoDataFrame, optional
        Lines with ``name_col`` and ``rank``; the best-ranked named barrier on
        the grid's boundary names grids with no landmark nearby.
    max_distance : float
        How far (m) a landmark outside the grid may be to lend its name.

    Notes
    -----
    A grid holding a landmark takes its name (``祠堂``); one within
    ``max_distance`` of it takes ``祠堂附近``; one with neither, its main road
    (``村大道沿线``). When several grids would share a name, the grid holding
    the landmark keeps it and the others take their direction from the
    landmark (``祠堂东``, ``祠堂西南``) or, along a road, from the road's
    middle (``村大道东段``); names still shared then get a sequence number
    (``祠堂东1``, ``祠堂东2``) in the grids' order.

    Examples
    --------
    >>> import geopandas as gpd
    >>> sq = [shapely.box(x, y, x + 100, y + 100) for x, y in [(0, 0), (100, 0), (-100, 0), (0, 100)]]
    >>> marks = gpd.GeoDataFrame({"name": ["祠堂"]}, geometry=[shapely.Point(50, 50)])
    >>> grid_names(np.array(sq), marks)
    ['祠堂', '祠堂东', '祠堂西', '祠堂北']
    """
    out: list[str | None] = [None] * len(grids)
    origin: list[shapely.Point | None] = [None] * len(grids)  # what a name's direction is taken from
    holds = [False] * len(grids)  # the grid holds its landmark
    if landmarks is not None and len(landmarks) and name_col in landmarks.columns:
        lm = landmarks[landmarks[name_col].notna()]
        if len(lm):
            pts = shapely.point_on_surface(lm.geometry.to_numpy())
            names = lm[name_col].astype(str).to_numpy()
            tree = shapely.STRtree(pts)
            gi, li = tree.query(grids, predicate="contains")
            for g_, l_ in sorted(zip(gi.tolist(), li.tolist())):
                if out[g_] is None:
                    out[g_], origin[g_], holds[g_] = names[l_], pts[l_], True
            missing = [i for i, o in enumerate(out) if o is None]
            if missing:
                gi2, li2 = tree.query_nearest(grids[missing], max_distance=max_distance, all_matches=False)
                for g_, l_ in zip(gi2.tolist(), li2.tolist()):
                    out[missing[g_]], origin[missing[g_]] = f"{names[l_]}附近", pts[l_]
    road_of: dict[int, str] = {}
    if barriers is not None and len(barriers) and name_col in barriers.columns:
        b = barriers[barriers[name_col].notna() & (barriers[name_col].astype(str) != "")]
        if len(b):
            lines = b.geometry.to_numpy()
            rank = b["rank"].to_numpy() if "rank" in b.columns else np.full(len(b), 3)
            names = b[name_col].astype(str).to_numpy()
            tree = shapely.STRtree(lines)
            for i in [i for i, o in enumerate(out) if o is None]:
                ring = shapely.boundary(grids[i])
                cand = tree.query(ring, predicate="dwithin", distance=1.0)
                if len(cand):
                    ln = shapely.length(shapely.intersection(shapely.buffer(ring, 1.0), lines[cand]))
                    best = sorted(range(len(cand)), key=lambda j: (rank[cand[j]], -ln[j], names[cand[j]]))[0]
                    out[i] = f"{names[cand[best]]}沿线"
                    road_of[i] = names[cand[best]]
            middles = {n: shapely.centroid(shapely.union_all(lines[names == n])) for n in set(road_of.values())}
            for i, n in road_of.items():
                origin[i] = middles[n]
    return _unique_names(out, grids, origin, holds, road_of)


def _unique_names(out, grids, origin, holds, road_of) -> list[str | None]:
    """Shared names told apart by direction from their landmark or road, then by sequence."""
    out = list(out)
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(out):
        if n is not None:
            groups.setdefault(n, []).append(i)
    for n, idx in groups.items():
        if len(idx) < 2:
            continue
        keep = [i for i in idx if holds[i]]
        for i in idx:
            if holds[i] and len(keep) == 1:
                continue  # the grid holding the landmark keeps its bare name
            d = _direction(origin[i], shapely.point_on_surface(grids[i])) if origin[i] is not None else ""
            if not d:
                continue
            if i in road_of:
                out[i] = f"{road_of[i]}{d}段"
            else:
                out[i] = f"{n.removesuffix('附近')}{d}"
    counts: dict[str, int] = {}
    for n in out:
        if n is not None:
            counts[n] = counts.get(n, 0) + 1
    taken = {n for n, c in counts.items() if c == 1}
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        if n is None or counts[n] == 1:
            continue
        k = seen.get(n, 0)
        while True:
            k += 1
            cand = f"{n}{k}"
            if cand not in taken:
                break
        seen[n] = k
        taken.add(cand)
        out[i] = cand
    return out
