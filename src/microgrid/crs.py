"""Coordinate reference systems: pick the metric CRS all work happens in.

Also converts the obfuscated lon/lat systems of Chinese web maps to and from
WGS84: GCJ-02 (国测局坐标, "Mars coordinates": Amap/Gaode, Tencent, Google
China) and BD-09 (Baidu), point arrays and whole geometries alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyproj
from numpy.typing import ArrayLike

from ._types import CRSLike, LayerLike
from .errors import InputError

if TYPE_CHECKING:
    import geopandas as gpd

    from .plan import Plan

#: Longitudes and latitudes (float arrays), as the point conversions pass them.
_Pair: TypeAlias = tuple[np.ndarray, np.ndarray]
#: One step of a point conversion (e.g. WGS84 to GCJ-02).
_Step: TypeAlias = Callable[[np.ndarray, np.ndarray], _Pair]

#: The six point conversions between WGS84, GCJ-02 and BD-09, by name; :mod:`microgrid` exports them too.
POINT_CONVERSIONS = (
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
)

__all__ = [
    "check_crs",
    "is_metric_true",
    "metric_crs",
    "metric_crs_for",
    "gauss_kruger_zone",
    "CGCS2000",
    "SYSTEMS",
    "normalize_system",
    "out_of_china",
    *POINT_CONVERSIONS,
    "to_wgs84",
    "from_wgs84",
    "layer_to_wgs84",
    "plan_from_wgs84",
]

CGCS2000 = pyproj.CRS.from_epsg(4490)
_WGS84 = pyproj.CRS.from_epsg(4326)


def _is_cgcs2000(crs: pyproj.CRS) -> bool:
    geod = crs.geodetic_crs
    return geod is not None and "China Geodetic Coordinate System 2000" in geod.name


def gauss_kruger_zone(lon: float) -> pyproj.CRS:
    """CGCS2000 3-degree Gauss-Krüger CRS (EPSG:4534-4554) whose central meridian is nearest ``lon``.

    Parameters
    ----------
    lon : float
        Longitude in degrees, 73.5-136.5 E.

    Returns
    -------
    pyproj.CRS

    Raises
    ------
    InputError
        Outside the zones.

    Examples
    --------
    >>> gauss_kruger_zone(116.3).to_epsg()
    4548
    """
    cm = int(round(lon / 3.0)) * 3
    if not 75 <= cm <= 135:
        raise InputError(
            f"longitude {lon:.3f} is outside the CGCS2000 Gauss-Krüger zones (73.5E-136.5E); "
            "pass a projected CRS with crs=... instead"
        )
    return pyproj.CRS.from_epsg(4534 + (cm - 75) // 3)


#: What :func:`check_crs` accepts, for error messages.
CRS_FORMS = (
    "an EPSG code ('EPSG:4326' lon/lat, 'EPSG:4490' CGCS2000, 'EPSG:32650' UTM 50N, or the number 4326), "
    "a PROJ string ('+proj=utm +zone=50 +datum=WGS84'), WKT, or a pyproj.CRS, of a geographic or "
    "projected CRS on the Earth"
)


def _crs_label(value: Any) -> str:
    text = repr(value.name if isinstance(value, pyproj.CRS) else value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_crs(value: Any, *, what: str = "crs", forms: str = CRS_FORMS) -> pyproj.CRS:
    """``value`` as a :class:`pyproj.CRS`, or an InputError saying which CRS forms work.

    Every CRS a user gives (``crs=``, ``--crs``, the CRS stored in a layer)
    goes through here. Accepted: geographic (longitude/latitude) and
    projected CRSs on the Earth, also as the horizontal part of a compound
    CRS. Refused: unknown names and codes, other bodies (``IAU_2015:30100``
    is on the Moon), local engineering CRSs (``LOCAL_CS``), geocentric and
    vertical CRSs: none of them can place a household on a map.

    Parameters
    ----------
    value : CRS-like
        Anything :meth:`pyproj.CRS.from_user_input` accepts.
    what : str
        Name of the value in the error message (``"crs"``, ``"households' CRS"``).
    forms : str
        What to give instead, ending each message (``give {forms}``).

    Returns
    -------
    pyproj.CRS
        ``value`` parsed, as it is (a compound CRS stays compound).

    Raises
    ------
    InputError
        When ``value`` is no CRS, or no CRS microgrid can work in.

    Examples
    --------
    >>> check_crs("EPSG:4490").name
    'China Geodetic Coordinate System 2000'
    >>> check_crs("foo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    microgrid.errors.InputError: crs 'foo' is not a CRS (unrecognized format / unknown name); give an EPSG code ...
    """
    if isinstance(value, pyproj.CRS):
        crs = value
    else:
        if value is None or isinstance(value, bool):
            raise InputError(f"{what} {value!r} is not a CRS; give {forms}")
        try:
            crs = pyproj.CRS.from_user_input(value)
        except Exception as exc:  # pyproj raises CRSError, TypeError, ValueError... for bad input
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            detail = detail.rsplit("proj_create: ", 1)[-1].rstrip(")")
            raise InputError(f"{what} {_crs_label(value)} is not a CRS ({detail[:120]}); give {forms}") from None
    horizontal = crs.sub_crs_list[0] if crs.is_compound and crs.sub_crs_list else crs
    if horizontal.is_bound and horizontal.source_crs is not None:
        horizontal = horizontal.source_crs
    if not (horizontal.is_geographic or horizontal.is_projected):
        raise InputError(
            f"{what} {_crs_label(value)} is neither geographic nor projected ({crs.type_name}: {crs.name}) "
            f"and cannot place points on a map; give {forms}"
        )
    try:
        pyproj.Transformer.from_crs(crs, _WGS84, always_xy=True)
    except Exception:
        raise InputError(
            f"{what} {_crs_label(value)} ({crs.name}) cannot be converted to WGS84 longitude/latitude "
            f"(a CRS of another celestial body, or one without a datum); give {forms}"
        ) from None
    return crs


#: Largest deviation of a projected CRS's scale from 1 at the data for it to be worked in as it is.
MAX_SCALE_ERROR = 0.01


def is_metric_true(crs: CRSLike, lon: float, lat: float) -> bool:
    """True when ``crs`` is projected in metres with scale within 1 % of true at ``lon``/``lat``.

    Web Mercator (EPSG:3857) is projected in "metres" but 1.3 times too large
    at 40 degrees latitude (areas 1.7 times); feet are not metres. Data in
    such a CRS is worked in a local metric CRS instead.

    Parameters
    ----------
    crs : CRS-like
        See :func:`check_crs`.
    lon, lat : float
        Degrees (WGS84): where the data lies.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_metric_true("EPSG:32650", 117.0, 40.0), is_metric_true("EPSG:3857", 117.0, 40.0)
    (True, False)
    """
    crs = check_crs(crs)
    if crs.is_compound and crs.sub_crs_list:
        crs = crs.sub_crs_list[0]
    if not crs.is_projected or not crs.axis_info:
        return False
    if any(ax.unit_conversion_factor != 1.0 for ax in crs.axis_info[:2]):
        return False
    try:
        f = pyproj.Proj(crs).get_factors(lon, lat)
        scales = np.array([f.meridional_scale, f.parallel_scale, f.areal_scale], dtype=float)
    except Exception:  # no factors for this projection: do not trust it
        return False
    return bool(np.isfinite(scales).all() and (np.abs(scales - 1.0) <= MAX_SCALE_ERROR).all())


def metric_crs(crs: CRSLike, lon: float, lat: float) -> pyproj.CRS:
    """The metric CRS to work in for data in ``crs`` centred at ``lon``/``lat`` (degrees).

    A projected CRS in metres whose scale at ``lon``/``lat`` is within 1 % of
    true is kept as it is. Geographic CGCS2000 input (and a CGCS2000
    projection that is not metric-true there) gets its 3-degree
    Gauss-Krüger zone; any other CRS gets its local UTM zone. Web Mercator
    (EPSG:3857) and CRSs in feet are thus never worked in as they are.

    Parameters
    ----------
    crs : CRS-like
        The data's CRS (see :func:`check_crs`).
    lon, lat : float
        Degrees: the middle of the data.

    Returns
    -------
    pyproj.CRS

    Examples
    --------
    >>> metric_crs("EPSG:4326", 116.35, 40.0).to_epsg()
    32650
    >>> metric_crs("EPSG:4490", 116.35, 40.0).to_epsg()
    4548
    >>> metric_crs("EPSG:3857", 116.35, 40.0).to_epsg()  # Web Mercator: 1.3x too large here
    32650
    """
    crs = check_crs(crs)
    finite = math.isfinite(lon) and math.isfinite(lat)
    if finite and abs(lat) <= 90 and is_metric_true(crs, lon, lat):
        return crs
    if not finite or abs(lat) > 84:
        raise InputError(f"cannot choose a metric CRS at lon={lon}, lat={lat}; pass a projected CRS")
    if _is_cgcs2000(crs):
        return gauss_kruger_zone(lon)
    zone = int((lon + 180) // 6) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def metric_crs_for(gdf: gpd.GeoDataFrame | gpd.GeoSeries, crs: CRSLike = None) -> pyproj.CRS:
    """The metric CRS to work in for a layer: :func:`metric_crs` at the middle of its extent.

    ``crs`` decides the kind of CRS (default: the layer's own), e.g. the
    households' CRS when choosing for a whole set of inputs.

    Parameters
    ----------
    gdf : GeoDataFrame or GeoSeries
        A layer with a CRS.
    crs : CRS-like, optional
        The CRS whose kind decides (default: ``gdf.crs``).

    Returns
    -------
    pyproj.CRS

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> metric_crs_for(gpd.GeoSeries([shapely.Point(116.35, 40.0)], crs=4326)).to_epsg()
    32650
    """
    if gdf.crs is None:
        raise InputError("the layer has no CRS; set it on the data (gdf.set_crs(...)) or pass crs=...")
    own = check_crs(gdf.crs, what="the layer's CRS")
    x0, y0, x1, y1 = gdf.total_bounds
    lon, lat = pyproj.Transformer.from_crs(own, _WGS84, always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    return metric_crs(crs if crs is not None else own, lon, lat)


# ---------------------------------------------------------------- GCJ-02 and BD-09
#
# The published reference formulas (the same constants as in every open
# implementation, e.g. wandergis/coordTransform and googollee/eviltransform):
# GCJ-02 adds to WGS84 a smooth offset of a few hundred metres computed on the
# Krasovsky ellipsoid; BD-09 rotates and shifts GCJ-02 slightly. Neither has a
# closed-form inverse: the inverses below iterate the forward transform until
# it reproduces the input within 1e-12 degrees (about 0.1 µm), so a
# WGS84 -> GCJ-02 -> WGS84 round trip is exact to floating-point noise.

#: Accepted names of the lon/lat systems, by canonical name.
SYSTEMS: dict[str, tuple[str, ...]] = {
    "wgs84": ("wgs84", "wgs-84", "wgs 84", "epsg:4326", "4326"),
    "gcj02": ("gcj02", "gcj-02", "gcj", "mars", "amap", "gaode"),
    "bd09": ("bd09", "bd-09", "bd09ll", "baidu"),
}
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_TOL_DEG = 1e-12  # ~0.1 µm, far below the promised 0.01 m; reached in 4-5 steps
_MAX_ITER = 30


def normalize_system(system: str) -> str:
    """The canonical name (``"wgs84"``, ``"gcj02"`` or ``"bd09"``) of a lon/lat system.

    Case, hyphens and spaces do not matter (``"GCJ-02"``, ``"BD-09"``).

    Parameters
    ----------
    system : str
        A name of WGS84, GCJ-02 or BD-09 (see ``SYSTEMS``), e.g. ``"amap"``
        or ``"baidu"``.

    Returns
    -------
    str

    Raises
    ------
    InputError
        For any other value; the message lists the accepted names.

    Examples
    --------
    >>> normalize_system("GCJ-02"), normalize_system("BD-09"), normalize_system("WGS84")
    ('gcj02', 'bd09', 'wgs84')
    """
    key = str(system).strip().lower().replace("_", "-") if system is not None else ""
    for name, aliases in SYSTEMS.items():
        if key in aliases or key.replace("-", "").replace(" ", "") in aliases:
            return name
    raise InputError(
        f"unknown coordinate system {system!r}; use one of 'wgs84', 'gcj02' (GCJ-02: Amap/Gaode, Tencent) "
        "or 'bd09' (BD-09: Baidu)"
    )


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        lon, lat = np.broadcast_arrays(lon, lat)
    return lon, lat


def _out(lon: np.ndarray, lat: np.ndarray) -> tuple[Any, Any]:
    if lon.ndim == 0:
        return float(lon), float(lat)
    return lon, lat


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies outside the rough box of China in which GCJ-02 differs from WGS84.

    The box is the one all published implementations use: longitude
    72.004..137.8347, latitude 0.8293..55.8271 degrees.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees.

    Returns
    -------
    bool ndarray

    Examples
    --------
    >>> bool(out_of_china(116.4, 39.9)), bool(out_of_china(2.35, 48.86))
    (False, True)
    """
    lon, lat = _arrays(lon, lat)
    return ~((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 (degrees) at the WGS84 point ``lon``/``lat``; zero outside China."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * np.pi)
    out = out_of_china(lon, lat)
    return np.where(out, 0.0, dlon), np.where(out, 0.0, dlat)


def _invert(forward: _Step, lon: np.ndarray, lat: np.ndarray, lon0: np.ndarray, lat0: np.ndarray) -> _Pair:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from ``(lon0, lat0)``.

    The transforms are a small smooth offset of the identity, so each step
    shrinks the error by a factor of about a thousand; a few steps reach
    ``_TOL_DEG``.
    """
    x, y = lon0.copy(), lat0.copy()
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        err = np.maximum(np.abs(ex), np.abs(ey))
        if not np.any(err[np.isfinite(err)] > _TOL_DEG):
            break
    return _polish(forward, lon, lat, x, y)


def _polish(forward: _Step, lon: np.ndarray, lat: np.ndarray, x: np.ndarray, y: np.ndarray, reach: int = 1) -> _Pair:
    """Move each solution by up to ``reach`` units in the last place where that fits better.

    Makes round trips bit-exact in almost all cases: ``x`` whose forward
    transform hits the target exactly is preferred to a neighbour off by
    rounding noise.
    """
    fx, fy = forward(x, y)
    best = np.abs(fx - lon) + np.abs(fy - lat)
    bx, by = x.copy(), y.copy()
    ux, uy = np.spacing(x), np.spacing(y)
    for i in range(-reach, reach + 1):
        for j in range(-reach, reach + 1):
            if i == 0 and j == 0:
                continue
            cx, cy = x + i * ux, y + j * uy
            fx, fy = forward(cx, cy)
            r = np.abs(fx - lon) + np.abs(fy - lat)
            better = r < best
            bx, by, best = np.where(better, cx, bx), np.where(better, cy, by), np.where(better, r, best)
    return bx, by


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    dlon, dlat = _gcj_offset(lon, lat)
    return _invert(_wgs_to_gcj, lon, lat, lon - dlon, lat - dlat)


def _gcj_to_bd(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> _Pair:
    return _invert(_gcj_to_bd, lon, lat, *_bd_to_gcj_approx(lon, lat))


def _convert(lon: ArrayLike, lat: ArrayLike, *steps: _Step) -> tuple[Any, Any]:
    """The point conversions' one body: ``steps`` (WGS84 to GCJ-02, ...) in turn, on float arrays."""
    lon, lat = _arrays(lon, lat)
    for step in steps:
        lon, lat = step(lon, lat)
    return _out(lon, lat)


#: The example of each point conversion: the arguments, the digits its result is rounded to, the result shown.
_POINT_CONVERSION_EXAMPLES = {
    "wgs84_to_gcj02": ("116.404, 39.915", 9, "(116.410244499, 39.916404282)"),
    "gcj02_to_wgs84": ("116.410244499, 39.916404282", 6, "(116.404, 39.915)"),
    "gcj02_to_bd09": ("116.404, 39.915", 9, "(116.410369494, 39.921336994)"),
    "bd09_to_gcj02": ("116.410369494, 39.921336994", 6, "(116.404, 39.915)"),
    "wgs84_to_bd09": ("116.404, 39.915", 6, "(116.416627, 39.9227)"),
    "bd09_to_wgs84": ("*wgs84_to_bd09(116.404, 39.915)", 9, "(116.404, 39.915)"),
}

#: The docstring sections every point conversion shares, up to its example; its own examples follow.
_POINT_CONVERSION_SECTIONS = """
    Parameters
    ----------
    lon, lat : float or array_like
        Degrees; arrays of any (broadcastable) shape.

    Returns
    -------
    (lon, lat) : tuple of float or ndarray

    Examples
    --------
    >>> lon, lat = {name}({args})
    >>> round(lon, {digits}), round(lat, {digits})
    {result}
"""


def _point_conversion_doc(name: str, doc: str) -> str:
    """The docstring of point conversion ``name`` from its own ``doc``: summary, notes and any further examples.

    The docs build (``docs/hooks/griffe_defaults.py``) renders it the same.
    """
    head, first, more = doc.partition("\n    >>> ")
    args, digits, result = _POINT_CONVERSION_EXAMPLES[name]
    sections = _POINT_CONVERSION_SECTIONS.format(name=name, args=args, digits=digits, result=result)
    return head.rstrip("\n ") + "\n" + sections + (first.lstrip("\n") + more if first else "    ")


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS84 longitude/latitude to GCJ-02 (identity outside China).

    >>> wgs84_to_gcj02(2.35, 48.86)  # Paris: outside China, unchanged
    (2.35, 48.86)
    """
    return _convert(lon, lat, _wgs_to_gcj)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 longitude/latitude to WGS84, exact to well below 0.01 m.

    Inverts :func:`wgs84_to_gcj02` by iteration (the usual one-step formula
    is off by up to a few metres).
    """
    return _convert(lon, lat, _gcj_to_wgs)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 longitude/latitude to Baidu's BD-09."""
    return _convert(lon, lat, _gcj_to_bd)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 longitude/latitude to GCJ-02, exact to well below 0.01 m.

    The usual closed formula is refined by iteration until
    :func:`gcj02_to_bd09` gives back the input.
    """
    return _convert(lon, lat, _bd_to_gcj)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS84 longitude/latitude to BD-09 (through GCJ-02)."""
    return _convert(lon, lat, _wgs_to_gcj, _gcj_to_bd)


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 longitude/latitude to WGS84 (through GCJ-02), exact to well below 0.01 m."""
    return _convert(lon, lat, _bd_to_gcj, _gcj_to_wgs)


for _name in POINT_CONVERSIONS:
    globals()[_name].__doc__ = _point_conversion_doc(_name, globals()[_name].__doc__)
del _name


_FORWARD = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09}
_INVERSE = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def _transform_geoms(obj: Any, system: str, what: str, to_wgs: bool) -> Any:
    """:func:`to_wgs84` (``to_wgs``) or :func:`from_wgs84`: ``obj`` from or to ``system``."""
    import geopandas as gpd
    import shapely

    system = normalize_system(system)
    func = (lambda x, y: (x, y)) if system == "wgs84" else (_INVERSE if to_wgs else _FORWARD)[system]

    def xy(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
        return out

    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        crs = None if obj.crs is None else check_crs(obj.crs, what=f"the CRS of {what}")
        if crs is not None and not crs.is_geographic:
            if to_wgs:
                raise InputError(
                    f"{what} is in {crs.name}, a projected CRS; GCJ-02 and BD-09 "
                    "coordinates are longitude/latitude: give the layer in degrees (EPSG:4326)"
                )
            obj = obj.to_crs(4326)
        elif crs is not None and not to_wgs and crs.to_epsg() != 4326:
            obj = obj.to_crs(4326)
        out = obj.copy()
        geoms = shapely.transform(out.geometry.to_numpy(), xy, include_z=None)
        if isinstance(out, gpd.GeoDataFrame):
            out[out.geometry.name] = gpd.GeoSeries(geoms, index=out.index, crs=4326)
            return out.set_crs(4326, allow_override=True)
        return gpd.GeoSeries(geoms, index=out.index, name=out.name, crs=4326)
    return shapely.transform(obj, xy, include_z=None)


def to_wgs84(obj: Any, system: str, *, what: str = "the layer") -> Any:
    """Geometries in ``system`` (``"gcj02"``, ``"bd09"`` or ``"wgs84"``) converted to WGS84.

    Parameters
    ----------
    obj : GeoDataFrame, GeoSeries, shapely geometry or array of geometries
        Longitude/latitude in ``system``; any geometry type (Z is kept). A
        GeoDataFrame or GeoSeries must have no CRS or a geographic one: there
        is no EPSG code for GCJ-02 or BD-09, so such data is usually labelled
        EPSG:4326.
    system : str
        See :func:`normalize_system`.
    what : str
        Name of the input, used in error messages.

    Returns
    -------
    Same type as ``obj``
        A copy; GeoDataFrames and GeoSeries come back with CRS EPSG:4326.

    Examples
    --------
    >>> import shapely
    >>> p = to_wgs84(shapely.Point(116.410244499, 39.916404282), "GCJ-02")
    >>> round(p.x, 6), round(p.y, 6)
    (116.404, 39.915)
    """
    return _transform_geoms(obj, system, what, to_wgs=True)


def from_wgs84(obj: Any, system: str) -> Any:
    """WGS84 geometries converted to ``system`` (``"gcj02"``, ``"bd09"`` or ``"wgs84"``).

    A GeoDataFrame or GeoSeries in another CRS is first reprojected to
    EPSG:4326; the result keeps the label EPSG:4326 although its coordinates
    are in ``system`` (GCJ-02 and BD-09 have no EPSG code).

    Parameters
    ----------
    obj : GeoDataFrame, GeoSeries, shapely geometry or array of geometries
        WGS84 geometries (any geometry type; Z is kept).
    system : str
        See :func:`normalize_system`.

    Returns
    -------
    Same type as ``obj``
        A copy; GeoDataFrames and GeoSeries come back labelled EPSG:4326.

    Examples
    --------
    >>> import shapely
    >>> tiananmen = shapely.Point(116.404, 39.915)
    >>> p = from_wgs84(tiananmen, "gcj02")
    >>> round(p.x, 6), round(p.y, 6)
    (116.410244, 39.916404)
    """
    return _transform_geoms(obj, system, "the layer", to_wgs=False)


def layer_to_wgs84(src: LayerLike, system: str, *, what: str = "layer", crs: CRSLike = None) -> gpd.GeoDataFrame | None:
    """Read a layer (GeoDataFrame, geometry or path) given in ``system`` and convert it to WGS84.

    A layer without a CRS takes ``crs`` when given, else is taken as
    longitude/latitude. Used by :func:`microgrid.partition` for
    ``input_crs=``.

    Parameters
    ----------
    src : GeoDataFrame, GeoSeries, shapely geometry, path or None
        Anything :func:`microgrid.read_layer` reads.
    system : str
        See :func:`normalize_system`.
    what : str
        Name of the input, used in error messages.
    crs : optional
        CRS of a layer that has none (default: longitude/latitude).

    Returns
    -------
    GeoDataFrame or None
        In WGS84 (EPSG:4326); ``None`` for ``None``.

    Examples
    --------
    >>> import shapely
    >>> gdf = layer_to_wgs84(shapely.Point(116.410244499, 39.916404282), "gcj02", what="households")
    >>> p = gdf.geometry.iloc[0]
    >>> gdf.crs.to_epsg(), round(p.x, 6), round(p.y, 6)
    (4326, 116.404, 39.915)
    """
    from .io import read_layer

    gdf = read_layer(src, what=what)
    if gdf is None:
        return None
    if gdf.crs is None:
        gdf = gdf.set_crs(check_crs(crs) if crs is not None else _WGS84)
    return to_wgs84(gdf, system, what=what)


def plan_from_wgs84(plan: Plan, system: str) -> Plan:
    """``plan`` with every GeoDataFrame in it (also in reports and layers) converted to ``system``.

    Parameters
    ----------
    plan : Plan
        A plan made from WGS84 inputs.
    system : str
        See :func:`normalize_system`.

    Returns
    -------
    Plan
        A new plan (plans are frozen); ``params["input_crs"]`` records
        ``system``. :func:`microgrid.partition` does this for ``input_crs=``.

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1, crs="EPSG:4326"))
    >>> gcj = plan_from_wgs84(plan, "GCJ-02")
    >>> gcj.params["input_crs"], gcj.grids.crs.to_epsg()
    ('gcj02', 4326)
    >>> shift = gcj.households.geometry.x - plan.households.geometry.x  # degrees east
    >>> bool(shift.between(0.005, 0.007).all())
    True
    """
    import dataclasses

    import geopandas as gpd

    from .plan import ValidationReport

    system = normalize_system(system)

    def conv(v: Any) -> Any:
        if isinstance(v, gpd.GeoDataFrame):
            return from_wgs84(v, system) if v.crs is not None else v
        if isinstance(v, ValidationReport):
            return dataclasses.replace(v, violations=conv(v.violations))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    changes = {f.name: conv(getattr(plan, f.name)) for f in dataclasses.fields(plan) if f.init and f.name != "params"}
    changes["params"] = {**plan.params, "input_crs": system}
    if system != "wgs84" and changes.get("boundary") is not None:  # the file says which lon/lat it holds
        changes["boundary"] = changes["boundary"].assign(coord_system=system)
    return dataclasses.replace(plan, **changes)
