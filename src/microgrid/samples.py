"""Synthetic villages for examples, tests and benchmarks (seeded)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from ._types import CRSLike

if TYPE_CHECKING:
    import pyproj

__all__ = ["make_village", "make_district", "make_community", "lattice_households"]

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


def _normal_at(line, t: float, side: int):
    """The point at fraction ``t`` of ``line`` and the unit normal there, to the left (1) or right (-1)."""
    p = line.interpolate(t, normalized=True)
    q = line.interpolate(min(t + 0.01, 1.0), normalized=True)
    d = np.array([q.x - p.x, q.y - p.y])
    d /= np.hypot(*d) + 1e-12
    return p, np.array([-d[1], d[0]]) * side


def _add_lanes(rng, main, radius: float, lanes_per_km: float, reach: float, lines: list, kinds: list) -> list:
    """Lanes off ``main`` on alternating sides (up to ``reach`` x ``radius`` long), some linked by footpaths.

    Appends every line to ``lines`` with its kind in ``kinds``; returns the lanes.
    """
    n_lanes = max(2, int(round(main.length / 1000 * lanes_per_km)))
    lanes = []
    for i in range(n_lanes):
        t = (i + rng.uniform(0.3, 0.7)) / n_lanes
        p, nrm = _normal_at(main, t, 1 if i % 2 else -1)
        length = radius * rng.uniform(0.35, reach)
        lane = _curve(rng, (p.x, p.y), (p.x + nrm[0] * length, p.y + nrm[1] * length), rng.normal(0, length * 0.08))
        lanes.append(lane)
        lines.append(lane)
        kinds.append("lane")
        if i > 0 and rng.random() < 0.5:  # a footpath linking this lane to the previous one
            a1 = lanes[-2].interpolate(rng.uniform(0.3, 0.8), normalized=True)
            a2 = lane.interpolate(rng.uniform(0.3, 0.8), normalized=True)
            lines.append(shapely.LineString([a1, a2]))
            kinds.append("footpath")
    return lanes


def make_village(
    n_households: int = 2000,
    *,
    seed: int = 0,
    crs: CRSLike = "EPSG:32650",
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
    crs : pyproj.CRS, str or int
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
    main = _curve(
        rng,
        (ox - span * math.cos(a), oy - span * math.sin(a)),
        (ox + span * math.cos(a), oy + span * math.sin(a)),
        radius * 0.15,
    )
    b = a + np.pi / 2 + rng.uniform(-0.4, 0.4)
    river = _curve(
        rng,
        (ox - span * math.cos(b) + radius * 0.3, oy - span * math.sin(b)),
        (ox + span * math.cos(b) + radius * 0.2, oy + span * math.sin(b)),
        -radius * 0.25,
    )
    lines = [main, river]
    kinds = ["main", "river"]
    # lanes perpendicular to the main road, alternating sides
    lanes = _add_lanes(rng, main, radius, lanes_per_km, 1.1, lines, kinds)
    # households clustered along lanes (and the main road), off the road surface
    carriers = lanes + [main]
    w = np.array([ln.length for ln in carriers])
    w = w / w.sum()
    pts: list = []
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
        geometry=shapely.points(xy),
        crs="EPSG:32650",
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
    landmarks = gpd.GeoDataFrame({"name": ["小学", *names[2:]], "kind": lm_kind}, geometry=lm_geoms, crs="EPSG:32650")
    landmarks = landmarks[~landmarks.geometry.is_empty].reset_index(drop=True)
    numerals = "一二三四五六七八九十"
    road_names: list[str | None] = []
    lane_no = 0
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


def _along_roads(rng, carriers, w, inner, road_zone, n: int, spread: float) -> np.ndarray:
    """``n`` household points 7..``spread`` m off the roads (weighted by length), inside ``inner``, off the roads."""
    pts = []
    n_got = 0
    for _attempt in range(200):
        if n_got >= n:
            break
        m = (n - n_got) * 2 + 16
        ci = rng.choice(len(carriers), size=m, p=w)
        base = shapely.get_coordinates(
            shapely.line_interpolate_point(carriers[ci], rng.uniform(0, 1, m), normalized=True)
        )
        off = rng.normal(0, 1, (m, 2))
        off /= np.linalg.norm(off, axis=1, keepdims=True) + 1e-12
        cand = base + off * rng.uniform(7, spread, m)[:, None]
        cp = shapely.points(cand)
        ok = shapely.contains(inner, cp) & ~shapely.contains(road_zone, cp)
        pts.append(cand[ok])
        n_got += int(ok.sum())
    return np.concatenate(pts)[:n]


def make_district(
    n_areas: int = 16,
    households_per_area: int = 2000,
    seed: int = 0,
    *,
    crs: CRSLike = "EPSG:32650",
    density: float = 55.0,
    lanes_per_km: float = 9.0,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A seeded synthetic district: adjacent villages sharing borders, for batch runs.

    The areas are the cells of a jittered grid (a Voronoi tessellation of
    the district rectangle), so neighbours share their borders exactly and
    together they cover the district without gaps or overlaps. Every area
    has its own main road, lanes and footpaths; one river crosses the whole
    district. Households (1-6 persons) cluster along each area's roads, at
    least 3 m inside the area, so every household lies in exactly one area.

    Parameters
    ----------
    n_areas : int
        Number of areas (villages/communities).
    households_per_area : int
        Households in each area.
    seed : int
        Same seed, same district.
    crs : pyproj.CRS, str or int
        CRS of the returned layers (built in UTM 50N and reprojected).
    density, lanes_per_km : float
        As in :func:`make_village`.

    Returns
    -------
    households, areas, barriers : GeoDataFrame
        ``households``: ``household_id`` (unique across the district, e.g.
        ``V007-H0042``) and ``persons``; ``areas``: ``area_id`` (``V001``...),
        ``name`` and ``code_prefix`` (a 12-digit community code per area);
        ``barriers``: ``kind``, ``name`` and ``area_id`` (``None`` for the
        river).

    Examples
    --------
    >>> hh, areas, roads = make_district(4, 300, seed=1)
    >>> len(areas), len(hh), hh["household_id"].is_unique
    (4, 1200, True)
    >>> bool(areas.geometry.union_all().area > 0.999 * areas.geometry.area.sum())
    True
    """
    if int(n_areas) < 1 or int(households_per_area) < 1:
        raise ValueError("n_areas and households_per_area must be at least 1")
    n_areas, households_per_area = int(n_areas), int(households_per_area)
    rng = np.random.default_rng(seed)
    ox, oy = _ORIGIN
    side = math.sqrt(max(households_per_area / density, 2.0) * 2.2 * 10_000)
    cols = max(1, int(math.ceil(math.sqrt(n_areas))))
    rows = int(math.ceil(n_areas / cols))
    cells = [(c, r) for r in range(rows) for c in range(cols)][:n_areas]
    width = side * cols
    height = side * rows
    # the district: the union of the used cells (the last row may be short)
    extent = shapely.union_all(
        [shapely.box(ox + c * side, oy + r * side, ox + (c + 1) * side, oy + (r + 1) * side) for c, r in cells]
    )
    seeds = np.array([(ox + (c + 0.5) * side, oy + (r + 0.5) * side) for c, r in cells])
    seeds += rng.uniform(-0.22, 0.22, seeds.shape) * side
    vor = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=extent.buffer(side), ordered=True)
    polys = [shapely.intersection(cell, extent) for cell in vor.geoms]
    polys = [p if p.geom_type == "Polygon" else max(shapely.get_parts(p), key=lambda g: g.area) for p in polys]
    # one river meandering across the whole district
    a = rng.uniform(-0.35, 0.35)
    cx, cy = ox + width / 2, oy + height / 2
    span = max(width, height)
    river = _curve(
        rng,
        (cx - span * math.cos(a), cy - span * math.sin(a) + rng.uniform(-0.3, 0.3) * height),
        (cx + span * math.cos(a), cy + span * math.sin(a)),
        side * 0.3,
        n=16 * cols + 8,
    )
    river = shapely.intersection(river, extent)
    river_zone = shapely.buffer(river, 4.0)
    hh_frames: list = []
    bar_geoms: list = []
    bar_kind: list = []
    bar_name: list = []
    bar_area: list = []
    if not river.is_empty:
        bar_geoms.append(river)
        bar_kind.append("river")
        bar_name.append("清水河")
        bar_area.append(None)
    ids = [f"V{i:0{max(3, len(str(n_areas)))}d}" for i in range(1, n_areas + 1)]
    for i, poly in enumerate(polys):
        hh_ids, persons, xy, roads = _district_village(rng, poly, ids[i], households_per_area, lanes_per_km, river_zone)
        hh_frames.append(({"household_id": hh_ids, "persons": persons}, xy))
        for ln, kd, nm in roads:
            bar_geoms.append(ln)
            bar_kind.append(kd)
            bar_name.append(nm)
            bar_area.append(ids[i])
    households = gpd.GeoDataFrame(
        {
            "household_id": [h for cols_, _ in hh_frames for h in cols_["household_id"]],
            "persons": np.concatenate([cols_["persons"] for cols_, _ in hh_frames]),
        },
        geometry=shapely.points(np.concatenate([xy for _, xy in hh_frames])),
        crs="EPSG:32650",
    )
    areas = gpd.GeoDataFrame(
        {
            "area_id": ids,
            "name": [f"第{i}村" for i in range(1, n_areas + 1)],
            "code_prefix": [f"110108{1 + i // 999:03d}{1 + i % 999:03d}" for i in range(n_areas)],
        },
        geometry=polys,
        crs="EPSG:32650",
    )
    barriers = gpd.GeoDataFrame(
        {"kind": bar_kind, "name": bar_name, "area_id": bar_area}, geometry=bar_geoms, crs="EPSG:32650"
    )
    out = [households, areas, barriers]
    if crs is not None and str(crs).upper() != "EPSG:32650":
        out = [g.to_crs(crs) for g in out]
    return tuple(out)


