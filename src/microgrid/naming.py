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

import numpy as np
import shapely

from .errors import InputError

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


def grid_codes(sequence: np.ndarray, prefix: str = "000000000000", parent_codes=None) -> list[str]:
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


def grid_names(grids: np.ndarray, landmarks=None, barriers=None, *, name_col: str = "name",
               max_distance: float = 100.0) -> list[str | None]:
    """A human name per grid: the landmark inside it, else the nearest one, else its main road.

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
    """
    out: list[str | None] = [None] * len(grids)
    if landmarks is not None and len(landmarks) and name_col in landmarks.columns:
        lm = landmarks[landmarks[name_col].notna()]
        if len(lm):
            pts = shapely.point_on_surface(lm.geometry.to_numpy())
            names = lm[name_col].astype(str).to_numpy()
            tree = shapely.STRtree(pts)
            gi, li = tree.query(grids, predicate="contains")
            for g_, l_ in sorted(zip(gi.tolist(), li.tolist())):
                if out[g_] is None:
                    out[g_] = names[l_]
            missing = [i for i, o in enumerate(out) if o is None]
            if missing:
                gi2, li2 = tree.query_nearest(grids[missing], max_distance=max_distance, all_matches=False)
                for g_, l_ in zip(gi2.tolist(), li2.tolist()):
                    out[missing[g_]] = f"{names[l_]}附近"
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
    return out
