"""Make the small sample files the README and docs use, deterministically (seeded; run from anywhere).

    python data/samples/make_samples.py

Writes next to this script (all synthetic, a few hundred kB together):

- ``town.gpkg``: a town with a hand-drawn grid map that has defects, for the
  audit workflow (``validate``, ``repair``): layers ``households``,
  ``boundary``, ``roads``, ``pois`` and ``grids`` (a gap, an overlap and
  outlines traced loosely, as by hand).
- ``area.gpkg``: building footprints with storeys, ``boundary`` and ``roads``,
  for estimating households from buildings.
- ``village.osm``: the same buildings, roads, a river and a school as a tiny
  OpenStreetMap XML file, for ``microgrid.from_osm``.
- ``district.gpkg``: four villages (``villages`` with ``village_code``),
  their ``households`` and ``roads``, for ``partition-many``.
- ``register_2025.gpkg``: the households of ``village.gpkg`` a year on (60
  more in one corner), for ``repartition``.
- ``staff.csv`` (lon/lat, open it in Excel) and ``staff.gpkg`` (layer
  ``people``): 130 leaders, workers and volunteers of the village, for
  ``assign_teams`` / ``microgrid staff``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "src"))

import microgrid  # noqa: E402


def _write(gdf, path, layer):
    gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def town(path: Path):
    hh, boundary, roads, pois = microgrid.samples.make_village(700, seed=11)
    plan = microgrid.partition(hh, boundary, roads, pois, seed=0)
    grids = plan.grids[["grid_id", "geometry"]].copy()
    grids["grid_id"] = [f"G{int(i):02d}" for i in grids["grid_id"]]
    grids["geometry"] = grids.geometry.simplify(1.5)  # traced by hand: slivers of gap and overlap
    grids.loc[grids.index[0], "geometry"] = grids.geometry.iloc[0].buffer(6)  # drawn over its neighbour
    g = grids.geometry.iloc[-1]
    grids.loc[grids.index[-1], "geometry"] = g.difference(g.representative_point().buffer(12))  # a gap
    for gdf, layer in ((hh, "households"), (boundary, "boundary"), (roads, "roads"), (pois, "pois"),
                       (grids, "grids")):
        _write(gdf, path, layer)


def _buildings(hh, roads, rng):
    """Footprints of 12 x 9 m around household points, none overlapping another or a road."""
    blocked = shapely.union_all(roads.geometry.buffer(4).to_numpy())
    kept = []
    for p in hh.geometry:
        a = rng.uniform(0, np.pi)
        box = shapely.affinity.rotate(shapely.box(p.x - 6, p.y - 4.5, p.x + 6, p.y + 4.5), a, use_radians=True)
        if box.intersects(blocked) or any(box.distance(k) < 3 for k in kept[-40:]):
            continue
        kept.append(box)
    b = gpd.GeoDataFrame({"building": ["house"] * len(kept)}, geometry=kept, crs=hh.crs)
    b["building:levels"] = rng.choice([1, 2, 2, 3], size=len(b))
    b.loc[b.index[::9], ["building", "building:levels"]] = ["apartments", 5]
    return b


def area_and_osm(gpkg: Path, osm: Path):
    rng = np.random.default_rng(5)
    hh, boundary, roads, marks = microgrid.samples.make_village(500, seed=5)
    b = _buildings(hh, roads, rng)
    _write(b, gpkg, "buildings")
    _write(boundary, gpkg, "boundary")
    _write(roads, gpkg, "roads")
    # the same as OpenStreetMap XML, in lon/lat
    marks = marks.set_geometry([g if g.geom_type == "Polygon" else g.buffer(15, cap_style="square")
                                for g in marks.geometry], crs=marks.crs)  # OSM landmarks are named areas
    b84, r84, m84 = b.to_crs(4326), roads.to_crs(4326), marks.to_crs(4326)
    x0, y0, x1, y1 = boundary.to_crs(4326).total_bounds
    nodes, ways = [], []
    nid, wid = [0], [0]

    def node(x, y, tags=()):
        nid[0] += 1
        nodes.append((nid[0], x, y, tags))
        return nid[0]

    def way(coords, tags):
        wid[0] += 1
        refs = [node(x, y) for x, y in coords]
        ways.append((wid[0], refs, tags))

    highway = {"main": "primary", "road": "residential", "lane": "service", "footpath": "footway"}
    for geom, kind, name in zip(r84.geometry, r84["kind"], r84["name"]):
        for part in shapely.get_parts(geom):
            coords = [(round(x, 7), round(y, 7)) for x, y in part.coords]
            tags = [("waterway", "river")] if kind in ("river", "canal", "stream") else \
                [("highway", highway.get(kind, "residential"))]
            if isinstance(name, str) and name:
                tags.append(("name", name))
            way(coords, tags)
    for geom, kind, levels in zip(b84.geometry, b["building"], b["building:levels"]):
        ring = [(round(x, 7), round(y, 7)) for x, y in geom.exterior.coords]
        wid[0] += 1
        refs = [node(x, y) for x, y in ring[:-1]]
        ways.append((wid[0], refs + refs[:1], [("building", kind), ("building:levels", str(int(levels)))]))
    for geom, name in zip(m84.geometry, m84["name"]):
        ring = [(round(x, 7), round(y, 7)) for x, y in geom.exterior.coords]
        wid[0] += 1
        refs = [node(x, y) for x, y in ring[:-1]]
        ways.append((wid[0], refs + refs[:1], [("amenity", "school" if "学" in str(name) else "marketplace"),
                                                ("name", str(name))]))
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<osm version="0.6" generator="microgrid data/samples/make_samples.py (synthetic)">',
           f'  <bounds minlat="{y0:.7f}" minlon="{x0:.7f}" maxlat="{y1:.7f}" maxlon="{x1:.7f}"/>']
    for i, x, y, tags in nodes:
        if tags:
            out.append(f'  <node id="{i}" version="1" lat="{y}" lon="{x}">')
            out += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags]
            out.append("  </node>")
        else:
            out.append(f'  <node id="{i}" version="1" lat="{y}" lon="{x}"/>')
    for i, refs, tags in ways:
        out.append(f'  <way id="{i}" version="1">')
        out += [f'    <nd ref="{r}"/>' for r in refs]
        out += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags]
        out.append("  </way>")
    out.append("</osm>")
    osm.write_text("\n".join(out) + "\n", encoding="utf-8")


def district(path: Path):
    hh, areas, roads = microgrid.samples.make_district(n_areas=4, households_per_area=500, seed=0)
    areas = areas.rename(columns={"area_id": "village_code"})
    areas["village_code"] = [f"11010800100{i}" for i in range(1, len(areas) + 1)]
    roads = roads.drop(columns=["area_id"])
    _write(hh, path, "households")
    _write(areas, path, "villages")
    _write(roads, path, "roads")


def register_and_staff(village: Path, register: Path, staff_csv: Path, staff_gpkg: Path):
    rng = np.random.default_rng(2025)
    hh = gpd.read_file(village, layer="households", engine="pyogrio")
    m = hh.to_crs(hh.estimate_utm_crs())
    x0, y0, x1, y1 = m.total_bounds
    corner = m[(m.geometry.x > x0 + 0.6 * (x1 - x0)) & (m.geometry.y > y0 + 0.6 * (y1 - y0))]
    src = corner.sample(60, random_state=1, replace=len(corner) < 60)
    new = gpd.GeoDataFrame({"household_id": [f"N{i:03d}" for i in range(1, 61)],
                            "persons": rng.integers(1, 6, 60)},
                           geometry=gpd.points_from_xy(src.geometry.x + rng.uniform(-8, 8, 60),
                                                       src.geometry.y + rng.uniform(-8, 8, 60)), crs=m.crs)
    both = pd.concat([hh, new.to_crs(hh.crs)], ignore_index=True)
    _write(gpd.GeoDataFrame(both, geometry="geometry", crs=hh.crs), register, "households")
    who = hh.sample(130, random_state=3)
    roles = ["leader"] * 25 + ["worker"] * 65 + ["volunteer"] * 40
    surnames = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    staff = pd.DataFrame({"person_id": [f"S{i:03d}" for i in range(1, 131)],
                          "name": [surnames[i % len(surnames)] + "某" + "一二三四五六七八九十"[i % 10] for i in range(130)],
                          "role": roles,
                          "lon": who.geometry.x.round(6).to_numpy(), "lat": who.geometry.y.round(6).to_numpy()})
    staff.to_csv(staff_csv, index=False, encoding="utf-8")
    people = gpd.GeoDataFrame(staff.drop(columns=["lon", "lat"]),
                              geometry=gpd.points_from_xy(staff.lon, staff.lat), crs="EPSG:4326")
    _write(people, staff_gpkg, "people")


def main():
    for name in ("town.gpkg", "area.gpkg", "district.gpkg", "register_2025.gpkg", "staff.gpkg"):
        (HERE / name).unlink(missing_ok=True)
    town(HERE / "town.gpkg")
    area_and_osm(HERE / "area.gpkg", HERE / "village.osm")
    district(HERE / "district.gpkg")
    register_and_staff(HERE / "village.gpkg", HERE / "register_2025.gpkg", HERE / "staff.csv", HERE / "staff.gpkg")
    for p in sorted(HERE.iterdir()):
        print(f"{p.name:24s} {p.stat().st_size / 1024:8.0f} kB")


if __name__ == "__main__":
    main()
