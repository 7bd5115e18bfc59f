"""Coordinate reference systems: pick the metric CRS all work happens in."""

from __future__ import annotations

import math

import pyproj

from .errors import InputError

__all__ = ["metric_crs", "metric_crs_for", "CGCS2000"]

CGCS2000 = pyproj.CRS.from_epsg(4490)
_WGS84 = pyproj.CRS.from_epsg(4326)


def _is_cgcs2000(crs: pyproj.CRS) -> bool:
    geod = crs.geodetic_crs
    return geod is not None and "China Geodetic Coordinate System 2000" in geod.name


def gauss_kruger_zone(lon: float) -> pyproj.CRS:
    """CGCS2000 3-degree Gauss-Krüger CRS (EPSG:4534-4554) whose central meridian is nearest ``lon``.

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


def metric_crs(crs, lon: float, lat: float) -> pyproj.CRS:
    """The metric CRS to work in for data in ``crs`` centred at ``lon``/``lat`` (degrees).

    A projected CRS in metres is kept as it is. Geographic CGCS2000 input gets
    its 3-degree Gauss-Krüger zone; any other geographic CRS gets its local UTM
    zone.

    Examples
    --------
    >>> metric_crs("EPSG:4326", 116.35, 40.0).to_epsg()
    32650
    >>> metric_crs("EPSG:4490", 116.35, 40.0).to_epsg()
    4548
    """
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if unit in ("metre", "meter", "m"):
            return crs
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 84:
        raise InputError(
            f"cannot choose a metric CRS at lon={lon}, lat={lat}; pass a projected CRS"
        )
    if _is_cgcs2000(crs):
        return gauss_kruger_zone(lon)
    zone = int((lon + 180) // 6) % 60 + 1
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def metric_crs_for(gdf, crs=None) -> pyproj.CRS:
    """The metric CRS to work in for a layer: :func:`metric_crs` at the middle of its extent.

    ``crs`` decides the kind of CRS (default: the layer's own), e.g. the
    households' CRS when choosing for a whole set of inputs.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> metric_crs_for(gpd.GeoSeries([shapely.Point(116.35, 40.0)], crs=4326)).to_epsg()
    32650
    """
    x0, y0, x1, y1 = gdf.total_bounds
    lon, lat = pyproj.Transformer.from_crs(gdf.crs, 4326, always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    return metric_crs(crs if crs is not None else gdf.crs, lon, lat)
