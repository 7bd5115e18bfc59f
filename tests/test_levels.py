"""Nested levels: micro-grids exactly inside grids, hierarchical codes."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrid
from microgrid import Level
from microgrid.cli import main

SAMPLE = "data/samples/village.gpkg"
LEVELS = [Level("grid", 800, 1500), Level("microgrid", 200, 300)]


def _check_nesting(plan, coarse="grids_grid"):
    parents = plan.layers[coarse].to_crs(plan.grids.estimate_utm_crs())
    kids = plan.grids.to_crs(parents.crs)
    for _, par in parents.iterrows():
        mine = kids[kids["parent_id"] == par["grid_id"]]
        assert len(mine) >= 1
        union = shapely.union_all(mine.geometry.to_numpy())
        assert shapely.symmetric_difference(union, par.geometry).area < 1e-3  # union of children = parent
        assert shapely.covers(par.geometry.buffer(1e-3), mine.geometry.to_numpy()).all()  # none crosses it
        assert mine["persons"].sum() == par["persons"]
        assert all(c.startswith(par["code"]) and len(c) == len(par["code"]) + 3 for c in mine["code"])
    codes = kids["code"].tolist()
    assert len(set(codes)) == len(codes)


def test_sample_two_levels():
    f = SAMPLE
    plan = microgrid.partition(
        f"{f}#households", f"{f}#boundary", f"{f}#barriers", f"{f}#landmarks", levels=LEVELS, code_prefix="110108001002"
    )
    coarse = plan.layers["grids_grid"]
    assert 4 <= len(coarse) <= 6
    assert coarse["persons"].between(800, 1500).all()
    sizes = plan.grids.groupby("parent_id").size()
    assert sizes.between(3, 6).all()
    assert plan.grids["persons"].between(200, 300).all()
    assert plan.report.ok and all(r.ok for r in plan.level_reports.values())
    _check_nesting(plan)


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(st.integers(600, 1500), st.integers(0, 10_000))
def test_nesting_property(n, seed):
    hh, bnd, roads, marks = microgrid.samples.make_village(n, seed=seed)
    try:
        plan = microgrid.partition(hh, bnd, roads, marks, levels=LEVELS)
    except microgrid.InfeasibleError:
        return
    _check_nesting(plan)
    again = microgrid.partition(hh.sample(frac=1, random_state=seed), bnd, roads, marks, levels=LEVELS)
    assert again.grids["code"].tolist() == plan.grids["code"].tolist()


def test_three_levels_and_file_layers(tmp_path):
    hh, bnd, roads, marks = microgrid.samples.make_village(2500, seed=3)
    lv = [Level("zone", 2000, 4000), Level("grid", 600, 1200), Level("microgrid", 150, 300)]
    plan = microgrid.partition(hh, bnd, roads, marks, levels=lv)
    assert set(plan.layers) == {"grids_zone", "grids_grid"}
    _check_nesting(plan, "grids_grid")
    path = tmp_path / "p.gpkg"
    plan.to_file(path)
    assert len(gpd.read_file(path, layer="grids_zone")) == len(plan.layers["grids_zone"])


@pytest.mark.parametrize(
    "levels, msg",
    [
        ([Level("grid", 200, 300), Level("big", 800, 1500)], "coarse to fine"),
        ([Level("a", 300, 200)], "greater than"),
        ([Level("a b", 200, 300)], "simple word"),
        ([Level("a", 800, 1500), Level("a", 200, 300)], "unique"),
    ],
)
def test_bad_levels(levels, msg):
    hh, bnd, roads, _ = microgrid.samples.make_village(300, seed=1)
    with pytest.raises(microgrid.InputError, match=msg):
        microgrid.partition(hh, bnd, roads, levels=levels)


def test_cli_levels(tmp_path, capsys):
    out = tmp_path / "p.gpkg"
    assert (
        main(["partition", SAMPLE, "--level", "grid:800:1500", "--level", "microgrid:200:300", "--out", str(out)]) == 0
    )
    assert "parent_id" in gpd.read_file(out, layer="grids").columns
    assert main(["partition", SAMPLE, "--level", "grid-800", "--out", str(tmp_path / "x.gpkg")]) == 2
    assert "NAME:MIN:MAX" in capsys.readouterr().err


def _two_villages(seed=0, n=2000):
    hh, bnd, roads, marks = microgrid.samples.make_village(n, seed=seed)
    minx, miny, maxx, maxy = bnd.geometry.iloc[0].bounds
    mx = (minx + maxx) / 2 + 37.3
    par = gpd.GeoDataFrame(
        {"village": ["东村", "西村"]},
        geometry=[shapely.box(mx, miny, maxx, maxy), shapely.box(minx, miny, mx, maxy)],
        crs=bnd.crs,
    )
    return hh, bnd, roads, marks, par


def test_parents_no_grid_crosses_a_parent_line():
    hh, bnd, roads, marks, par = _two_villages()
    plan = microgrid.partition(hh, bnd, roads, marks, parents=par)
    assert plan.report.ok
    assert set(plan.grids["parent_id"]) == {"东村", "西村"}
    for _, p in par.iterrows():
        mine = plan.grids[plan.grids["parent_id"] == p["village"]]
        clip = p.geometry.intersection(bnd.geometry.iloc[0])
        assert shapely.symmetric_difference(shapely.union_all(mine.geometry.to_numpy()), clip).area < 1e-3
    lay = plan.layers["grids_parent"]
    assert lay["persons"].sum() == plan.grids["persons"].sum()
    assert all(
        c.startswith(pc)
        for c, pc in zip(plan.grids["code"], lay.set_index("grid_id").loc[plan.grids["parent_id"], "code"])
    )


def test_parents_with_levels_and_cli(tmp_path):
    hh, bnd, roads, marks, par = _two_villages()
    plan = microgrid.partition(hh, bnd, roads, marks, parents=par, levels=LEVELS)
    assert set(plan.layers) == {"grids_parent", "grids_grid"}
    _check_nesting(plan)
    src = tmp_path / "in.gpkg"
    for name, g in (("households", hh), ("boundary", bnd), ("barriers", roads)):
        g.to_file(src, layer=name)
    par.to_file(tmp_path / "par.gpkg")
    assert (
        main(["partition", str(src), "--parents", str(tmp_path / "par.gpkg"), "--out", str(tmp_path / "p.gpkg")]) == 0
    )
    assert set(gpd.read_file(tmp_path / "p.gpkg", layer="grids")["parent_id"]) == {"东村", "西村"}


def test_parents_must_cover_the_boundary():
    hh, bnd, roads, marks, par = _two_villages()
    with pytest.raises(microgrid.InputError, match="uncovered"):
        microgrid.partition(hh, bnd, roads, parents=par.iloc[:1])


@pytest.mark.parametrize("kind", ["identical", "overlapping"])
def test_overlapping_parents_are_refused(kind):
    # the overlap used to go silently to the first parent, the second got no grids
    hh, bnd, roads, marks, par = _two_villages()
    minx, miny, maxx, maxy = bnd.geometry.iloc[0].bounds
    mx = (minx + maxx) / 2
    geoms = (
        [shapely.box(minx, miny, maxx, maxy)] * 2
        if kind == "identical"
        else [shapely.box(minx, miny, mx + 50, maxy), shapely.box(mx - 50, miny, maxx, maxy)]
    )
    par = gpd.GeoDataFrame({"village": ["东村", "西村"]}, geometry=geoms, crs=bnd.crs)
    with pytest.raises(microgrid.InputError, match=r"parents overlap: '东村' and '西村' by [\d,.]+ m2.*repair"):
        microgrid.partition(hh, bnd, roads, marks, parents=par)


def test_parents_sharing_an_edge_do_not_overlap():
    hh, bnd, roads, marks, par = _two_villages()
    par.loc[0, "geometry"] = par.geometry.iloc[0].buffer(1e-4, join_style="mitre")  # a hair over: not refused
    plan = microgrid.partition(hh, bnd, roads, marks, parents=par)
    assert set(plan.grids["parent_id"]) == {"东村", "西村"}


def test_a_parent_without_households_is_named():
    # it used to say "the households hold 0 persons in all" of a village of 5,272
    hh, bnd, roads, marks = microgrid.samples.make_village(2000, seed=0)
    minx, miny, maxx, maxy = bnd.geometry.iloc[0].bounds
    cy = (miny + maxy) / 2
    empty = shapely.box(minx - 10, cy - 60, minx + 60, cy + 60)  # 2,430 m2 of the village, nobody lives there
    assert not empty.intersects(shapely.union_all(hh.geometry.to_numpy()))
    rest = shapely.box(minx - 10, miny - 10, maxx + 10, maxy + 10).difference(empty)
    par = gpd.GeoDataFrame({"village": ["main", "空地"]}, geometry=[rest, empty], crs=bnd.crs)
    with pytest.raises(microgrid.InfeasibleError, match="parent '空地' holds no households"):
        microgrid.partition(hh, bnd, roads, marks, parents=par)
    plan = microgrid.partition(hh, bnd, roads, marks, parents=par, on_infeasible="flag")
    mine = plan.grids[plan.grids["parent_id"] == "空地"]
    assert len(mine) == 1 and mine["flagged"].all() and mine["persons"].sum() == 0
    # a parent too light for one grid is named too
    few = shapely.box(minx - 10, cy - 100, minx + 100, cy + 100)
    par = gpd.GeoDataFrame(
        {"village": ["main", "小村"]},
        crs=bnd.crs,
        geometry=[shapely.box(minx - 10, miny - 10, maxx + 10, maxy + 10).difference(few), few],
    )
    with pytest.raises(microgrid.InfeasibleError, match=r"parent '小村' holds only 33 persons \(13 households\)"):
        microgrid.partition(hh, bnd, roads, marks, parents=par)
