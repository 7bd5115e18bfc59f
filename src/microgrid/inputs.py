"""Stage 1: read and check the inputs, and bring them into one metric CRS.

Every check is collected before raising, so a user sees all problems of a
layer at once, each naming the offending ids and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ._types import CRSLike, LayerLike, LayerSource
from .barriers import rank_of
from .crs import check_crs, metric_crs_for
from .errors import InputError, ids_preview
from .io import read_layer, read_layers

if TYPE_CHECKING:
    from .options import PartitionOptions

__all__ = [
    "prepare_inputs",
    "estimate_households",
    "Inputs",
    "adopt_crs",
    "give_crs",
    "input_digests",
]

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Checked inputs in the metric working CRS."""

    households: gpd.GeoDataFrame  # columns: household_id, persons, geometry (sorted by id)
    boundary: shapely.Geometry  # Polygon or MultiPolygon
    barriers: gpd.GeoDataFrame  # columns: kind, rank, geometry (LineStrings)
    landmarks: gpd.GeoDataFrame | None
    work_crs: pyproj.CRS
    out_crs: pyproj.CRS
    id_col: str
    persons_col: str
    extra_columns: pd.DataFrame  # passthrough household columns, indexed by id
    notes: list[str] = field(default_factory=list)
    dropped: list = field(default_factory=list)
    snapped: list = field(default_factory=list)
    boundary_names: list = field(default_factory=list)  # the boundary rows' ``name``, carried into the plan


def input_digests(inp: Inputs) -> dict:
    """SHA-256 digests (first 16 hex digits) of the checked inputs, as a plan records them.

    Households (ids, persons and points), boundary, barriers (with kind) and
    landmarks, in the working CRS rounded to the millimetre, so the same data
    read from another file or format gives the same digests.
    """
    import hashlib

    def digest(*parts) -> str:
        h = hashlib.sha256()
        for p in parts:
            h.update(repr(p).encode() if not isinstance(p, bytes) else p)
        return h.hexdigest()[:16]

    def geoms(arr):
        return shapely.to_wkb(shapely.set_precision(np.asarray(arr, dtype=object), 0.001))

    hh = inp.households
    out = {
        "households": digest(
            hh["household_id"].astype(str).tolist(),
            hh["persons"].astype(int).tolist(),
            np.round(shapely.get_coordinates(hh.geometry.to_numpy()), 3).tobytes(),
        ),
        "boundary": digest(*geoms([inp.boundary])),
        "barriers": digest(inp.barriers["kind"].astype(str).tolist(), *geoms(inp.barriers.geometry.to_numpy())),
        "n_households": len(hh),
        "persons": int(hh["persons"].sum()),
    }
    if inp.landmarks is not None and len(inp.landmarks):
        out["landmarks"] = digest(*geoms(inp.landmarks.geometry.to_numpy()))
    return out


# ---------------------------------------------------------------- checks


def adopt_crs(gdf: gpd.GeoDataFrame | None, main: gpd.GeoDataFrame | None):
    """A bare shapely geometry (no CRS) takes the CRS of the main layer."""
    if (
        gdf is not None
        and gdf.crs is None
        and gdf.attrs.get("bare_geometry")
        and main is not None
        and main.crs is not None
    ):
        return gdf.set_crs(main.crs)
    return gdf


def give_crs(layers: dict, crs: CRSLike, problems: list[str]) -> None:
    """Give every layer without a CRS the CRS ``crs``, in place, or note that it has none.

    The frames are the caller's own (copies made by :func:`microgrid.read_layer`);
    ``layers`` maps a name used in messages to a frame or None.
    """
    for what, gdf in layers.items():
        if gdf is not None and gdf.crs is None:
            if crs is None:
                problems.append(_no_crs(what))
            else:
                gdf.set_crs(crs, inplace=True)


def _no_crs(what: str) -> str:
    return f"{what} has no CRS; set it on the data (gdf.set_crs(...)) or pass crs=... (CLI: --crs EPSG:XXXX)"


def _with_crs(gdf: gpd.GeoDataFrame | None, crs, what: str, problems: list[str]):
    if gdf is None:
        return None
    if len(gdf) == 0 and gdf.crs is None and what in ("barriers", "landmarks"):
        return None  # an empty optional layer needs no CRS
    if gdf.crs is None:
        if crs is None:
            problems.append(_no_crs(what))
            return None
        gdf = gdf.set_crs(crs)
    else:
        try:
            check_crs(gdf.crs, what=f"the {what}' CRS")
        except InputError as exc:
            problems.extend(exc.problems)
            return None
    return gdf


def _label(gdf: gpd.GeoDataFrame, mask, ids=None) -> list:
    idx = np.flatnonzero(np.asarray(mask))
    if ids is not None:
        return [ids[i] for i in idx]
    return [gdf.index[i] for i in idx]


