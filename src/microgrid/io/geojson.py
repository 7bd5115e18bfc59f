"""GeoJSON in and out: FeatureCollections to GeoDataFrames and plans to FeatureCollections.

Used by the HTTP service and useful on its own, e.g. to feed a web map::

    fc = microgrid.io.geojson.plan_to_geojson(plan)["grids"]

GeoJSON follows RFC 7946: coordinates are WGS84 longitude/latitude unless the
caller names another CRS (the service's ``crs`` member), in which case the
output is in that CRS too and carries a ``crs`` member naming it.
"""

from __future__ import annotations

import functools
import json
import math
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

from .._types import CRSLike
from ..errors import InputError, ids_preview

if TYPE_CHECKING:
    import pyproj

    from ..plan import Plan

__all__ = ["read_feature_collection", "to_feature_collection", "plan_to_geojson", "WGS84"]

WGS84 = "EPSG:4326"

_GEOMETRY_TYPES = (
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
)


_CRS_FORMS = (
    "the EPSG code of a CRS on Earth, such as 'EPSG:4547' (CGCS2000 Gauss-Kruger) or "
    "'EPSG:32650' (UTM), or leave crs out for WGS84 longitude/latitude (RFC 7946)"
)
_CRS_HINT = "give " + _CRS_FORMS


def _crs_of(crs: CRSLike | dict[str, Any]) -> pyproj.CRS:
    """The CRS named by a request's ``crs`` member, checked to be a horizontal CRS on Earth.

    Accepts a string or integer pyproj knows, the 2008 GeoJSON forms
    ``{"type": "name", "properties": {"name": ...}}`` and ``{"type": "EPSG",
    "properties": {"code": ...}}``, or a PROJJSON object. Anything else,
    and any CRS that cannot be converted to WGS84 (another celestial body,
    an engineering/local CRS, a vertical or geocentric one), is an
    :class:`InputError`.
    """
    import pyproj

    if crs is None:
        return pyproj.CRS.from_user_input(WGS84)
    if isinstance(crs, pyproj.CRS):  # from a layer: the caller's own
        return crs
    if isinstance(crs, dict):
        kind, props = crs.get("type"), crs.get("properties")
        if kind is None and isinstance(props, dict) and "name" in props:
            kind = "name"  # as read before: the type member left out
        if kind in ("name", "EPSG"):
            key = "name" if kind == "name" else "code"
            value = props.get(key) if isinstance(props, dict) else None
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise InputError(
                    f"crs: a {{'type': {kind!r}}} crs needs 'properties': {{{key!r}: ...}} naming the CRS; {_CRS_HINT}"
                )
            crs = value if kind == "name" else f"EPSG:{value}"
        else:
            try:
                crs = json.dumps(crs, sort_keys=True)  # PROJJSON, hashable for the cache
            except (TypeError, ValueError):
                raise InputError(f"crs: not a CRS object; {_CRS_HINT}") from None
    if isinstance(crs, bool) or not isinstance(crs, (str, int)):
        raise InputError(f"crs: a {type(crs).__name__} is not a CRS; {_CRS_HINT}")
    _check_crs(crs)
    return pyproj.CRS.from_user_input(crs)


@functools.lru_cache(maxsize=64)
def _check_crs(crs: str | int) -> None:
    """Raise InputError unless ``crs`` names a horizontal CRS on Earth (only the verdict is cached)."""
    from ..crs import check_crs

    check_crs(crs, what="crs:", forms=_CRS_FORMS)