def _district_village(
    rng: np.random.Generator,
    poly: shapely.Polygon,
    area_id: str,
    n: int,
    lanes_per_km: float,
    river_zone: shapely.Geometry,
) -> tuple[list[str], np.ndarray, np.ndarray, list[tuple]]:
    """One village of :func:`make_district`: household ids, persons and points, and its roads (line, kind, name)."""
    numerals = "一二三四五六七八九十"
    hw = max(4, len(str(n)))
    c = shapely.get_coordinates(shapely.point_on_surface(poly))[0]
    radius = math.sqrt(poly.area / math.pi)
    ang = rng.uniform(0, np.pi)
    main = _curve(
        rng,
        (c[0] - 1.6 * radius * math.cos(ang), c[1] - 1.6 * radius * math.sin(ang)),
        (c[0] + 1.6 * radius * math.cos(ang), c[1] + 1.6 * radius * math.sin(ang)),
        radius * 0.12,
    )
    main = shapely.intersection(main, poly)
    main = max(shapely.get_parts(main), key=lambda g: g.length) if main.geom_type != "LineString" else main
    lines, kinds = [main], ["main"]
    lanes = _add_lanes(rng, main, radius, lanes_per_km, 1.0, lines, kinds)
    carriers = np.array(lanes + [main], dtype=object)
    w = np.array([ln.length for ln in carriers])
    w = w / w.sum()
    inner = poly.buffer(-3)
    road_zone = shapely.union_all([shapely.buffer(ln, 4.0) for ln in lines] + [river_zone])
    shapely.prepare(inner)
    shapely.prepare(road_zone)
    xy = _along_roads(rng, carriers, w, inner, road_zone, n, max(45.0, radius * 0.25))
    if len(xy) < n:  # only a degenerate cell could leave too little room
        raise RuntimeError(f"area {area_id} too small for {n} households")  # pragma: no cover
    persons = rng.choice(np.arange(1, 7), size=n, p=[0.22, 0.28, 0.22, 0.14, 0.08, 0.06])
    hh_ids = [f"{area_id}-H{k:0{hw}d}" for k in range(1, n + 1)]
    roads, lane_no = [], 0
    for ln, kd in zip(lines, kinds):
        if kd == "main":
            name = f"{area_id}大道"
        elif kd == "lane":
            lane_no += 1
            name = f"{numerals[(lane_no - 1) % 10]}{'' if lane_no <= 10 else lane_no}巷"
        else:
            name = None
        roads.append((ln, kd, name))
    return hh_ids, persons, xy, roads