def _check_households(
    hh: gpd.GeoDataFrame,
    id_col: str,
    persons_col: str,
    default_persons: int | None,
    problems: list[str],
) -> gpd.GeoDataFrame | None:
    """Households as ``household_id``, ``persons`` (whole numbers) and 2-D points; problems appended, else None."""
    n_before = len(problems)
    if len(hh) == 0:
        problems.append("households layer is empty; give at least one household point")
        return None
    if id_col not in hh.columns:
        problems.append(
            f"households have no id column {id_col!r} (columns: {', '.join(map(str, hh.columns))}); "
            "pass id_col=... (CLI: --id-col)"
        )
        return None
    ids = hh[id_col]
    _check_ids(hh, ids, id_col, problems)
    id_list = ids.tolist()
    hh = _check_persons(hh, persons_col, default_persons, id_list, problems, n_before)
    g = _check_points(hh, id_list, problems, n_before)
    if g is None:
        return None
    return gpd.GeoDataFrame(
        {"household_id": ids.to_numpy(), "persons": hh[persons_col].to_numpy()},
        geometry=g,
        crs=hh.crs,
        index=pd.RangeIndex(len(hh)),
    )


def _check_ids(hh, ids, id_col: str, problems: list[str]) -> None:
    """Every household has an id, unique, also once written as text."""
    missing = ids.isna().to_numpy()
    if missing.any():
        problems.append(
            f"{missing.sum()} households have no {id_col!r} (rows {ids_preview(_label(hh, missing))}); "
            "give every household a unique id"
        )
    dup = ids.duplicated(keep=False).to_numpy() & ~missing
    if dup.any():
        problems.append(
            f"duplicate household ids {ids_preview(sorted(set(ids[dup].tolist()), key=str))}; "
            "household ids must be unique"
        )
    as_text = ids.map(str)  # plan files, ledgers and reports write ids as text
    clash = as_text.duplicated(keep=False).to_numpy() & ~missing & ~dup
    if clash.any():
        groups: dict = {}
        for i in np.flatnonzero(clash):
            groups.setdefault(as_text.iloc[i], []).append(ids.iloc[i])
        shown = "; ".join(" and ".join(repr(v) for v in vals) for vals in list(groups.values())[:5])
        problems.append(
            f"household ids that differ only in type are the same once written as text "
            f"({shown}{'; ...' if len(groups) > 5 else ''}); give ids of one type (all text or all numbers), "
            "unique as text"
        )


def _check_persons(hh, persons_col: str, default_persons, id_list, problems: list[str], n_before: int):
    """Persons as whole numbers >= 0 (``default_persons`` when the column is absent and the caller says so)."""
    if persons_col not in hh.columns:
        if default_persons is None:
            problems.append(
                f"households have no persons column {persons_col!r}; pass persons_col=... "
                "(CLI: --persons-col), or default_persons=1 (CLI: --default-persons 1) to count one person per "
                "household"
            )
            return hh
        hh = hh.assign(**{persons_col: default_persons})
    raw = hh[persons_col]
    num = pd.to_numeric(raw, errors="coerce")
    v = num.to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(v)
    checks = [
        (
            (num.isna() & raw.notna()).to_numpy(),
            f"persons {persons_col!r} is not a number for households {{}}; give whole numbers >= 0",
        ),
        (raw.isna().to_numpy(), f"persons {persons_col!r} is missing for households {{}}; give whole numbers >= 0"),
        (ok & (v < 0), "persons is negative for households {}; give whole numbers >= 0"),
        (
            (ok & (v != np.round(v))) | (~np.isfinite(v) & ~np.isnan(v)),
            "persons is not a whole number for households {}; round the counts",
        ),
        (ok & (v > 1_000_000), "persons is implausibly large (> 1,000,000) for households {}; check the column"),
    ]
    for bad, text in checks:
        if bad.any():
            problems.append(text.format(ids_preview(_label(hh, bad, id_list))))
    if len(problems) == n_before:
        hh = hh.assign(**{persons_col: v.astype(np.int64)})
    return hh


