"""GCJ-02 / BD-09 conversions, CGCS2000 Gauss-Krüger zones, and partition(input_crs=...)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import microgrid
from conftest import REPO
from microgrid.cli import main
from microgrid.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_crs,
    from_wgs84,
    gauss_kruger_zone,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    is_metric_true,
    metric_crs,
    metric_crs_for,
    normalize_system,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from microgrid.errors import InputError

GEOD = pyproj.Geod(ellps="WGS84")
SAMPLE = REPO / "data" / "samples" / "village.gpkg"


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# ---------------------------------------------------------------- published reference points

# wandergis/coordtransform, test/app.js (and its Python/Rust ports, same constants):
# the point 116.404, 39.915 through each conversion.
WANDERGIS_IN = (116.404, 39.915)
WANDERGIS_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
WANDERGIS_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
# the same file's inverses use the one-step approximations (a few cm off here)
WANDERGIS_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)
WANDERGIS_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)

# googollee/eviltransform, python/test.py: (wgsLat, wgsLng, gcjLat, gcjLng)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


def test_forward_matches_published_values():
    assert wgs84_to_gcj02(*WANDERGIS_IN) == pytest.approx(WANDERGIS_WGS84_TO_GCJ02, abs=1e-12)
    assert gcj02_to_bd09(*WANDERGIS_IN) == pytest.approx(WANDERGIS_GCJ02_TO_BD09, abs=1e-12)
    for wlat, wlon, glat, glon in EVILTRANSFORM:
        assert wgs84_to_gcj02(wlon, wlat) == pytest.approx((glon, glat), abs=1e-12)


def test_inverse_on_published_points_is_exact():
    for wlat, wlon, glat, glon in EVILTRANSFORM:
        lon, lat = gcj02_to_wgs84(glon, glat)
        assert metres(lon, lat, wlon, wlat) < 1e-6
    lon, lat = gcj02_to_wgs84(*WANDERGIS_WGS84_TO_GCJ02)
    assert metres(lon, lat, *WANDERGIS_IN) < 1e-6
    lon, lat = bd09_to_gcj02(*WANDERGIS_GCJ02_TO_BD09)
    assert metres(lon, lat, *WANDERGIS_IN) < 1e-6


def test_inverse_improves_on_the_one_step_formulas():
    """The published one-step inverses are within decimetres; ours reproduce the input exactly."""
    lon, lat = gcj02_to_wgs84(*WANDERGIS_IN)
    assert metres(lon, lat, *WANDERGIS_GCJ02_TO_WGS84) < 0.2
    assert metres(*wgs84_to_gcj02(lon, lat), *WANDERGIS_IN) < 1e-6
    fx, fy = wgs84_to_gcj02(*WANDERGIS_GCJ02_TO_WGS84)
    assert metres(fx, fy, *WANDERGIS_IN) > metres(*wgs84_to_gcj02(lon, lat), *WANDERGIS_IN)
    lon, lat = bd09_to_gcj02(*WANDERGIS_IN)
    assert metres(lon, lat, *WANDERGIS_BD09_TO_GCJ02) < 0.2
    assert metres(*gcj02_to_bd09(lon, lat), *WANDERGIS_IN) < 1e-6


def test_bd09_composes_gcj02():
    lon, lat = wgs84_to_bd09(*WANDERGIS_IN)
    assert (lon, lat) == pytest.approx(gcj02_to_bd09(*wgs84_to_gcj02(*WANDERGIS_IN)), abs=1e-12)
    assert bd09_to_wgs84(lon, lat) == pytest.approx(WANDERGIS_IN, abs=1e-10)


def test_offset_size_is_plausible():
    """GCJ-02 moves Beijing by a few hundred metres; BD-09 adds roughly another kilometre."""
    d = metres(*WANDERGIS_IN, *wgs84_to_gcj02(*WANDERGIS_IN))
    assert 300 < d < 800
    d = metres(*WANDERGIS_IN, *gcj02_to_bd09(*WANDERGIS_IN))
    assert 500 < d < 1500


# ---------------------------------------------------------------- out of China, shapes, NaN


@pytest.mark.parametrize(
    "lon, lat", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2, -33.87), (139.9, 35.7), (0.0, 0.0), (116.4, 60.0)]
)
def test_out_of_china_is_identity(lon, lat):
    assert out_of_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_out_of_china_box():
    assert not out_of_china(116.4, 39.9).any()
    assert out_of_china([72.0, 137.9, 100.0, 100.0], [30.0, 30.0, 0.8, 55.9]).all()


def test_vectorized_shapes_and_nan():
    lon = np.array([[116.4, 121.5], [np.nan, 2.35]])
    lat = np.array([[39.9, 31.2], [30.0, 48.86]])
    for f in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        x, y = f(lon, lat)
        assert x.shape == y.shape == (2, 2)
        assert np.isnan(x[1, 0]) and np.isfinite(x[0]).all()
    x, y = wgs84_to_gcj02(lon, lat)
    assert x[1, 1] == 2.35 and y[1, 1] == 48.86
    assert isinstance(wgs84_to_gcj02(116.4, 39.9)[0], float)
    # a scalar latitude broadcasts against an array of longitudes
    x, y = wgs84_to_gcj02(np.array([116.0, 117.0]), 40.0)
    assert x.shape == y.shape == (2,)


# ---------------------------------------------------------------- round trips (hypothesis)

china_lon = st.floats(min_value=73.6, max_value=134.7)
china_lat = st.floats(min_value=18.2, max_value=53.5)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, 64, elements=china_lon), arrays(np.float64, 64, elements=china_lat))
def test_gcj02_round_trip_below_a_centimetre(lon, lat):
    g = wgs84_to_gcj02(lon, lat)
    assert metres(*gcj02_to_wgs84(*g), lon, lat).max() < 0.01
    # and the other way: GCJ-02 -> WGS84 -> GCJ-02
    assert metres(*wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), lon, lat).max() < 0.01


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, 64, elements=china_lon), arrays(np.float64, 64, elements=china_lat))
def test_bd09_round_trips_below_a_centimetre(lon, lat):
    assert metres(*bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), lon, lat).max() < 0.01
    assert metres(*gcj02_to_bd09(*bd09_to_gcj02(lon, lat)), lon, lat).max() < 0.01
    assert metres(*bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat).max() < 0.01
    assert metres(*wgs84_to_bd09(*bd09_to_wgs84(lon, lat)), lon, lat).max() < 0.01


def test_round_trip_on_a_dense_grid_is_exact():
    lon, lat = np.meshgrid(np.linspace(73.7, 134.7, 301), np.linspace(18.2, 53.5, 201))
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(*back, lon, lat).max() < 1e-4
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(*back, lon, lat).max() < 1e-4


# ---------------------------------------------------------------- names and geometries


@pytest.mark.parametrize(
    "name, canon",
    [
        ("gcj02", "gcj02"),
        ("GCJ-02", "gcj02"),
        ("Gcj_02", "gcj02"),
        ("BD-09", "bd09"),
        ("bd09", "bd09"),
        ("WGS84", "wgs84"),
        ("EPSG:4326", "wgs84"),
    ],
)
def test_normalize_system(name, canon):
    assert normalize_system(name) == canon


def test_unknown_system_lists_the_accepted_ones():
    with pytest.raises(InputError, match="gcj02.*bd09"):
        normalize_system("mercator")


def test_geometry_helpers_all_types_and_z():
    geoms = [
        shapely.Point(116.40, 39.91),
        shapely.Point(116.40, 39.91, 42.0),
        shapely.LineString([(116.40, 39.91), (116.41, 39.92)]),
        shapely.box(116.40, 39.90, 116.41, 39.91).buffer(0.001),
        shapely.MultiPolygon([shapely.box(116.40, 39.90, 116.41, 39.91), shapely.box(116.42, 39.90, 116.43, 39.91)]),
        shapely.GeometryCollection([shapely.Point(116.4, 39.9), shapely.LineString([(116.4, 39.9), (116.5, 40.0)])]),
        None,
    ]
    out = from_wgs84(np.array(geoms, dtype=object), "gcj02")
    assert out[-1] is None
    assert shapely.has_z(out[1]) and shapely.get_coordinates(out[1], include_z=True)[0, 2] == 42.0
    for g, o in zip(geoms[:-1], out[:-1]):
        xy, oxy = shapely.get_coordinates(g), shapely.get_coordinates(o)
        assert xy.shape == oxy.shape and shapely.get_type_id(g) == shapely.get_type_id(o)
        assert np.allclose(np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])), oxy, rtol=0, atol=1e-12)
    back = to_wgs84(out, "gcj02")
    for g, b in zip(geoms[:-1], back[:-1]):
        assert shapely.equals_exact(g, b, tolerance=1e-10)


def test_geodataframe_helpers_keep_columns_and_label_4326():
    gdf = gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=[shapely.Point(116.4, 39.9), shapely.Point(121.5, 31.2)], crs="EPSG:4326"
    )
    g = from_wgs84(gdf, "bd09")
    assert g.crs.to_epsg() == 4326 and g["name"].tolist() == ["a", "b"]
    assert gdf.geometry.x.iloc[0] == 116.4  # the input is not modified
    back = to_wgs84(g, "BD-09")
    assert np.allclose(shapely.get_coordinates(back.geometry), shapely.get_coordinates(gdf.geometry), atol=1e-11)
    s = to_wgs84(g.geometry, "bd09")
    assert isinstance(s, gpd.GeoSeries) and s.crs.to_epsg() == 4326
    # a metric layer is reprojected to lon/lat before from_wgs84
    m = from_wgs84(gdf.to_crs(32650), "gcj02")
    assert m.crs.to_epsg() == 4326
    assert np.allclose(
        shapely.get_coordinates(m.geometry), shapely.get_coordinates(from_wgs84(gdf, "gcj02").geometry), atol=1e-9
    )
    # but GCJ-02 input in a projected CRS makes no sense
    with pytest.raises(InputError, match="projected"):
        to_wgs84(gdf.to_crs(32650), "gcj02")
    # wgs84 is the identity
    assert shapely.equals_exact(to_wgs84(gdf, "wgs84").geometry, gdf.geometry, tolerance=0).all()


# ---------------------------------------------------------------- CGCS2000 (EPSG:4490)


@pytest.mark.parametrize(
    "lon, cm",
    [(75.2, 75), (87.6, 87), (104.06, 105), (113.26, 114), (116.35, 117), (121.47, 120), (126.6, 126), (134.9, 135)],
)
def test_cgcs2000_picks_its_3_degree_gauss_kruger_zone(lon, cm):
    crs = metric_crs("EPSG:4490", lon, 35.0)
    assert crs == gauss_kruger_zone(lon)
    assert crs.to_epsg() == 4534 + (cm - 75) // 3
    assert f"CM {cm}E" in crs.name and "CGCS2000" in crs.name
    # WGS84 input gets UTM, not Gauss-Krüger
    assert metric_crs("EPSG:4326", lon, 35.0).to_epsg() in range(32601, 32661)


def test_cgcs2000_layer_and_partition_work_in_gauss_kruger():
    hh, bnd, roads, marks = (
        gpd.read_file(SAMPLE, layer=n).to_crs(4490) for n in ("households", "boundary", "barriers", "landmarks")
    )
    assert metric_crs_for(bnd).to_epsg() == 4548  # CM 117E near Beijing
    plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    assert pyproj.CRS.from_user_input(plan.params["work_crs"]).to_epsg() == 4548
    assert plan.grids.crs.to_epsg() == 4490  # comes back in the input CRS
    assert plan.report.ok


def test_gauss_kruger_outside_china_is_an_input_error():
    with pytest.raises(InputError, match="Gauss-Krüger"):
        metric_crs("EPSG:4490", 10.0, 50.0)


# ---------------------------------------------------------------- partition(input_crs=...)


@pytest.fixture(scope="module")
def sample_layers():
    return {n: gpd.read_file(SAMPLE, layer=n) for n in ("households", "boundary", "barriers", "landmarks")}


@pytest.fixture(scope="module")
def wgs_plan(sample_layers):
    L = sample_layers
    return microgrid.partition(L["households"], L["boundary"], L["barriers"], L["landmarks"], seed=0)


def _same_plan(a, b):
    assert len(a.grids) == len(b.grids)
    ha = a.households.set_index("household_id")["grid_id"].sort_index()
    hb = b.households.set_index("household_id")["grid_id"].sort_index()
    assert ha.equals(hb)
    assert a.grids["persons"].tolist() == b.grids["persons"].tolist()


@pytest.mark.parametrize("system, name", [("gcj02", "gcj02"), ("gcj02", "GCJ-02"), ("bd09", "BD-09")])
def test_partition_in_gcj02_and_bd09(sample_layers, wgs_plan, system, name):
    conv = {k: from_wgs84(v, system) for k, v in sample_layers.items()}
    plan = microgrid.partition(
        conv["households"], conv["boundary"], conv["barriers"], conv["landmarks"], seed=0, input_crs=name
    )
    assert plan.params["input_crs"] == system
    assert plan.report.ok
    assert len(plan.grids) == len(wgs_plan.grids)
    if system == "gcj02":  # GCJ-02 -> WGS84 gives back the WGS84 input bit for bit here
        _same_plan(wgs_plan, plan)
    else:  # BD-09 loses a unit in the last place, which may tip the partitioner: compare like with like
        back = {k: to_wgs84(v, system) for k, v in conv.items()}
        _same_plan(
            microgrid.partition(back["households"], back["boundary"], back["barriers"], back["landmarks"], seed=0), plan
        )
    # the grids are in the input system: they tile its boundary ...
    bnd = conv["boundary"].geometry.union_all()
    geoms = plan.grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    wgs_union = shapely.coverage_union_all(wgs_plan.grids.geometry.to_numpy())
    assert shapely.symmetric_difference(union, bnd).area < 1e-3 * bnd.area
    assert shapely.symmetric_difference(wgs_union, bnd).area > 0.05 * bnd.area  # the offset is large
    # ... they are the WGS84 plan's grids converted, vertex for vertex ...
    if system == "gcj02":
        expect = from_wgs84(wgs_plan.grids, system).geometry.to_numpy()
        assert shapely.equals_exact(shapely.normalize(expect), shapely.normalize(geoms), tolerance=1e-9).all()
    # ... and each household's position in the input system lies in its grid
    gmap = dict(zip(plan.grids["grid_id"], geoms))
    pos = conv["households"].set_index("household_id").geometry.reindex(plan.households["household_id"])
    assert all(shapely.covers(gmap[g], p) for g, p in zip(plan.households["grid_id"], pos))
    assert np.abs(shapely.get_coordinates(plan.households.geometry) - shapely.get_coordinates(pos)).max() < 1e-10
    # every layer comes back in the input system
    for gdf in (plan.households, plan.boundary, plan.barriers, plan.units, plan.report.violations):
        assert gdf.crs.to_epsg() == 4326
    assert shapely.symmetric_difference(plan.boundary.geometry.union_all(), bnd).area < 1e-12


def test_partition_input_crs_with_levels_and_paths(tmp_path, sample_layers):
    conv = {k: from_wgs84(v, "gcj02") for k, v in sample_layers.items()}
    f = tmp_path / "gcj.gpkg"
    for k, v in conv.items():
        v.to_file(f, layer=k, driver="GPKG", engine="pyogrio")
    levels = [microgrid.Level("grid", 1000, 2600), microgrid.Level("microgrid", 200, 300)]
    plan = microgrid.partition(
        f"{f}#households", f"{f}#boundary", f"{f}#barriers", f"{f}#landmarks", seed=0, input_crs="gcj02", levels=levels
    )
    coarse = plan.layers["grids_grid"]
    bnd = conv["boundary"].geometry.union_all()
    assert (
        shapely.symmetric_difference(shapely.coverage_union_all(coarse.geometry.to_numpy()), bnd).area < 1e-3 * bnd.area
    )
    for rep in plan.level_reports.values():
        assert rep.violations.crs.to_epsg() == 4326


def test_partition_bare_geometry_boundary_without_crs(sample_layers, wgs_plan):
    conv = {k: from_wgs84(v, "gcj02") for k, v in sample_layers.items()}
    hh = conv["households"].set_crs(None, allow_override=True)
    plan = microgrid.partition(
        hh, conv["boundary"].geometry.iloc[0], conv["barriers"], conv["landmarks"], seed=0, input_crs="gcj02"
    )
    _same_plan(wgs_plan, plan)


def test_partition_wgs84_input_crs_is_a_no_op(sample_layers, wgs_plan):
    L = sample_layers
    plan = microgrid.partition(L["households"], L["boundary"], L["barriers"], L["landmarks"], seed=0, input_crs="WGS84")
    _same_plan(wgs_plan, plan)
    assert "input_crs" not in plan.params


def test_partition_unknown_input_crs(village3x3):
    with pytest.raises(InputError, match="'wgs84', 'gcj02'"):
        microgrid.partition(*village3x3, input_crs="utm")


def test_partition_gcj02_rejects_projected_layers(village3x3):
    with pytest.raises(InputError, match="households.*projected"):
        microgrid.partition(*village3x3, input_crs="gcj02")


def test_cli_input_crs(tmp_path, sample_layers, wgs_plan):
    f = tmp_path / "gcj.gpkg"
    for k, v in sample_layers.items():
        from_wgs84(v, "gcj02").to_file(f, layer=k, driver="GPKG", engine="pyogrio")
    out = tmp_path / "plan.gpkg"
    assert main(["partition", str(f), "--input-crs", "GCJ02", "--out", str(out)]) == 0
    grids = gpd.read_file(out, layer="grids")
    hh = gpd.read_file(out, layer="households")
    assert len(grids) == len(wgs_plan.grids)
    expect = from_wgs84(wgs_plan.grids, "gcj02")
    assert np.abs(grids.total_bounds - expect.total_bounds).max() < 1e-9
    assert (
        hh.set_index("household_id")["grid_id"].sort_index().tolist()
        == wgs_plan.households.set_index("household_id")["grid_id"].sort_index().tolist()
    )


# ---------------------------------------------------------------- one checked parse of every CRS

#: values check_crs refuses, by the reason it gives: {case: value}
REFUSED = {
    "is not a CRS": {
        "unknown name": "foo",
        "EPSG code out of range": "EPSG:99999",
        "float": 1e10,
        "dict": {"a": 1},
        "None": None,
    },
    "cannot be converted to WGS84": {"the Moon": "IAU_2015:30100", "sphere of radius 1": "+proj=longlat +a=1"},
    "neither geographic nor projected": {
        "LOCAL_CS": 'LOCAL_CS["site grid",UNIT["metre",1]]',
        "geocentric": "EPSG:4978",
        "vertical": "EPSG:5773",
    },
}
#: {case: (value, reason)}
BAD_CRS = {case: (value, why) for why, cases in REFUSED.items() for case, value in cases.items()}


@pytest.mark.parametrize("case", list(BAD_CRS))
def test_check_crs_refuses_with_the_accepted_forms(case):
    value, why = BAD_CRS[case]
    with pytest.raises(InputError) as ei:
        check_crs(value)
    msg = str(ei.value)
    assert why in msg
    assert "EPSG:4326" in msg and "PROJ string" in msg and "WKT" in msg


@pytest.mark.parametrize(
    "value",
    [
        "EPSG:4326",
        4490,
        "EPSG:32650",
        "+proj=utm +zone=50 +datum=WGS84",
        pyproj.CRS(3857).to_wkt(),
        {"proj": "utm", "zone": 50},
        "EPSG:4326+5773",
    ],
)
def test_check_crs_accepts(value):
    assert isinstance(check_crs(value), pyproj.CRS)


@pytest.mark.parametrize("case", ["unknown name", "EPSG code out of range", "the Moon", "LOCAL_CS"])
def test_partition_bad_crs_is_input_error(village3x3, case):
    value, why = BAD_CRS[case]
    none = [g.set_crs(None, allow_override=True) for g in village3x3]
    with pytest.raises(InputError, match=why):
        microgrid.partition(*none, crs=value)
    with pytest.raises(InputError, match=why):  # the input_crs path parses crs= too
        microgrid.partition(*none, crs=value, input_crs="gcj02")


def test_partition_layer_in_a_local_crs_is_input_error(village3x3):
    hh, bnd, roads = village3x3
    local = pyproj.CRS('LOCAL_CS["site grid",UNIT["metre",1]]')
    with pytest.raises(InputError, match="households' CRS.*neither geographic nor projected"):
        microgrid.partition(hh.set_crs(local, allow_override=True), bnd, roads)


@pytest.mark.parametrize("case", ["unknown name", "EPSG code out of range", "the Moon", "LOCAL_CS"])
def test_cli_bad_crs_exit_2(tmp_path, capsys, village3x3, case):
    f = tmp_path / "v.gpkg"  # --crs is checked before anything is read or done
    for name, g in zip(("households", "boundary", "barriers"), village3x3):
        g.to_file(f, layer=name, driver="GPKG", engine="pyogrio")
    capsys.readouterr()
    assert main(["partition", str(f), "--crs", BAD_CRS[case][0], "--out", str(tmp_path / "p.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("error: --crs") and "EPSG:4326" in err
    assert not (tmp_path / "p.gpkg").exists()


# ---------------------------------------------------------------- metric-true working CRS


def test_metric_crs_replaces_web_mercator_and_feet():
    assert not is_metric_true("EPSG:3857", 116.35, 40.0)  # 1.31x at 40N
    assert not is_metric_true("EPSG:2263", -74.0, 40.7)  # US survey feet
    assert not is_metric_true("EPSG:32650", 60.0, 40.0)  # UTM 50N far outside its zone
    assert is_metric_true("EPSG:32650", 116.35, 40.0)
    assert metric_crs("EPSG:3857", 116.35, 40.0).to_epsg() == 32650
    assert metric_crs("EPSG:2263", -74.0, 40.7).to_epsg() == 32618
    assert metric_crs("EPSG:4548", 116.35, 40.0).to_epsg() == 4548  # Gauss-Krüger at its meridian: kept
    assert metric_crs("EPSG:32650", 116.35, 40.0).to_epsg() == 32650


def test_web_mercator_areas_match_lonlat():
    hh, bnd, roads, marks = microgrid.samples.make_village(n_households=300, seed=1)
    plans = {c: microgrid.partition(*(g.to_crs(c) for g in (hh, bnd, roads, marks))) for c in (4326, 3857)}
    a4326 = plans[4326].grids.sort_values("grid_id")["area_m2"].to_numpy()
    a3857 = plans[3857].grids.sort_values("grid_id")["area_m2"].to_numpy()
    assert len(a4326) == len(a3857)
    np.testing.assert_allclose(a3857, a4326, rtol=0.005)
    assert plans[3857].grids.crs.to_epsg() == 3857  # written back in the input's CRS
    assert pyproj.CRS(plans[3857].params["work_crs"]).to_epsg() == 32650
    # the true area of the boundary, not Web Mercator's 1.70x
    true = bnd.to_crs(32650).area.iloc[0]
    assert abs(a3857.sum() / true - 1) < 0.005


def test_cli_households_in_gcj02_boundary_in_wgs84(tmp_path, capsys, sample_layers):
    f = tmp_path / "mixed.gpkg"
    from_wgs84(sample_layers["households"], "gcj02").to_file(f, layer="households", driver="GPKG", engine="pyogrio")
    sample_layers["boundary"].to_file(f, layer="boundary", driver="GPKG", engine="pyogrio")
    capsys.readouterr()
    assert main(["partition", str(f), "--out", str(tmp_path / "p.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "GCJ-02" in err and "--input-crs gcj02" in err and "outside='snap'" not in err
    assert main(["partition", str(f), "--outside", "snap", "--out", str(tmp_path / "p.gpkg")]) == 2
    assert "--input-crs gcj02" in capsys.readouterr().err