def make_community(
    n_buildings: int = 60,
    seed: int = 0,
    *,
    median_persons: float = 117.0,
    spread: float = 0.9,
    max_persons: int = 1500,
    crs: pyproj.CRS | str | int = "EPSG:32650",
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A seeded dense urban community as a household register (台账) has it.

    Every household of a building is geocoded to the building: one point per
    building, with ``building`` (楼栋, e.g. ``"12号楼"``), ``entrance``
    (单元, ``"1单元"``...), ``floor`` (楼层) and ``room`` columns. Buildings
    stand in rows inside blocks of a street grid; their persons follow a
    log-normal law (``median_persons``, ``spread``; capped at
    ``max_persons``), so some buildings hold more persons than a micro-grid
    and many neighbours cannot be put together whole.

    Returns
    -------
    households, boundary, barriers, landmarks : GeoDataFrame
        ``households``: ``household_id``, ``persons``, ``building``,
        ``entrance``, ``floor``, ``room``; ``barriers``: ``kind`` and
        ``name``; ``landmarks``: a school polygon and a market point.

    Examples
    --------
    >>> hh, bnd, roads, marks = make_community(20, seed=1)
    >>> int(hh.geometry.apply(lambda p: (p.x, p.y)).nunique())  # one point per building
    20
    >>> sorted(hh.columns)[:4]
    ['building', 'entrance', 'floor', 'geometry']
    """
    if int(n_buildings) < 1:
        raise ValueError("n_buildings must be at least 1")
    n_buildings = int(n_buildings)
    rng = np.random.default_rng(seed)
    ox, oy = _ORIGIN
    per_block = 6
    n_blocks = max(1, math.ceil(n_buildings / per_block))
    bx = max(1, int(math.ceil(math.sqrt(n_blocks * 1.3))))
    by = int(math.ceil(n_blocks / bx))
    bw, bh, street = 150.0, 120.0, 12.0
    width, height = bx * (bw + street) + street, by * (bh + street) + street
    boundary = shapely.box(ox, oy, ox + width, oy + height)
    lines: list = []
    kinds: list[str] = []
    names: list[str | None] = []
    for i in range(1, bx):
        x = ox + i * (bw + street) + street / 2
        lines.append(shapely.LineString([(x, oy), (x, oy + height)]))
        kinds.append("secondary" if i % 3 == 0 else "residential")
        names.append(f"{'东西南北'[i % 4]}{i}路")
    for j in range(1, by):
        y = oy + j * (bh + street) + street / 2
        lines.append(shapely.LineString([(ox, y), (ox + width, y)]))
        kinds.append("secondary" if j % 3 == 0 else "residential")
        names.append(f"{j}号街")
    hh_rows: list[dict] = []
    pts: list = []
    b = 0
    for j in range(by):
        for i in range(bx):
            if b >= n_buildings:
                break
            x0 = ox + street + i * (bw + street)
            y0 = oy + street + j * (bh + street)
            # a lane through the middle of some blocks: a dead end from the street
            if rng.random() < 0.5:
                lines.append(shapely.LineString([(x0 + bw / 2, y0 - street / 2), (x0 + bw / 2, y0 + bh * 0.7)]))
                kinds.append("service")
                names.append(None)
            for r in range(2):
                for c in range(3):
                    if b >= n_buildings:
                        break
                    b += 1
                    px = x0 + 25 + c * 50 + rng.uniform(-4, 4)
                    py = y0 + 30 + r * 60 + rng.uniform(-4, 4)
                    persons = int(np.clip(round(median_persons * math.exp(rng.normal(0, spread))), 3, max_persons))
                    hh_rows.extend(_register(rng, b, persons))
                    pts.extend([shapely.Point(px, py)] * (len(hh_rows) - len(pts)))
    hh = gpd.GeoDataFrame(hh_rows, geometry=pts, crs="EPSG:32650")
    school = shapely.box(ox + street + 10, oy + street + 5, ox + street + 60, oy + street + 20)
    marks = gpd.GeoDataFrame(
        {"name": ["第一小学", "菜市场"], "kind": ["school", "market"]},
        geometry=[school, shapely.Point(ox + width / 2, oy + height / 2)],
        crs="EPSG:32650",
    )
    out = (
        hh,
        gpd.GeoDataFrame({"name": ["示例社区"]}, geometry=[boundary], crs="EPSG:32650"),
        gpd.GeoDataFrame({"kind": kinds, "name": names}, geometry=lines, crs="EPSG:32650"),
        marks,
    )
    return tuple(g.to_crs(crs) for g in out)


def _register(rng, b: int, persons: int) -> list[dict]:
    """Households of building ``b`` holding ``persons`` in all, by entrance, floor and room."""
    sizes = []
    left = persons
    while left > 0:
        s = int(min(left, rng.choice([1, 2, 3, 4, 5], p=[0.2, 0.3, 0.3, 0.15, 0.05])))
        sizes.append(s)
        left -= s
    n = len(sizes)
    floors = 6 if n <= 48 else (18 if n <= 300 else 30)
    per_floor = 2 if floors == 6 else 4
    per_entrance = floors * per_floor
    rows = []
    for k, s in enumerate(sizes):
        e, rest = divmod(k, per_entrance)
        f, room = divmod(rest, per_floor)
        rows.append(
            {
                "household_id": f"{b:03d}-{e + 1}-{f + 1:02d}{room + 1:02d}",
                "persons": s,
                "building": f"{b}号楼",
                "entrance": f"{e + 1}单元",
                "floor": f + 1,
                "room": f"{f + 1}{room + 1:02d}",
            }
        )
    return rows


def lattice_households(
    grids: gpd.GeoDataFrame,
    outline: gpd.GeoDataFrame | shapely.Geometry,
    *,
    spacing: float = 1000.0,
    grid_id_col: str = "grid_id",
) -> gpd.GeoDataFrame:
    """Stand-in households to audit a grid map that comes without a register.

    One point every ``spacing`` metres inside ``outline``, plus one in every
    gap between the grids and in every overlap (of more than 1 m²), each
    assigned by location to the first grid it lies in (none in a gap);
    persons 1..5 in turn. Returned in the grids' CRS.

    Examples
    --------
    >>> import shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1, 2]}, geometry=[shapely.box(0, 0, 3000, 3000),
    ...                      shapely.box(3500, 0, 6000, 3000)], crs=32650)
    >>> hh = lattice_households(g, g.union_all().envelope)
    >>> len(hh), int(hh["grid_id"].isna().sum())  # 15 lattice points (3 in the strip between), 1 in the gap
    (19, 4)
    """
    import pandas as pd

    from .crs import metric_crs_for

    work = metric_crs_for(grids)
    outline = outline if isinstance(outline, gpd.GeoDataFrame) else gpd.GeoDataFrame(geometry=[outline], crs=grids.crs)
    bnd = outline.to_crs(work).geometry.union_all()
    polys = grids.to_crs(work).geometry.to_numpy()
    x0, y0, x1, y1 = bnd.bounds
    half = spacing / 4
    xs, ys = np.meshgrid(np.arange(x0 + half, x1, spacing), np.arange(y0 + half, y1, spacing))
    pts = shapely.points(xs.ravel(), ys.ravel())
    found = list(pts[shapely.contains_properly(bnd, pts)])
    gaps = shapely.get_parts(shapely.difference(bnd, shapely.union_all(polys)))
    found += list(shapely.point_on_surface(gaps[shapely.area(gaps) > 1.0]))
    i, j = shapely.STRtree(polys).query(polys, predicate="intersects")
    m = i < j
    over = shapely.get_parts(shapely.intersection(polys[i[m]], polys[j[m]]))
    over = over[(shapely.get_type_id(over) == 3) & (shapely.area(over) > 1.0)]
    found += list(shapely.point_on_surface(over))
    pts = np.asarray(found, dtype=object)
    pi, gi = shapely.STRtree(polys).query(pts, predicate="within")
    first = pd.Series(gi).groupby(pi).min()
    assigned = pd.Series(np.nan, index=range(len(pts)), dtype=object)
    assigned[first.index] = grids[grid_id_col].to_numpy()[first.to_numpy()]
    return gpd.GeoDataFrame(
        {
            "household_id": [f"h{k:05d}" for k in range(len(pts))],
            "persons": 1 + np.arange(len(pts)) % 5,
            grid_id_col: assigned.to_numpy(),
        },
        geometry=pts,
        crs=work,
    ).to_crs(grids.crs)
