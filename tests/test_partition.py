"""Stage 4 and 5: partition into grids, assemble the plan, write it."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import microgrid
from conftest import (
    X0,
    Y0,
    assert_plan_invariants,
    block_village,
    boundary_gdf,
    households_gdf,
    plans_equal,
    square,
)
from microgrid import InfeasibleError, InputError
from microgrid.partition.regions import feasible_counts, partition_graph

# ---------------------------------------------------------------- the 3x3 village


def test_3x3_village_plan(village3x3):
    hh, bnd, roads = village3x3
    plan = microgrid.partition(hh, bnd, roads, seed=0)
    assert_plan_invariants(plan, hh)
    assert plan.n_grids == 3
    assert sorted(plan.grids["persons"]) == [225, 225, 225]
    assert plan.report.ok
    assert plan.report.metrics["coverage_valid"]
    # with the population in whole blocks, every grid line runs along a road
    assert plan.report.metrics["online_share"] == pytest.approx(1.0)
    assert (plan.grids["online_share"] > 0.999).all()
    # each grid is a union of three whole blocks
    for g in plan.grids.geometry:
        assert g.area == pytest.approx(30_000.0)


def test_3x3_village_grids_keep_blocks_whole(village3x3):
    hh, bnd, roads = village3x3
    plan = microgrid.partition(hh, bnd, roads, seed=0)
    for bx in range(3):
        for by in range(3):
            block = shapely.box(X0 + 100 * bx, Y0 + 100 * by, X0 + 100 * bx + 100, Y0 + 100 * by + 100)
            inter = shapely.area(shapely.intersection(plan.grids.geometry.to_numpy(), block))
            assert (inter > 1e-6).sum() == 1, (bx, by)


def test_grid_ids_codes_and_order(village3x3):
    plan = microgrid.partition(*village3x3, seed=0)
    g = plan.grids
    assert g["grid_id"].tolist() == list(range(1, plan.n_grids + 1))
    for col in ("persons", "households", "flagged", "flag_reason", "area_m2", "online_share", "polsby_popper"):
        assert col in g.columns
    assert (g["households"] == plan.households.groupby("grid_id").size().reindex(g["grid_id"]).to_numpy()).all()
    assert g["area_m2"].sum() == pytest.approx(90_000.0)
    assert not g["flagged"].any()


def test_one_road_splitting_a_square(split):
    hh, bnd, road = split
    plan = microgrid.partition(hh, bnd, road, seed=0)
    assert_plan_invariants(plan, hh)
    assert plan.n_grids == 2
    assert sorted(plan.grids["persons"]) == [250, 250]
    left = shapely.box(X0, Y0, X0 + 100, Y0 + 100)
    assert any(shapely.equals(g, left) for g in plan.grids.geometry)


def test_without_barriers(split):
    hh, bnd, _ = split
    plan = microgrid.partition(hh, bnd, seed=0)
    assert_plan_invariants(plan, hh)
    assert plan.n_grids == 2
    assert len(plan.barriers) == 0


def test_all_households_in_one_grid():
    hh = households_gdf([(X0 + 10 + 5 * i, Y0 + 50) for i in range(50)], [5] * 50)
    plan = microgrid.partition(hh, boundary_gdf(square()), seed=0)
    assert plan.n_grids == 1
    assert shapely.equals(plan.grids.geometry.iloc[0], square())
    assert_plan_invariants(plan, hh)


def test_zero_person_households_are_kept(village3x3):
    hh, bnd, roads = village3x3
    hh.loc[[0, 1, 2], "persons"] = 0
    plan = microgrid.partition(hh, bnd, roads, seed=0)
    assert_plan_invariants(plan, hh)


def test_coincident_households(village3x3):
    # a flat block: 12 households at one address
    hh, bnd, roads = village3x3
    hh.loc[0:11, "geometry"] = [hh.geometry.iloc[0]] * 12
    plan = microgrid.partition(hh, bnd, roads, seed=0)
    assert_plan_invariants(plan, hh)
    assert plan.households.set_index("household_id").loc[[f"h{i:03d}" for i in range(12)], "grid_id"].nunique() == 1


# ---------------------------------------------------------------- samples


@pytest.mark.parametrize("n, seed", [(150, 1), (400, 3), (800, 2)])
def test_sample_villages(n, seed):
    hh, bnd, roads, marks = microgrid.samples.make_village(n, seed=seed)
    plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    assert_plan_invariants(plan, hh)
    total = int(hh["persons"].sum())
    assert plan.n_grids in feasible_counts(total, 200, 300)
    assert plan.report.ok
    assert not plan.grids["flagged"].any()
    assert 0 <= plan.report.metrics["online_share"] <= 1


def test_sample_village_in_lon_lat():
    hh, bnd, roads, marks = microgrid.samples.make_village(300, seed=4, crs="EPSG:4326")
    plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    assert plan.grids.crs.to_epsg() == 4326
    assert plan.params["work_crs"] == "EPSG:32650"
    g = plan.grids.to_crs(32650)
    assert shapely.coverage_is_valid(g.geometry.to_numpy())
    assert plan.report.ok


@pytest.mark.parametrize("lo, hi", [(100, 200), (150, 250), (250, 400)])
def test_other_bounds(sample_village, lo, hi):
    hh = sample_village[0]
    plan = microgrid.partition(*sample_village, min_persons=lo, max_persons=hi, seed=0)
    assert_plan_invariants(plan, hh, min_persons=lo, max_persons=hi)
    assert plan.n_grids in feasible_counts(int(hh["persons"].sum()), lo, hi)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_plan(sample_village):
    a = microgrid.partition(*sample_village, seed=5)
    b = microgrid.partition(*sample_village, seed=5)
    assert plans_equal(a, b)


def test_seed_generator_is_accepted(sample_village):
    a = microgrid.partition(*sample_village, seed=np.random.default_rng(5))
    b = microgrid.partition(*sample_village, seed=np.random.default_rng(5))
    assert plans_equal(a, b)
    assert a.options.to_dict()["seed"] == "generator"


def test_global_random_state_untouched(sample_village):
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    microgrid.partition(*sample_village, seed=0)
    assert np.random.random() == expected


def test_shuffled_rows_same_plan(sample_village):
    hh, bnd, roads, marks = sample_village
    a = microgrid.partition(hh, bnd, roads, marks, seed=0)
    perm = np.random.default_rng(7).permutation(len(hh))
    shuffled = hh.iloc[perm].reset_index(drop=True)
    b = microgrid.partition(shuffled, bnd, roads.iloc[::-1].reset_index(drop=True), marks, seed=0)
    assert plans_equal(a, b, normalize=True)


def test_shuffled_rows_same_plan_3x3(village3x3):
    hh, bnd, roads = village3x3
    a = microgrid.partition(hh, bnd, roads, seed=0)
    b = microgrid.partition(hh.sample(frac=1, random_state=3), bnd, roads, seed=0)
    assert plans_equal(a, b)


# ---------------------------------------------------------------- n_grids


@pytest.mark.parametrize("k", [4, 5])
def test_n_grids_exact(sample_village, k):
    hh = sample_village[0]
    assert k in feasible_counts(int(hh["persons"].sum()), 200, 300)
    plan = microgrid.partition(*sample_village, n_grids=k, seed=0)
    assert plan.n_grids == k
    assert_plan_invariants(plan, hh)


@pytest.mark.parametrize("k", [1, 3, 6, 50])
def test_n_grids_out_of_range(sample_village, k):
    with pytest.raises(InfeasibleError) as ei:
        microgrid.partition(*sample_village, n_grids=k, seed=0)
    assert ei.value.cause == "no_grid_count"
    assert f"n_grids={k}" in str(ei.value)
    assert "4..5" in str(ei.value)


# ---------------------------------------------------------------- infeasible inputs


def test_min_greater_than_max(village3x3):
    with pytest.raises(InputError, match="swap"):
        microgrid.partition(*village3x3, min_persons=300, max_persons=200)


def test_heavy_site_is_flagged():
    # one apartment address holding 400 persons, above max_persons
    xy = [(X0 + 150, Y0 + 150)] + [(X0 + 10 + 7 * (i % 40), Y0 + 10 + 40 * (i // 40)) for i in range(80)]
    persons = [400] + [3] * 80
    hh = households_gdf(xy, persons)
    plan = microgrid.partition(hh, boundary_gdf(square()), seed=0, on_infeasible="flag")
    assert plan.report.ok
    heavy_grid = plan.households.set_index("household_id").loc["h000", "grid_id"]
    row = plan.grids.set_index("grid_id").loc[heavy_grid]
    assert row["flagged"]
    assert "max persons" in row["flag_reason"]
    assert row["persons"] >= 400
    # the rule break is reported, as flagged, with the grid id
    oob = plan.report.table("persons_out_of_bounds")
    assert (oob["severity"] == "flagged").all()
    assert [heavy_grid] in oob["ids"].tolist()
    # the others are within bounds, and the whole plan still covers everything
    rest = plan.grids[plan.grids["grid_id"] != heavy_grid]
    assert rest["persons"].between(200, 300).all()
    assert_plan_invariants(plan, hh)


def test_no_grid_count():
    hh = households_gdf([(X0 + 10 + i * 2.5, Y0 + 50) for i in range(100)], [3] * 50 + [4] * 50)
    assert hh["persons"].sum() == 350
    with pytest.raises(InfeasibleError) as ei:
        microgrid.partition(hh, boundary_gdf(square()), min_persons=200, max_persons=300)
    assert ei.value.cause == "no_grid_count"
    assert "350" in str(ei.value)
    assert "widen the bounds" in str(ei.value)
    assert ei.value.ids


@pytest.mark.parametrize("with_other_part", [False, True])
def test_no_grid_count_flag_returns_a_flagged_plan(with_other_part):
    hh = households_gdf([(X0 + 410 + i * 0.8, Y0 + 50) for i in range(100)], [3] * 50 + [4] * 50)
    bnd = shapely.box(X0 + 400, Y0, X0 + 500, Y0 + 100)
    if with_other_part:
        main, main_bnd, _ = block_village()
        hh = pd.concat([main, hh.assign(household_id=[f"x{i:03d}" for i in range(100)])], ignore_index=True)
        bnd = shapely.MultiPolygon([main_bnd.geometry.iloc[0], bnd])
    plan = microgrid.partition(hh, boundary_gdf(bnd), on_infeasible="flag")
    assert plan.grids["flagged"].any()
    assert plan.report.ok  # out-of-bounds grids are flagged, not errors
    assert sorted(plan.households["household_id"]) == sorted(hh["household_id"])
    bad = plan.grids[~plan.grids["persons"].between(200, 300)]
    assert bad["flagged"].all()


def _village_with_exclave():
    hh, bnd, roads = block_village()
    ex = shapely.box(X0 + 400, Y0, X0 + 450, Y0 + 50)
    extra = households_gdf([(X0 + 420, Y0 + 20), (X0 + 430, Y0 + 30)], [5, 5], ids=["x1", "x2"])
    hh = pd.concat([hh, extra], ignore_index=True)
    return hh, boundary_gdf(shapely.MultiPolygon([square(), ex])), roads


def test_isolated_exclave_below_min_raises():
    hh, bnd, roads = _village_with_exclave()
    with pytest.raises(InfeasibleError) as ei:
        microgrid.partition(hh, bnd, roads)
    assert ei.value.cause == "small_part"
    assert "10 persons" in str(ei.value)
    assert "on_infeasible='flag'" in str(ei.value)
    assert any("x1" in str(i) for i in ei.value.ids)


def test_isolated_exclave_flagged():
    hh, bnd, roads = _village_with_exclave()
    plan = microgrid.partition(hh, bnd, roads, on_infeasible="flag")
    assert plan.report.ok
    flagged = plan.grids[plan.grids["flagged"]]
    assert len(flagged) == 1
    assert "detached part" in flagged["flag_reason"].iloc[0]
    # the flagged grid holds the exclave and is the only multi-part grid
    assert shapely.get_num_geometries(flagged.geometry.iloc[0]) == 2
    assert (shapely.get_type_id(plan.grids.geometry[~plan.grids["flagged"]].to_numpy()) == 3).all()
    mp = plan.report.table("multipart")
    assert mp["severity"].tolist() == ["flagged"]
    out = plan.households.set_index("household_id")
    assert out.loc["x1", "grid_id"] == out.loc["x2", "grid_id"] == flagged["grid_id"].iloc[0]
    assert int(plan.grids["persons"].sum()) == 685
    assert plan.report.metrics["coverage_valid"]


def test_exclave_big_enough_is_its_own_grid():
    hh, bnd, roads = block_village()
    ex = shapely.box(X0 + 400, Y0, X0 + 450, Y0 + 50)
    extra = households_gdf([(X0 + 405 + i, Y0 + 20) for i in range(40)], [6] * 40, ids=[f"x{i}" for i in range(40)])
    hh = pd.concat([hh, extra], ignore_index=True)
    plan = microgrid.partition(hh, boundary_gdf(shapely.MultiPolygon([square(), ex])), roads)
    assert_plan_invariants(plan, hh)
    assert any(shapely.equals(g, ex) for g in plan.grids.geometry)


def test_all_below_min():
    hh = households_gdf([(X0 + 50, Y0 + 50), (X0 + 150, Y0 + 150)], [3, 4])
    with pytest.raises(InfeasibleError, match="fewer than min_persons"):
        microgrid.partition(hh, boundary_gdf(square()))
    plan = microgrid.partition(hh, boundary_gdf(square()), on_infeasible="flag")
    assert plan.n_grids == 1
    assert plan.grids["flagged"].all()
    assert plan.report.ok


def test_partition_graph_direct():
    # a path of 6 nodes of 100 persons: 2 or 3 regions of 200..300
    w = np.full(6, 100)
    u, v = np.arange(5), np.arange(1, 6)
    cost = np.ones(5)
    r = partition_graph(w, u, v, cost, lo=200, hi=300, k=2)
    assert r.k == 2
    assert sorted(np.bincount(r.labels, weights=w).tolist()) == [300, 300]
    r = partition_graph(w, u, v, cost, lo=200, hi=300, k=3)
    assert sorted(np.bincount(r.labels, weights=w).tolist()) == [200, 200, 200]
    # each region is a run of consecutive nodes
    for lab in range(r.k):
        idx = np.flatnonzero(r.labels == lab)
        assert (np.diff(idx) == 1).all()


def test_partition_graph_follows_cheap_edges():
    w = np.full(6, 100)
    u, v = np.arange(5), np.arange(1, 6)
    cost = np.array([5.0, 5.0, 0.1, 5.0, 5.0])  # the edge 2-3 lies on a road
    r = partition_graph(w, u, v, cost, lo=200, hi=300, k=2)
    assert r.labels[2] != r.labels[3]


def test_feasible_counts():
    assert feasible_counts(675, 200, 300) == range(3, 4)
    assert len(feasible_counts(350, 200, 300)) == 0
    assert len(feasible_counts(0, 200, 300)) == 0
    assert feasible_counts(200, 200, 300) == range(1, 2)


# ---------------------------------------------------------------- landmarks


def test_landmark_polygon_never_split_sample(sample_village, sample_plan):
    units = sample_plan.units
    lm = units[units["landmark"] >= 0]
    assert len(lm) > 0
    assert (lm.groupby("landmark")["grid_id"].nunique() == 1).all()


def test_landmark_polygon_across_a_road_stays_whole(village3x3):
    hh, bnd, roads = village3x3
    # a compound straddling the road x = 100 in the middle row of blocks
    compound = shapely.box(X0 + 55, Y0 + 115, X0 + 145, Y0 + 185)
    marks = gpd.GeoDataFrame({"name": ["school"]}, geometry=[compound], crs=hh.crs)
    plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    assert_plan_invariants(plan, hh)
    units = plan.units
    inside = units[units["landmark"] >= 0]
    assert inside.union_all().area == pytest.approx(compound.area)
    assert inside["grid_id"].nunique() == 1
    # and the compound lies in one grid
    assert (shapely.area(shapely.intersection(plan.grids.geometry.to_numpy(), compound)) > 1e-6).sum() == 1


# ---------------------------------------------------------------- writing plans


def test_to_file_gpkg_round_trip(tmp_path, sample_plan):
    path = tmp_path / "plan.gpkg"
    written = sample_plan.to_file(path)
    assert written == [path]
    layers = {str(n) for n in pyogrio.list_layers(path)[:, 0]}
    assert {"grids", "households", "boundary", "barriers"} <= layers
    _plan = microgrid.read_plan(path)
    grids, hh = _plan.grids, _plan.households
    assert grids["grid_id"].tolist() == sample_plan.grids["grid_id"].tolist()
    assert grids["persons"].tolist() == sample_plan.grids["persons"].tolist()
    assert all(shapely.equals_exact(a, b, tolerance=1e-6) for a, b in zip(grids.geometry, sample_plan.grids.geometry))
    a = hh.set_index("household_id")["grid_id"].sort_index()
    b = sample_plan.households.set_index("household_id")["grid_id"].sort_index()
    assert a.equals(b)
    assert grids.crs == sample_plan.grids.crs
    # the written plan validates
    rep = microgrid.validate(
        path.as_posix() + "#grids",
        path.as_posix() + "#households",
        path.as_posix() + "#boundary",
        assignment_col="grid_id",
    )
    assert rep.ok


def test_to_file_refuses_to_overwrite(tmp_path, sample_plan):
    path = tmp_path / "plan.gpkg"
    sample_plan.to_file(path)
    before = path.read_bytes()
    with pytest.raises(InputError, match="overwrite=True"):
        sample_plan.to_file(path)
    assert path.read_bytes() == before
    sample_plan.to_file(path, overwrite=True)
    assert microgrid.read_plan(path).n_grids == sample_plan.n_grids
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.gpkg"]


def test_to_file_without_suffix_is_gpkg(tmp_path, sample_plan):
    written = sample_plan.to_file(tmp_path / "plan")
    assert written == [tmp_path / "plan.gpkg"]


def test_to_file_geojson_two_files(tmp_path, sample_plan):
    written = sample_plan.to_file(tmp_path / "plan.geojson")
    assert written == [tmp_path / "plan_grids.geojson", tmp_path / "plan_households.geojson"]
    g = gpd.read_file(written[0])
    h = gpd.read_file(written[1])
    assert len(g) == sample_plan.n_grids
    assert len(h) == len(sample_plan.households)
    with pytest.raises(InputError, match="exists"):
        sample_plan.to_file(tmp_path / "plan.geojson")


# the plan's column names (flag_reason, household_id, ...) are longer than dBase allows
@pytest.mark.filterwarnings("ignore:Column names longer than 10:UserWarning")
@pytest.mark.filterwarnings("ignore:Normalized/laundered field name:RuntimeWarning")
def test_to_file_shapefile(tmp_path, sample_plan):
    written = sample_plan.to_file(tmp_path / "plan.shp")
    assert [p.name for p in written] == ["plan_grids.shp", "plan_households.shp"]
    assert len(gpd.read_file(written[0])) == sample_plan.n_grids
    assert len(gpd.read_file(written[1])) == len(sample_plan.households)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


def test_to_file_parquet(tmp_path, sample_plan):
    pytest.importorskip("pyarrow")
    written = sample_plan.to_file(tmp_path / "plan.parquet")
    assert len(gpd.read_parquet(written[0])) == sample_plan.n_grids


def test_to_file_unknown_format(tmp_path, sample_plan):
    with pytest.raises(InputError, match="unknown plan format"):
        sample_plan.to_file(tmp_path / "plan.xyz")


def test_plan_summary_and_repr(sample_plan):
    s = sample_plan.summary()
    assert f"{sample_plan.n_grids} grids" in s
    assert "coverage valid" in s
    assert repr(sample_plan).startswith("<Plan grids=")
    assert "ok=True" in repr(sample_plan.report)