def _check_points(hh, id_list, problems: list[str], n_before: int):
    """2-D points with finite coordinates (a one-point MultiPoint is taken as its point), or None."""
    geom = hh.geometry
    empty = (geom.isna() | geom.is_empty).to_numpy()
    if empty.any():
        problems.append(f"households {ids_preview(_label(hh, empty, id_list))} have no geometry; give each a point")
    types = geom.geom_type.to_numpy()
    single_mp = (types == "MultiPoint") & ~empty
    if single_mp.any():
        np_parts = shapely.get_num_geometries(geom.to_numpy())
        single_mp &= np_parts == 1
    notpoint = ~empty & (types != "Point") & ~single_mp
    if notpoint.any():
        kinds = sorted(set(types[notpoint].tolist()))
        problems.append(
            f"households must be points; {notpoint.sum()} are {'/'.join(kinds)} "
            f"(ids {ids_preview(_label(hh, notpoint, id_list))}); use their centroids or "
            "estimate_households() for building footprints"
        )
    if len(problems) > n_before:
        return None
    g = geom.to_numpy()
    if single_mp.any():
        g = g.copy()
        g[single_mp] = shapely.get_geometry(g[single_mp], 0)
    coords = shapely.get_coordinates(g)
    bad = ~np.isfinite(coords).all(axis=1)
    if bad.any():
        problems.append(
            f"households {ids_preview(_label(hh, bad, id_list))} have NaN or infinite coordinates; fix their positions"
        )
        return None
    return shapely.force_2d(g)


