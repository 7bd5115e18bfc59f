"""microgrid.from_osm: local OpenStreetMap files (.osm XML via osmnx, .pbf via pyrosm), no network.

The hand-built XML tests need osmnx, the .pbf tests pyrosm (its bundled test
extract), the real-data tests the ODbL extracts next to the repository; each
skips cleanly when its part is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from conftest import REAL_PLACES, real_extract
from microgrid._compat import MissingDependency
from microgrid.barriers import BARRIER_RANKS
from microgrid.errors import InputError

# ---------------------------------------------------------------- a tiny hand-built village (OSM XML)

_NODES = {
    # the cross of roads
    1: (116.300, 39.905),
    2: (116.310, 39.905),
    3: (116.305, 39.900),
    4: (116.305, 39.910),
    # a footway in a tunnel and an underground subway (both left out), a railway on the surface
    5: (116.301, 39.901),
    6: (116.309, 39.909),
    7: (116.300, 39.9035),
    8: (116.310, 39.9035),
    9: (116.300, 39.9065),
    10: (116.310, 39.9065),
    # a fence, a river, a proposed road
    11: (116.3012, 39.9072),
    12: (116.3038, 39.9072),
    13: (116.3000, 39.9085),
    14: (116.3100, 39.9088),
    15: (116.3062, 39.9022),
    16: (116.3092, 39.9022),
}


def _ring(start: int, x0, y0, x1, y1) -> tuple[dict, list[int]]:
    nodes = {start: (x0, y0), start + 1: (x1, y0), start + 2: (x1, y1), start + 3: (x0, y1)}
    return nodes, [start, start + 1, start + 2, start + 3, start]


_WAYS = [  # (id, refs or ring box, tags)
    (100, [1, 2], {"highway": "secondary", "name": "主街"}),
    (101, [3, 4], {"highway": "residential"}),
    (102, [5, 6], {"highway": "footway", "tunnel": "yes"}),
    (103, [7, 8], {"railway": "subway", "layer": "-2"}),
    (104, [9, 10], {"railway": "rail"}),
    (105, [11, 12], {"barrier": "fence"}),
    (106, [13, 14], {"waterway": "river", "name": "小河"}),
    (107, [15, 16], {"highway": "proposed"}),
    (110, (116.3010, 39.9010, 116.3015, 39.9015), {"building": "apartments", "building:levels": "6"}),
    (111, (116.3020, 39.9010, 116.3025, 39.9014), {"building": "yes"}),
    (112, (116.3030, 39.9010, 116.3031, 39.9011), {"building": "no"}),
    (113, (116.4000, 39.9500, 116.4005, 39.9505), {"building": "house"}),  # outside the bounds
    (120, (116.3062, 39.9062, 116.3078, 39.9078), {"amenity": "school", "name": "实验小学"}),
    (121, (116.3012, 39.9062, 116.3028, 39.9068), {"amenity": "university", "name": "某大学"}),
    (122, (116.3082, 39.9012, 116.3088, 39.9018), {"leisure": "park"}),  # no name: not a landmark
    (123, (116.3082, 39.9062, 116.3088, 39.9068), {"natural": "water"}),
    (124, (116.3005, 39.9005, 116.3095, 39.9095), {"landuse": "residential", "name": "幸福村"}),
]


def _xml(bounds=True) -> str:
    nodes = dict(_NODES)
    ways = []
    nid = 1000
    for wid, refs, tags in _WAYS:
        if isinstance(refs, tuple):
            ring, refs = _ring(nid, *refs)
            nodes.update(ring)
            nid += 10
        ways.append((wid, refs, tags))
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="microgrid tests">']
    if bounds:
        out.append(' <bounds minlat="39.9000000" minlon="116.3000000" maxlat="39.9100000" maxlon="116.3100000"/>')
    for i, (x, y) in nodes.items():
        out.append(f' <node id="{i}" visible="true" version="1" lat="{y:.7f}" lon="{x:.7f}"/>')
    for wid, refs, tags in ways:
        out.append(f' <way id="{wid}" visible="true" version="1">')
        out += [f'  <nd ref="{r}"/>' for r in refs]
        out += [f'  <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        out.append(" </way>")
    out.append("</osm>")
    return "\n".join(out) + "\n"


@pytest.fixture
def tiny_osm(tmp_path) -> Path:
    pytest.importorskip("osmnx")
    p = tmp_path / "village.osm"
    p.write_text(_xml(), encoding="utf-8")
    return p


def test_import_stays_lazy():
    code = (
        "import json, sys, microgrid\nmicrogrid.from_osm\n"
        "print(json.dumps([m for m in ('osmnx', 'pyrosm') if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_bad_paths(tmp_path):
    with pytest.raises(InputError, match="not found"):
        microgrid.from_osm(tmp_path / "nope.osm")
    f = tmp_path / "roads.shp"
    f.write_text("x")
    with pytest.raises(InputError, match=r"\.osm.*\.pbf"):
        microgrid.from_osm(f)


def test_missing_reader_says_how_to_install(tmp_path, monkeypatch):
    f = tmp_path / "v.osm"
    f.write_text(_xml())
    monkeypatch.setitem(sys.modules, "osmnx", None)  # makes "import osmnx" fail
    with pytest.raises(MissingDependency, match=r"osmnx.*'osm' extra"):
        microgrid.from_osm(f)
    g = tmp_path / "v.osm.pbf"
    g.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "pyrosm", None)
    with pytest.raises(MissingDependency, match=r"pyrosm.*'osm' extra"):
        microgrid.from_osm(g)


def test_tiny_layers(tiny_osm):
    lay = microgrid.from_osm(tiny_osm)
    assert isinstance(lay, microgrid.OSMLayers)
    for gdf in (lay.buildings, lay.barriers, lay.landmarks, lay.boundary):
        assert gdf.crs.to_epsg() == 4326
    # buildings: "no" is not a building, the one outside the bounds is dropped
    assert sorted(lay.buildings["osm_id"]) == ["way/110", "way/111"]
    apt = lay.buildings.set_index("osm_id").loc["way/110"]
    assert apt["building"] == "apartments" and apt["building:levels"] == "6"
    assert set(lay.buildings.geom_type) == {"Polygon"}
    # barriers: highway classes as kinds, tunnels/underground/proposed left out, outlines of water
    kinds = dict(zip(lay.barriers["osm_id"], lay.barriers["kind"]))
    assert kinds == {
        "way/100": "secondary",
        "way/101": "residential",
        "way/104": "railway",
        "way/105": "fence",
        "way/106": "river",
        "way/123": "water",
    }
    assert set(lay.barriers.geom_type) <= {"LineString", "MultiLineString"}
    assert all(k in BARRIER_RANKS for k in lay.barriers["kind"])
    assert lay.barriers.set_index("osm_id").loc["way/100", "name"] == "主街"
    # landmarks: named public places only (no campus, no nameless park, no residential area)
    assert lay.landmarks[["osm_id", "name", "key", "kind"]].values.tolist() == [
        ["way/120", "实验小学", "amenity", "school"]
    ]
    # boundary: the file's <bounds>
    assert shapely.equals_exact(lay.boundary.geometry.iloc[0], shapely.box(116.30, 39.90, 116.31, 39.91), 1e-9)
    assert "village.osm" in repr(lay)


def test_tiny_boundary_options(tiny_osm, tmp_path):
    named = microgrid.from_osm(tiny_osm, boundary_name="幸福村")
    assert named.boundary.geometry.iloc[0].bounds == pytest.approx((116.3005, 39.9005, 116.3095, 39.9095))
    assert named.boundary["name"].iloc[0] == "幸福村"
    with pytest.raises(InputError, match="幸福村"):
        microgrid.from_osm(tiny_osm, boundary_name="幸福")
    with pytest.raises(InputError, match="not both"):
        microgrid.from_osm(tiny_osm, boundary="hull", boundary_name="幸福村")
    hull = microgrid.from_osm(tiny_osm, boundary="hull").boundary.geometry.iloc[0]
    assert hull.covers(shapely.box(116.4000, 39.9500, 116.4005, 39.9505))  # hull of all buildings
    # a given polygon (bare geometry = lon/lat) keeps only what touches it
    small = shapely.box(116.3008, 39.9008, 116.3017, 39.9017)
    lay = microgrid.from_osm(tiny_osm, boundary=small)
    assert lay.buildings["osm_id"].tolist() == ["way/110"]
    assert lay.landmarks.empty
    # a GeoDataFrame in another CRS is reprojected
    lay2 = microgrid.from_osm(tiny_osm, boundary=gpd.GeoDataFrame(geometry=[small], crs=4326).to_crs(32650))
    assert lay2.buildings["osm_id"].tolist() == ["way/110"]
    # no <bounds>: the hull
    nb = tmp_path / "nobounds.osm"
    nb.write_text(_xml(bounds=False), encoding="utf-8")
    assert microgrid.from_osm(nb).boundary.geometry.iloc[0].equals(hull)
    with pytest.raises(InputError, match="bounds"):
        microgrid.from_osm(nb, boundary="bounds")


def test_tiny_custom_landmark_tags(tiny_osm):
    lay = microgrid.from_osm(tiny_osm, landmark_tags={"amenity": {"university"}, "landuse": True})
    assert sorted(lay.landmarks["name"]) == ["幸福村", "某大学"]


def test_tiny_to_file_and_partition(tiny_osm, tmp_path):
    lay = microgrid.from_osm(tiny_osm, boundary_name="幸福村")
    out = lay.to_file(tmp_path / "layers.gpkg")
    import pyogrio

    assert {"buildings", "barriers", "landmarks", "boundary"} == {str(n) for n in pyogrio.list_layers(out)[:, 0]}
    with pytest.raises(InputError, match="exists"):
        lay.to_file(out)
    lay.to_file(out, overwrite=True)
    hh = lay.households(seed=1)
    assert len(hh) > 0 and int(hh["persons"].sum()) > 0
    plan = lay.partition(min_persons=1, max_persons=10**6, seed=0)
    assert plan.report.ok and len(plan.grids) == 1
    assert int(plan.grids["persons"].sum()) == int(lay.households(seed=0)["persons"].sum())


def test_osm_xml_layers_feed_input_crs(tiny_osm):
    """An .osm file is WGS84; its layers can be converted to GCJ-02 and partitioned with input_crs."""
    lay = microgrid.from_osm(tiny_osm, boundary_name="幸福村")
    hh = lay.households(seed=0)
    plan = microgrid.partition(
        *(microgrid.from_wgs84(x, "gcj02") for x in (hh, lay.boundary, lay.barriers)),
        min_persons=1,
        max_persons=10**6,
        input_crs="gcj02",
    )
    gcj_bnd = microgrid.from_wgs84(lay.boundary, "gcj02").geometry.iloc[0]
    assert shapely.symmetric_difference(plan.grids.geometry.union_all(), gcj_bnd).area < 1e-3 * gcj_bnd.area


# ---------------------------------------------------------------- .pbf through pyrosm (its bundled extract)


@pytest.fixture(scope="module")
def test_pbf() -> Path:
    pyrosm = pytest.importorskip("pyrosm")
    p = Path(pyrosm.get_data("test_pbf"))
    # shipped inside the package: nothing was downloaded
    assert p.is_file() and Path(pyrosm.__file__).parent in p.parents
    return p


def test_pbf_layers_and_partition(test_pbf):
    t0 = time.perf_counter()
    lay = microgrid.from_osm(test_pbf)
    assert len(lay.buildings) > 1000 and set(lay.buildings.geom_type) <= {"Polygon", "MultiPolygon"}
    assert lay.buildings["osm_id"].str.match(r"^(way|relation)/\d+$").all()
    assert {"residential", "secondary", "motorway"} <= set(lay.barriers["kind"])
    assert all(k in BARRIER_RANKS for k in lay.barriers["kind"])
    assert "Helilän koulu" in set(lay.landmarks["name"])  # a named school
    hull = lay.boundary.geometry.iloc[0]  # no <bounds> in a .pbf: the hull of the buildings
    assert shapely.covers(hull, shapely.points(shapely.get_coordinates(lay.buildings.geometry.to_numpy()))).all()
    plan = lay.partition(seed=0, on_infeasible="flag")
    assert plan.report.ok
    assert plan.households["household_id"].is_unique
    assert int(plan.grids["persons"].sum()) == int(plan.households["persons"].sum())
    assert time.perf_counter() - t0 < 20


# ---------------------------------------------------------------- the real extracts next to the repository


@pytest.mark.parametrize("name", REAL_PLACES)
def test_real_extract_layers(osm_dir, name):
    lay = microgrid.from_osm(real_extract(osm_dir, name))
    gpkg = osm_dir / f"{name}.gpkg"
    if gpkg.exists():  # the GeoPackages next to the extracts were derived from the same files
        ref = gpd.read_file(gpkg, layer="buildings")
        assert set(lay.buildings["osm_id"]) == set(ref["osm_id"])
        bbox = gpd.read_file(gpkg, layer="export_bbox").geometry.union_all()
        assert shapely.symmetric_difference(bbox, lay.boundary.geometry.iloc[0]).area < 1e-9
    assert len(lay.barriers) > 100
    assert all(k in BARRIER_RANKS for k in lay.barriers["kind"])
    assert lay.barriers["geometry"].intersects(lay.boundary.geometry.iloc[0]).all()
    assert lay.landmarks["name"].notna().all()
    assert not lay.landmarks["kind"].isin(["university", "residential"]).any()


def test_real_extract_end_to_end(osm_dir):
    f = real_extract(osm_dir, "cau_beijing")
    t0 = time.perf_counter()
    lay = microgrid.from_osm(f)
    hh = microgrid.estimate_households(lay.buildings, clip_to=lay.boundary, seed=0)
    plan = microgrid.partition(hh, lay.boundary, lay.barriers, lay.landmarks, seed=0, on_infeasible="flag")
    assert time.perf_counter() - t0 < 20
    assert plan.report.ok
    assert plan.grids.crs.to_epsg() == 4326
    work = plan.params["work_crs"]
    geoms = plan.grids.to_crs(work).geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    bnd = lay.boundary.to_crs(work).geometry.iloc[0]
    assert shapely.symmetric_difference(shapely.coverage_union_all(geoms), bnd).area < 1.0
    assert sorted(plan.households["household_id"]) == sorted(hh["household_id"])
    ok = plan.grids["persons"].between(200, 300) | plan.grids["flagged"]
    assert ok.all()
    # barriers ranked by highway class: the main roads are rank 1, footways rank 4
    ranks = dict(zip(plan.barriers["kind"], plan.barriers["rank"]))
    assert ranks.get("primary", 1) == 1 and ranks.get("footway", 4) == 4
    assert np.isin(plan.barriers["rank"], [1, 2, 3, 4]).all()