def read_feature_collection(
    fc: dict[str, Any] | str | bytes | None, *, what: str, crs: CRSLike | dict[str, Any] = None
) -> gpd.GeoDataFrame | None:
    """A GeoJSON FeatureCollection (dict or JSON text) as a GeoDataFrame.

    Parameters
    ----------
    fc : dict, str, bytes or None
        A FeatureCollection, a single Feature, or a bare geometry object.
    what : str
        Name of the input, used in error messages.
    crs : pyproj.CRS, str, int or dict, optional
        CRS of the coordinates (default WGS84 longitude/latitude); a dict is
        a GeoJSON 2008 ``crs`` member or a PROJJSON object.

    Returns
    -------
    GeoDataFrame or None
        Properties become columns; a Feature's ``id`` becomes column ``id``
        when properties carry none.

    Raises
    ------
    InputError
        Naming each feature (by position) whose geometry cannot be read.

    Examples
    --------
    >>> fc = {"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "properties": {"household_id": 1, "persons": 3},
    ...      "geometry": {"type": "Point", "coordinates": [116.3, 39.9]}}]}
    >>> gdf = read_feature_collection(fc, what="households")
    >>> gdf[["household_id", "persons"]].values.tolist(), gdf.crs.to_epsg()
    ([[1, 3]], 4326)
    """
    if fc is None:
        return None
    if isinstance(fc, (str, bytes)):
        try:
            fc = json.loads(fc)
        except ValueError as exc:
            raise InputError(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(fc, dict):
        raise InputError(f"{what}: expected a GeoJSON FeatureCollection object, got {type(fc).__name__}")
    kind = fc.get("type")
    if kind == "Feature":
        fc = {"type": "FeatureCollection", "features": [fc]}
    elif kind in _GEOMETRY_TYPES:
        fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": fc, "properties": {}}]}
    elif kind != "FeatureCollection":
        raise InputError(f"{what}: expected a GeoJSON FeatureCollection, got type {kind!r}")
    features = fc.get("features")
    if not isinstance(features, list):
        raise InputError(f"{what}: a FeatureCollection needs a 'features' list")
    in_crs = _crs_of(crs)
    geoms: list = []
    rows: list = []
    bad: list = []
    empty: list = []
    at, xy = [], []  # plain points, made at once below: shapely.geometry.shape costs ~30 us a feature
    for i, f in enumerate(features):
        if not isinstance(f, dict) or f.get("type") != "Feature":
            bad.append(i)
            geoms.append(None)
            rows.append({})
            continue
        g = f.get("geometry")
        c = g.get("coordinates") if type(g) is dict and g.get("type") == "Point" else None
        if type(c) is list and 2 <= len(c) <= 3 and all(type(v) is float or type(v) is int for v in c):
            at.append(i)
            xy.append(c[:2])
            geoms.append(None)
        elif g is None:
            empty.append(i)
            geoms.append(None)
        else:
            try:
                geom = shapely.geometry.shape(g)
                if not np.isfinite(shapely.get_coordinates(geom)).all():
                    raise ValueError("non-finite coordinate")
                if shapely.has_z(geom):  # heights play no part in a plan
                    geom = shapely.force_2d(geom)
                geoms.append(geom)
            except Exception:  # shapely raises many types for malformed coordinates
                bad.append(i)
                geoms.append(None)
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            bad.append(i)
            props = {}
        props = dict(props)
        if "id" in f and "id" not in props:
            props["id"] = f["id"]
        rows.append(props)
    if at:
        try:
            arr = np.array(xy, dtype=float)
        except OverflowError:  # an integer beyond any float
            arr = np.array([[_float(v) for v in c] for c in xy], dtype=float)
        finite = np.isfinite(arr).all(axis=1)
        bad.extend(np.asarray(at)[~finite].tolist())
        for i, p in zip(at, shapely.points(np.where(finite[:, None], arr, 0.0))):
            geoms[i] = p
    problems = []
    bad = sorted(set(bad))
    if bad:
        problems.append(
            f"{what}: {len(bad)} feature(s) are not readable GeoJSON features (features[{ids_preview(bad)}]); "
            "each needs \"type\": \"Feature\", a 'geometry' with a valid 'type' and finite 'coordinates', and "
            "'properties' as an object"
        )
    if empty:
        problems.append(
            f"{what}: {len(empty)} feature(s) have no geometry (features[{ids_preview(empty)}]); "
            "give each one a geometry or leave it out"
        )
    far = [] if problems else _off_the_earth(geoms, in_crs)
    if far:
        problems.append(
            f"{what}: {len(far)} feature(s) have coordinates that are not on the Earth in {in_crs.name} "
            f"(features[{ids_preview(far)}]); longitude/latitude must lie within -360..360 and -90..90: if the "
            "coordinates are in another CRS, name it in the request's crs"
        )
    if problems:
        raise InputError(problems)
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs=in_crs).values, crs=in_crs)