def _polygonal(geoms: np.ndarray) -> shapely.Geometry:
    polys = []
    for g in geoms:
        if g is None or g.is_empty:
            continue
        if g.geom_type in ("Polygon", "MultiPolygon"):
            polys.append(g)
        elif g.geom_type == "GeometryCollection":
            polys.extend(p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon"))
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _check_boundary(bnd: gpd.GeoDataFrame, problems: list[str], notes: list[str]):
    if len(bnd) == 0:
        problems.append("boundary layer is empty; give the community/village polygon")
        return None
    g = shapely.force_2d(bnd.geometry.to_numpy())
    types = bnd.geometry.geom_type.fillna("None").to_numpy()
    nonpoly = ~np.isin(types, ["Polygon", "MultiPolygon"])
    if nonpoly.all():
        problems.append(
            f"boundary must be Polygon/MultiPolygon, got {'/'.join(sorted(set(types)))}; "
            "if you have the outline as lines, polygonize it first"
        )
        return None
    if nonpoly.any():
        problems.append(
            f"boundary rows {ids_preview(_label(bnd, nonpoly))} are not polygons "
            f"({'/'.join(sorted(set(types[nonpoly])))}); remove them"
        )
        return None
    coords = shapely.get_coordinates(g)
    if not np.isfinite(coords).all():
        problems.append("boundary has NaN or infinite coordinates; fix the polygon")
        return None
    invalid = ~shapely.is_valid(g)
    if invalid.any():
        reasons = [shapely.is_valid_reason(x) for x in g[invalid]]
        g = g.copy()
        g[invalid] = shapely.make_valid(g[invalid])
        notes.append(
            f"boundary rows {ids_preview(_label(bnd, invalid))} were invalid "
            f"({'; '.join(reasons[:3])}) and were repaired with make_valid"
        )
    out = _polygonal(g)
    if out.is_empty or out.area <= 0:
        problems.append("boundary has zero area; give the community/village polygon")
        return None
    return out


def _check_barriers(bar: gpd.GeoDataFrame, kind_col: str | None, problems: list[str]):
    if bar is None or len(bar) == 0:
        return gpd.GeoDataFrame({"kind": [], "rank": []}, geometry=[], crs=None if bar is None else bar.crs)
    geom = shapely.force_2d(bar.geometry.to_numpy())
    types = bar.geometry.geom_type.fillna("None").to_numpy()
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    polys = np.isin(types, ["Polygon", "MultiPolygon"])
    other = ~empty & ~polys & ~np.isin(types, ["LineString", "MultiLineString", "LinearRing"])
    if polys.any():
        problems.append(
            f"barriers must be lines; rows {ids_preview(_label(bar, polys))} are polygons. "
            "Use their outlines (gdf.boundary) for walls or water areas"
        )
    if other.any():
        problems.append(
            f"barriers must be lines; rows {ids_preview(_label(bar, other))} are "
            f"{'/'.join(sorted(set(types[other])))}; remove them"
        )
    if polys.any() or other.any():
        return None
    if kind_col is None:
        kind_col = next((c for c in ("kind", "highway", "waterway", "railway", "barrier") if c in bar.columns), None)
    elif kind_col not in bar.columns:
        problems.append(f"barriers have no kind column {kind_col!r} (columns: {', '.join(map(str, bar.columns))})")
        return None
    kinds = bar[kind_col] if kind_col else pd.Series([None] * len(bar), index=bar.index)
    keep = ~empty
    geom = geom[keep]
    coords_ok = np.array([np.isfinite(shapely.get_coordinates(x)).all() for x in geom], dtype=bool)
    geom = geom[coords_ok]
    kinds = kinds[keep][coords_ok]
    parts, idx = shapely.get_parts(geom, return_index=True)
    parts = np.array([shapely.LineString(p.coords) if p.geom_type == "LinearRing" else p for p in parts], dtype=object)
    ok = shapely.length(parts) > 0
    k = kinds.to_numpy()[idx][ok]
    cols = {"kind": k, "rank": rank_of(pd.Series(k))}
    if "name" in bar.columns:
        cols["name"] = bar["name"][keep][coords_ok].to_numpy()[idx][ok]
    return gpd.GeoDataFrame(cols, geometry=parts[ok], crs=bar.crs)


#: Households this close to the boundary line (m) count as on it, hence inside: rounding of
#: coordinates must not turn a household digitized onto the boundary into an "outside" error.
ON_LINE_TOLERANCE = 0.01


#: Lon/lat conversions tried on households outside the boundary: (function in crs.py, households' system,
#: boundary's system).
_OFFSET_CAUSES = (
    ("gcj02_to_wgs84", "gcj02", "wgs84"),
    ("bd09_to_wgs84", "bd09", "wgs84"),
    ("wgs84_to_gcj02", "wgs84", "gcj02"),
    ("wgs84_to_bd09", "wgs84", "bd09"),
)
_SYSTEM_NAMES = {"gcj02": "GCJ-02 (Amap/Gaode, Tencent)", "bd09": "BD-09 (Baidu)", "wgs84": "WGS84"}


def _covers(bnd_w, xy_src: np.ndarray, src_crs, work) -> np.ndarray:
    """Which of the points ``xy_src`` (n x 2, in ``src_crs``) lie in the boundary (work CRS)."""
    with np.errstate(all="ignore"):
        x, y = pyproj.Transformer.from_crs(src_crs, work, always_xy=True).transform(xy_src[:, 0], xy_src[:, 1])
    ok = np.isfinite(x) & np.isfinite(y)
    res = np.zeros(len(xy_src), dtype=bool)
    res[ok] = shapely.covers(bnd_w, shapely.points(np.column_stack([x[ok], y[ok]])))
    return res


def _outside_cause(hh_src: gpd.GeoDataFrame, work, bnd_w, inside: np.ndarray) -> dict | None:
    """A systematic reason for households outside the boundary, or None.

    Tried: x and y swapped (the outside households fall inside with them
    exchanged), and a GCJ-02/BD-09 offset between the households and the
    boundary (at least 3 households outside, in China, and converting every
    household leaves at most a fifth of them outside).
    """
    from . import crs as crsmod

    xy = shapely.get_coordinates(hh_src.geometry.to_numpy())
    if len(xy) != len(inside):
        return None
    out = ~inside
    n_out = int(out.sum())
    swapped = _covers(bnd_w, xy[out][:, ::-1], hh_src.crs, work)
    if swapped.sum() >= max(1, 0.8 * n_out):
        return {"kind": "swapped", "fixed": int(swapped.sum())}
    if n_out < 3:
        return None
    try:
        with np.errstate(all="ignore"):
            lon, lat = pyproj.Transformer.from_crs(hh_src.crs, 4326, always_xy=True).transform(xy[:, 0], xy[:, 1])
    except Exception:  # no diagnosis: the plain message stands
        return None
    fin = np.isfinite(lon) & np.isfinite(lat)
    if not fin.any() or crsmod.out_of_china(np.median(lon[fin]), np.median(lat[fin])):
        return None
    best: dict | None = None
    for func, hh_sys, bnd_sys in _OFFSET_CAUSES:
        cx, cy = getattr(crsmod, func)(lon, lat)
        still_out = int((~_covers(bnd_w, np.column_stack([cx, cy]), 4326, work)).sum())
        if still_out <= 0.2 * n_out and (best is None or still_out < best["still_out"]):
            best = {"kind": "offset", "households": hh_sys, "boundary": bnd_sys, "still_out": still_out}
    return best


def _outside_message(
    out_ids: list, out_pts: np.ndarray, bnd_w, cause: dict | None, unplaceable: np.ndarray, hh_crs
) -> str:
    """The error for households outside the boundary: how many, how far, the likely cause and the fix."""
    n = len(out_ids)
    head = f"{n} households lie outside the boundary (ids {ids_preview(out_ids)}"
    d = shapely.distance(bnd_w, out_pts[~unplaceable]) if (~unplaceable).any() else np.array([])
    far = f"; up to {d.max():.1f} m outside" if len(d) else ""
    if cause is not None and cause["kind"] == "swapped":
        return (
            f"{head}{far}); {cause['fixed']} of them fall inside with x and y exchanged: their coordinates "
            "look swapped (latitude given as x, longitude as y). Swap them, e.g. "
            "geopandas.points_from_xy(df.lon, df.lat) with longitude first"
        )
    if cause is not None:
        h, b = cause["households"], cause["boundary"]
        system = h if h != "wgs84" else b
        conv = (
            f"microgrid.crs.to_wgs84(households, {system!r})"
            if h != "wgs84"
            else f"microgrid.crs.to_wgs84(boundary, {system!r}) (and the other layers)"
        )
        left = "all" if cause["still_out"] == 0 else f"all but {cause['still_out']}"
        return (
            f"{head}{far}), shifted by a consistent offset: the households look like {_SYSTEM_NAMES[h]} "
            f"coordinates and the boundary like {_SYSTEM_NAMES[b]}; converted, {left} households fall "
            f"inside. Convert with {conv}, or if every input is in {_SYSTEM_NAMES[system]} pass "
            f"input_crs={system!r} (CLI: --input-crs {system}); dropping or snapping them would not fix this"
        )
    if unplaceable.any():
        return (
            f"{head}{far}); {int(unplaceable.sum())} of them cannot be placed at all (coordinates outside "
            f"the valid range of their CRS {pyproj.CRS.from_user_input(hh_crs).name}, e.g. latitude beyond "
            "90 degrees); check their coordinates and the households' CRS"
        )
    return (
        f"{head}{far}); fix their positions or the boundary, or pass outside='drop' to leave them out or "
        "outside='snap' to move them onto the nearest point inside (CLI: --outside drop|snap)"
    )


def prepare_inputs(
    households: LayerLike,
    boundary: LayerLike,
    barriers: LayerLike = None,
    landmarks: LayerLike = None,
    *,
    options: PartitionOptions | None = None,
) -> Inputs:
    """Read, check and project all inputs to one metric CRS.

    ``options`` (a :class:`microgrid.PartitionOptions`; default: the
    defaults) gives ``id_col``, ``persons_col``, ``default_persons``,
    ``kind_col``, ``crs`` and ``outside``; see :func:`microgrid.partition`.
    Raises a single :class:`InputError` listing every problem found.
    """
    from .options import PartitionOptions

    o = PartitionOptions() if options is None else options
    id_col, persons_col, default_persons, kind_col = o.id_col, o.persons_col, o.default_persons, o.kind_col
    outside = "snap" if o.outside == "nearest" else o.outside  # the name partition_many uses
    crs = None if o.crs is None else check_crs(o.crs)  # one checked parse of the user's CRS
    problems: list[str] = []
    notes: list[str] = []
    hh_raw, bnd_raw, bar_raw, lm_raw = read_layers(
        {"households": households, "boundary": boundary, "barriers": barriers, "landmarks": landmarks}
    ).values()
    if hh_raw is None:
        raise InputError("households are required")
    # a Shapefile (.dbf) keeps 10 characters of a field name: household_id is household_ (GDAL), or hh_id
    # (a plan written by microgrid, SHP_FIELDS)
    from .io import SHP_FIELDS

    for short in (id_col[:10], SHP_FIELDS.get(id_col)):
        if id_col not in hh_raw.columns and len(id_col) > 10 and short in hh_raw.columns:
            hh_raw = hh_raw.rename(columns={short: id_col})
            notes.append(
                f"households: ids read from column {short!r}, the name {id_col!r} takes in a Shapefile "
                "(10 characters at most)"
            )
    if bnd_raw is None:
        raise InputError("a boundary polygon is required")

    hh_raw = _with_crs(hh_raw, crs, "households", problems)
    bnd_raw, bar_raw, lm_raw = (adopt_crs(x, hh_raw) for x in (bnd_raw, bar_raw, lm_raw))
    bnd_raw = _with_crs(bnd_raw, crs, "boundary", problems)
    bar_raw = _with_crs(bar_raw, crs, "barriers", problems)
    lm_raw = _with_crs(lm_raw, crs, "landmarks", problems)
    hh = _check_households(hh_raw, id_col, persons_col, default_persons, problems) if hh_raw is not None else None
    bnd = _check_boundary(bnd_raw, problems, notes) if bnd_raw is not None else None
    bar = _check_barriers(bar_raw, kind_col, problems) if bar_raw is not None else None
    if problems or hh is None or bnd is None or bnd_raw is None:
        raise InputError(problems or ["households and a boundary are needed"])

    out_crs = pyproj.CRS.from_user_input(hh.crs)
    bnd_crs = pyproj.CRS.from_user_input(bnd_raw.crs)
    work = metric_crs_for(bnd_raw, crs=out_crs)  # the kind of CRS follows the households

    def to_work(g):
        return g if pyproj.CRS.from_user_input(g.crs) == work else g.to_crs(work)

    hh_src = hh  # in the households' own CRS, to diagnose households outside the boundary
    hh = to_work(hh)
    bnd_w = gpd.GeoSeries([bnd], crs=bnd_crs)
    bnd_w = bnd_w.to_crs(work).iloc[0] if bnd_crs != work else bnd
    if not bnd_w.is_valid:
        bnd_w = _polygonal(np.array([shapely.make_valid(bnd_w)]))
    if bar is not None and len(bar):
        bar = to_work(bar)
        far = ~shapely.intersects(bnd_w, bar.geometry.to_numpy())
        if far.any():
            notes.append(
                f"{int(far.sum())} barrier lines lie entirely outside the boundary and play no part"
                + (
                    f" ({ids_preview(sorted(set(map(str, bar['name'][far].dropna()))))})"
                    if "name" in bar.columns and bar["name"][far].notna().any()
                    else ""
                )
            )
    else:
        bar = gpd.GeoDataFrame({"kind": [], "rank": []}, geometry=[], crs=work)
    lm = _landmarks(to_work(lm_raw), notes) if lm_raw is not None and len(lm_raw) else None
    hh, dropped, snapped = _inside(hh, hh_src, bnd_w, work, out_crs, outside, notes)
    if len(hh) == 0:
        raise InputError("no households are left inside the boundary")

    # canonical order: by id (shuffled input rows give the same plan)
    ids = hh["household_id"].to_numpy()
    try:
        order = np.argsort(ids, kind="stable")
    except TypeError:  # mixed id types: order by their text
        order = np.argsort(ids.astype(str), kind="stable")
    hh = hh.iloc[order].reset_index(drop=True)
    extra_cols = [c for c in hh_raw.columns if c not in (id_col, persons_col, hh_raw.geometry.name)]
    extra = pd.DataFrame(hh_raw[extra_cols].to_numpy(), columns=extra_cols, index=hh_raw[id_col].to_numpy())
    return Inputs(
        households=hh,
        boundary=bnd_w,
        barriers=bar,
        landmarks=lm,
        work_crs=work,
        out_crs=out_crs,
        id_col=id_col,
        persons_col=persons_col,
        extra_columns=extra,
        notes=notes,
        dropped=dropped,
        snapped=snapped,
        boundary_names=bnd_raw["name"].tolist() if "name" in bnd_raw.columns else [],
    )


def _landmarks(lm, notes: list[str]):
    """Landmarks (in the working CRS) with usable geometry; invalid ones repaired; what was done noted."""
    g = lm.geometry.to_numpy()
    bad = shapely.is_missing(g) | shapely.is_empty(g)
    bad |= np.array([not np.isfinite(shapely.get_coordinates(x)).all() if x is not None else True for x in g])
    if bad.any():
        notes.append(f"landmark rows {ids_preview(_label(lm, bad))} have no usable geometry and were left out")
    lm = lm[~bad].copy()
    invalid = ~shapely.is_valid(lm.geometry.to_numpy())
    if invalid.any():
        notes.append(f"landmark rows {ids_preview(_label(lm, invalid))} were invalid and were repaired with make_valid")
        fixed = shapely.make_valid(lm.geometry.to_numpy())
        lm = lm.set_geometry(gpd.GeoSeries(fixed, index=lm.index, crs=lm.crs))
    return lm


def _inside(hh, hh_src, bnd_w, work, out_crs, outside: str, notes: list[str]):
    """Households on the boundary line nudged inside; those outside refused, dropped or moved (``outside``).

    Returns the households and the ids dropped and moved.
    """
    pts = hh.geometry.to_numpy()
    shapely.prepare(bnd_w)
    inside = shapely.covers(bnd_w, pts)
    on_line = np.zeros(len(pts), dtype=bool)
    if not inside.all():  # on the boundary line up to rounding (e.g. digitized onto it): inside
        near = ~inside & np.isfinite(shapely.get_x(pts)) & np.isfinite(shapely.get_y(pts))
        on_line[near] = shapely.dwithin(bnd_w, pts[near], ON_LINE_TOLERANCE)
    if on_line.any():  # nudge them just inside, so that they fall in a grid and not on the rim of none
        inner = bnd_w.buffer(-ON_LINE_TOLERANCE / 2)
        if not inner.is_empty:
            pts = pts.copy()
            pts[on_line] = shapely.get_point(shapely.shortest_line(pts[on_line], inner), 1)
            hh = hh.set_geometry(gpd.GeoSeries(pts, crs=work, index=hh.index))
            notes.append(
                f"{int(on_line.sum())} households on the boundary line (within {ON_LINE_TOLERANCE} m) "
                f"were moved up to {ON_LINE_TOLERANCE} m inside: "
                f"{ids_preview(hh['household_id'].to_numpy()[on_line].tolist())}"
            )
        inside |= on_line
    dropped: list = []
    snapped: list = []
    if not inside.all():
        out_ids = hh["household_id"].to_numpy()[~inside].tolist()
        cause = _outside_cause(hh_src, work, bnd_w, inside)
        unplaceable = ~(np.isfinite(shapely.get_x(pts)) & np.isfinite(shapely.get_y(pts)))
        # dropping or snapping cannot mend swapped axes, nor an offset that moved a tenth of the households out
        wrong_data = cause is not None and (cause["kind"] == "swapped" or len(out_ids) >= 0.1 * len(inside))
        message = _outside_message(out_ids, pts[~inside], bnd_w, cause, unplaceable[~inside], out_crs)
        if outside == "error" or wrong_data or unplaceable.any():
            raise InputError(message)
        if cause is not None:  # a few households that a lon/lat offset would bring in: say so, then obey
            log.warning("%s", message)
            notes.append(message)
        if outside == "drop":
            hh = hh[inside].reset_index(drop=True)
            dropped = out_ids
            notes.append(f"{len(out_ids)} households outside the boundary were dropped: {ids_preview(out_ids)}")
        else:
            inner = bnd_w.buffer(-0.05)
            target = inner if not inner.is_empty else bnd_w
            near = shapely.shortest_line(pts[~inside], target)
            newpts = shapely.get_point(near, 1)
            g = pts.copy()
            g[~inside] = newpts
            hh = hh.set_geometry(gpd.GeoSeries(g, crs=work, index=hh.index))
            snapped = out_ids
            notes.append(f"{len(out_ids)} households outside the boundary were moved inside: {ids_preview(out_ids)}")
    return hh, dropped, snapped


# ---------------------------------------------------------------- estimation

#: Building types counted as homes by :func:`estimate_households` (OSM ``building=*``).
RESIDENTIAL_TYPES = frozenset(
    "yes residential apartments house detached semidetached_house terrace dormitory "
    "bungalow farm hut village_house".split()
)
_DEFAULT_LEVELS = {
    "house": 2,
    "detached": 2,
    "semidetached_house": 2,
    "terrace": 2,
    "bungalow": 1,
    "hut": 1,
    "farm": 2,
    "village_house": 2,
    "apartments": 6,
    "dormitory": 5,
    "residential": 5,
}
#: Share of households with 1..6 persons (mean about 2.6, close to China's 2020 census).
HOUSEHOLD_SIZE_P = (0.25, 0.30, 0.20, 0.13, 0.07, 0.05)


def estimate_households(
    buildings: LayerSource,
    *,
    floor_area_per_household: float = 90.0,
    levels_col: str = "building:levels",
    type_col: str = "building",
    residential_types: Collection[str] = RESIDENTIAL_TYPES,
    default_levels: float = 2.0,
    min_footprint: float = 20.0,
    size_probabilities: Sequence[float] = HOUSEHOLD_SIZE_P,
    seed: int | np.random.Generator | None = 0,
    id_prefix: str = "h",
    clip_to: LayerLike = None,
    households_per_entrance: int | None = 12,
) -> gpd.GeoDataFrame:
    """Estimate household points from building footprints.

    This is an **estimate** for users who have buildings but no household
    register: each residential building holds
    ``round(footprint area x levels / floor_area_per_household)`` households
    (at least one), each with a persons count drawn (seeded) from
    ``size_probabilities``. Households are placed at the building's
    entrances (单元): ``ceil(households / households_per_entrance)`` points
    spaced evenly along the footprint's long axis, consecutive households
    sharing an entrance. An apartment block thus becomes a row of sites that
    grid lines may pass between, as in practice (one micro-grid per entrance
    or group of entrances), instead of one site heavier than a grid.

    Parameters
    ----------
    buildings : GeoDataFrame or path
        Building footprints (polygons) with a CRS.
    floor_area_per_household : float
        Gross floor area one household occupies, m².
    levels_col, type_col : str
        Columns with the number of storeys and the building type (OSM tags
        ``building:levels`` and ``building``); missing columns are tolerated.
    residential_types : set of str
        Building types counted as homes; others get no households. A missing
        type counts as residential.
    default_levels : float
        Storeys for a building without a levels value (typical values per type,
        e.g. 6 for ``apartments``, are used first).
    min_footprint : float
        Footprints smaller than this (m²) are sheds and hold no household.
    size_probabilities : sequence of float
        Probabilities of households of 1, 2, ... persons.
    seed : int, Generator or None
        Seed for the persons draw.
    id_prefix : str
        Prefix of the generated household ids.
    households_per_entrance : int or None
        Households sharing one entrance (2 per floor x 6 floors = 12 by
        default); ``None`` puts all of a building's households on one point.
    clip_to : GeoDataFrame, geometry or path, optional
        A boundary: footprints are cut to it first, so a building crossing
        the boundary counts only with its part inside (its households are
        placed there).

    Returns
    -------
    GeoDataFrame
        ``household_id``, ``persons``, ``building`` (row label of the source
        building), point geometry, in the buildings' CRS.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> b = gpd.GeoDataFrame({"building": ["apartments"]},
    ...     geometry=[shapely.box(0, 0, 20, 30)], crs=32650)
    >>> hh = estimate_households(b, seed=1)
    >>> len(hh)  # 600 m2 x 6 storeys / 90 m2
    40
    """
    b = read_layer(buildings, what="buildings")
    if b.crs is None:
        raise InputError("buildings have no CRS; set one with gdf.set_crs(...)")
    check_crs(b.crs, what="the buildings' CRS")
    if floor_area_per_household <= 0:
        raise InputError("floor_area_per_household must be > 0")
    p = np.asarray(size_probabilities, dtype=float)
    if p.ndim != 1 or (p < 0).any() or p.sum() <= 0:
        raise InputError("size_probabilities must be non-negative with a positive sum")
    p = p / p.sum()
    rng = np.random.default_rng(seed)
    geom = b.geometry
    poly = geom.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    b = b[poly]
    if clip_to is not None and len(b):
        clip = read_layer(clip_to, what="boundary")
        if clip.crs is None:
            clip = clip.set_crs(b.crs)
        area_poly = shapely.union_all(shapely.make_valid(clip.to_crs(b.crs).geometry.to_numpy()))
        cut = shapely.intersection(shapely.make_valid(b.geometry.to_numpy()), area_poly)
        cut = np.array([_polygonal(np.array([x])) for x in cut], dtype=object)
        b = b.set_geometry(gpd.GeoSeries(cut, index=b.index, crs=b.crs))
        b = b[~b.geometry.is_empty]
    if len(b) == 0:
        return gpd.GeoDataFrame({"household_id": [], "persons": [], "building": []}, geometry=[], crs=geom.crs)
    work = metric_crs_for(b)
    area = b.geometry.to_crs(work).area.to_numpy()
    types = b[type_col].astype("string").str.lower().fillna("yes") if type_col in b else pd.Series("yes", index=b.index)
    if levels_col in b:
        lv = pd.to_numeric(b[levels_col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        lv = np.full(len(b), np.nan)
    dflt = types.map(lambda t: _DEFAULT_LEVELS.get(t, default_levels)).to_numpy(dtype=float)
    lv = np.where(np.isfinite(lv) & (lv > 0), lv, dflt)
    res = types.isin(list(residential_types)).to_numpy() & (area >= min_footprint)
    n = np.where(res, np.maximum(1, np.round(area * lv / floor_area_per_household)), 0).astype(int)
    footprints = b.geometry.to_numpy()
    total = int(n.sum())
    pts = np.empty(total, dtype=object)
    start = 0
    for fp, nb in zip(footprints, n.tolist()):
        if nb == 0:
            continue
        n_ent = 1 if not households_per_entrance else -(-nb // int(households_per_entrance))
        pts[start : start + nb] = np.repeat(_entrances(fp, n_ent), -(-nb // n_ent))[:nb]
        start += nb
    persons = rng.choice(np.arange(1, len(p) + 1), size=total, p=p)
    width = max(1, len(str(total)))
    return gpd.GeoDataFrame(
        {
            "household_id": [f"{id_prefix}{i:0{width}d}" for i in range(1, total + 1)],
            "persons": persons.astype(np.int64),
            "building": np.repeat(b.index.to_numpy(), n),
        },
        geometry=pts,
        crs=b.crs,
    )


def _entrances(footprint, k: int) -> np.ndarray:
    """``k`` points spaced along the long axis of ``footprint``, each inside it."""
    inside = shapely.point_on_surface(footprint)
    if k <= 1:
        return np.array([inside], dtype=object)
    rect = shapely.oriented_envelope(footprint)
    if rect.geom_type != "Polygon":
        return np.array([inside] * k, dtype=object)
    c = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = c[1] - c[0], c[2] - c[1]
    if np.hypot(*e1) >= np.hypot(*e2):  # long axis along e1: midline between the short edges' midpoints
        a, b = (c[0] + c[3]) / 2, (c[1] + c[2]) / 2
    else:
        a, b = (c[0] + c[1]) / 2, (c[3] + c[2]) / 2
    t = (np.arange(k) + 0.5) / k
    p = shapely.points(a[None] + t[:, None] * (b - a)[None])
    shapely.prepare(footprint)
    out = ~shapely.contains(footprint, p)
    if out.any():
        p[out] = shapely.get_point(
            shapely.shortest_line(p[out], shapely.buffer(footprint, -0.2) if footprint.area > 1 else footprint), 1
        )
        p[shapely.is_missing(p) | shapely.is_empty(p)] = inside
    return p
