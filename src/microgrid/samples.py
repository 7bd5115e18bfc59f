"""Synthetic villages for examples, tests and benchmarks (seeded)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["make_village"]

# UTM 50N near Beijing: a plausible place for the synthetic village
_ORIGIN = (440_000.0, 4_420_000.0)


def _wobbly_polygon(rng, cx, cy, radius, n=28, wobble=0.18):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = radius * (1 + rng.uniform(-wobble, wobble, n))
    return shapely.Polygon(np.c_[cx + r * np.cos(ang), cy + r * np.sin(ang)])


def _curve(rng, p0, p1, bend, n=24):
    t = np.linspace(0, 1, n)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    nrm = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-12)
    off = bend * np.sin(np.pi * t) + rng.normal(0, abs(bend) * 0.03 + 0.5, n) * np.sin(np.pi * t)
    pts = p0[None] + t[:, None] * d[None] + off[:, None] * nrm[None]
    return shapely.LineString(pts)


def make_village(
    n_households: int = 2000,
    *,
    seed: int = 0,
    crs="EPSG:32650",
    density: float = 55.0,
    lanes_per_km: float = 9.0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A seeded synthetic village: households, boundary, barriers, landmarks.

    The village has an irregular boundary, a main road and a river crossing
    it, lanes branching off the main road (some through, many dead ends),
    footpaths, a school compound (landmark polygon) and named landmark
    points. Households of 1-6 persons cluster along the lanes.

    Parameters
    ----------
    n_households : int
        Number of households (about 2.6 persons each).
    seed : int
        Same seed, same village.
    crs : CRS
        CRS of the returned layers (built in UTM 50N and reprojected).
    density : float
        Households per hectare of built-up land; sets the village's size.
    lanes_per_km : float
        Lanes per km of main road.

    Returns
    -------
    households, boundary, barriers, landmarks : GeoDataFrame

    Examples
    --------
    >>> hh, bnd, roads, marks = make_village(500, seed=1)
    >>> len(hh), int(hh["persons"].sum()) > 1000
    (500, True)
    """
    rng = np.random.default_rng(seed)
    ox, oy = _ORIGIN
    area_ha = max(n_households / density, 2.0) * 2.2
    radius = math.sqrt(area_ha * 10_000 / math.pi)
    boundary = _wobbly_polygon(rng, ox, oy, radius)
    span = radius * 1.4
    a = rng.uniform(0, np.pi)
    main = _curve(rng, (ox - span * math.cos(a), oy - span * math.sin(a)),
                  (ox + span * math.cos(a), oy + span * math.sin(a)), radius * 0.15)
    b = a + np.pi / 2 + rng.uniform(-0.4, 0.4)
    river = _curve(rng, (ox - span * math.cos(b) + radius * 0.3, oy - span * math.sin(b)),
                   (ox + span * math.cos(b) + radius * 0.2, oy + span * math.sin(b)), -radius * 0.25)
    lines = [main, river]
    kinds = ["main", "river"]
    # lanes perpendicular to the main road, alternating sides
    n_lanes = max(2, int(round(main.length / 1000 * lanes_per_km)))
    lanes = []
    for i in range(n_lanes):
        t = (i + rng.uniform(0.3, 0.7)) / n_lanes
        p = main.interpolate(t, normalized=True)
        q = main.interpolate(min(t + 0.01, 1.0), normalized=True)
        d = np.array([q.x - p.x, q.y - p.y])
        d /= np.hypot(*d) + 1e-12
        nrm = np.array([-d[1], d[0]]) * (1 if i % 2 else -1)
        length = radius * rng.uniform(0.35, 1.1)
        end = (p.x + nrm[0] * length, p.y + nrm[1] * length)
        lane = _curve(rng, (p.x, p.y), end, rng.normal(0, length * 0.08))
        lanes.append(lane)
        lines.append(lane)
        kinds.append("lane")
        # a footpath linking some lanes
        if i > 0 and rng.random() < 0.5:
            a1 = lanes[-2].interpolate(rng.uniform(0.3, 0.8), normalized=True)
            a2 = lane.interpolate(rng.uniform(0.3, 0.8), normalized=True)
            lines.append(shapely.LineString([a1, a2]))
            kinds.append("footpath")
    # households clustered along lanes (and the main road), off the road surface
    carriers = lanes + [main]
    w = np.array([ln.length for ln in carriers])
    w = w / w.sum()
    pts = []
    inner = boundary.buffer(-3)
    road_zone = shapely.union_all([shapely.buffer(ln, 4.0) for ln in lines])
    shapely.prepare(inner)
    shapely.prepare(road_zone)
    while len(pts) < n_households:
        m = (n_households - len(pts)) * 2 + 16
        ci = rng.choice(len(carriers), size=m, p=w)
        t = rng.uniform(0, 1, m)
        base = shapely.line_interpolate_point(np.array(carriers)[ci], t, normalized=True)
        bx = shapely.get_coordinates(base)
        off = rng.normal(0, 1, (m, 2))
        off /= np.linalg.norm(off, axis=1, keepdims=True) + 1e-12
        dist = rng.uniform(7, 45, m)
        cand = bx + off * dist[:, None]
        cp = shapely.points(cand)
        ok = shapely.contains(inner, cp) & ~shapely.contains(road_zone, cp)
        pts.extend(cand[ok].tolist())
    xy = np.asarray(pts[:n_households])
    persons = rng.choice(np.arange(1, 7), size=n_households, p=[0.22, 0.28, 0.22, 0.14, 0.08, 0.06])
    width = len(str(n_households))
    households = gpd.GeoDataFrame(
        {"household_id": [f"H{i:0{width}d}" for i in range(1, n_households + 1)], "persons": persons},
        geometry=shapely.points(xy), crs="EPSG:32650",
    )
    # landmarks: a school compound near the centre and named points
    c = shapely.get_coordinates(shapely.point_on_surface(boundary))[0]
    sx, sy = c + rng.uniform(-radius * 0.3, radius * 0.3, 2)
    school = shapely.box(sx - 30, sy - 20, sx + 30, sy + 20).intersection(inner)
    names = ["村委会", "小学", "菜市场", "祠堂", "卫生室"]
    lm_geoms = [school]
    lm_kind = ["school"]
    for _name in names[2:]:
        p = shapely.Point(xy[rng.integers(len(xy))])
        lm_geoms.append(p)
        lm_kind.append("poi")
    landmarks = gpd.GeoDataFrame({"name": ["小学", *names[2:]], "kind": lm_kind}, geometry=lm_geoms,
                                 crs="EPSG:32650")
    landmarks = landmarks[~landmarks.geometry.is_empty].reset_index(drop=True)
    numerals = "一二三四五六七八九十"
    road_names, lane_no = [], 0
    for kd in kinds:
        if kd == "main":
            road_names.append("村大道")
        elif kd == "river":
            road_names.append("清水河")
        elif kd == "lane":
            lane_no += 1
            road_names.append(f"{numerals[(lane_no - 1) % 10]}{'' if lane_no <= 10 else lane_no}巷")
        else:
            road_names.append(None)
    barriers = gpd.GeoDataFrame({"kind": kinds, "name": road_names}, geometry=lines, crs="EPSG:32650")
    bnd = gpd.GeoDataFrame({"name": ["sample village"]}, geometry=[boundary], crs="EPSG:32650")
    out = [households, bnd, barriers, landmarks]
    if crs is not None and str(crs).upper() != "EPSG:32650":
        out = [g.to_crs(crs) for g in out]
    return tuple(out)