def _float(v) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _off_the_earth(geoms: list, crs) -> list[int]:
    """Positions of the geometries with a coordinate that is no place on Earth in ``crs``."""
    import pyproj

    arr = np.array(geoms + [None], dtype=object)[:-1]
    xy, idx = shapely.get_coordinates(arr, return_index=True)
    if not len(xy):
        return []
    x, y = xy[:, 0], xy[:, 1]
    if not crs.is_geographic:
        with np.errstate(all="ignore"):
            x, y = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True).transform(x, y, errcheck=False)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 360) & (np.abs(y) <= 90)
    return np.unique(idx[~ok]).tolist()


def _clean_value(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def to_feature_collection(gdf: gpd.GeoDataFrame | None, *, crs: CRSLike | dict[str, Any] = None) -> dict | None:
    """A GeoDataFrame as a GeoJSON FeatureCollection dict, in ``crs`` (default WGS84).

    Non-finite numbers become ``null``; a non-WGS84 ``crs`` is named in a
    ``crs`` member so that clients cannot mistake the coordinates.

    Parameters
    ----------
    gdf : GeoDataFrame or None
        Any layer with a CRS; ``None`` gives ``None``.
    crs : pyproj.CRS, str, int or dict, optional
        Output CRS (default WGS84, RFC 7946); a dict is a GeoJSON 2008 ``crs``
        member or a PROJJSON object.

    Returns
    -------
    dict or None

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    >>> fc = to_feature_collection(g)
    >>> fc["type"], fc["features"][0]["properties"], fc["features"][0]["geometry"]["type"]
    ('FeatureCollection', {'grid_id': 1}, 'Polygon')
    """
    if gdf is None:
        return None
    target = _crs_of(crs)
    out = gdf
    if out.crs is not None and not out.crs.equals(target):
        out = out.to_crs(target)
    out = out[[c for c in out.columns if c != out.geometry.name] + [out.geometry.name]]
    fc = json.loads(out.to_json(na="null", show_bbox=False, drop_id=True, to_wgs84=False))
    for f in fc["features"]:
        f["properties"] = {k: _clean_value(v) for k, v in f["properties"].items()}
    if target.to_epsg() != 4326:
        fc["crs"] = {"type": "name", "properties": {"name": target.to_string()}}
    return fc


def plan_to_geojson(plan: Plan, *, crs: CRSLike | dict[str, Any] = None) -> dict:
    """A plan's layers as FeatureCollections: ``grids``, ``households`` and each extra layer.

    Parameters
    ----------
    plan : Plan
        Any plan, e.g. from :func:`microgrid.partition`.
    crs : pyproj.CRS, str, int or dict, optional
        Output CRS (default WGS84, RFC 7946); any other CRS is named in each
        collection's ``crs`` member.

    Returns
    -------
    dict of str to dict
        ``{"grids": FeatureCollection, "households": FeatureCollection, ...}``.

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> fc = plan_to_geojson(plan)
    >>> sorted(fc), len(fc["grids"]["features"]), len(fc["households"]["features"])
    (['grids', 'households'], 3, 300)
    >>> fc["grids"]["features"][0]["properties"]["code"]
    '000000000000001'
    >>> plan_to_geojson(plan, crs="EPSG:32650")["grids"]["crs"]
    {'type': 'name', 'properties': {'name': 'EPSG:32650'}}
    """
    out = {
        "grids": to_feature_collection(plan.grids, crs=crs),
        "households": to_feature_collection(plan.households, crs=crs),
    }
    for name, layer in plan.layers.items():
        out[name] = to_feature_collection(layer, crs=crs)
    return out
