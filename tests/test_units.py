"""Stage 2: units tile the boundary exactly, and roads cut the land they cross."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from conftest import CRS, SQ, X0, Y0, block_village, households_gdf, units_of
from microgrid.inputs import prepare_inputs
from microgrid.units import household_sites, snap_ends, units_from_inputs


def assert_tiles(units, boundary):
    geoms = units.geometry
    assert (shapely.get_type_id(geoms) == 3).all()
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    assert shapely.symmetric_difference(union, boundary).area < 1e-6
    assert abs(shapely.area(geoms).sum() - boundary.area) < 1e-6


def assert_households_in_units(units, xy):
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        return
    # within the precision grid of the working geometry
    d = shapely.distance(units.geometry[units.unit_of_household], shapely.points(xy))
    assert (d < 0.02).all()


def test_3x3_village_units_tile_the_boundary():
    hh, bnd, roads = block_village()
    inp = prepare_inputs(hh, bnd, roads)
    u = units_from_inputs(inp)
    assert_tiles(u, inp.boundary)
    assert_households_in_units(u, shapely.get_coordinates(inp.households.geometry.to_numpy()))
    assert u.n == 225  # one cell per household; roads coincide with cell edges
    assert u.persons.sum() == 675
    assert u.n_households.sum() == 225
    # no unit straddles a road
    road_lines = shapely.union_all(inp.barriers.geometry.to_numpy())
    inter = shapely.intersection(shapely.buffer(u.geometry, -0.05), road_lines)
    assert (shapely.length(inter) < 1e-6).all()


def test_no_households_gives_blocks():
    u = units_of([], SQ, [[(50, -10), (50, 110)], [(-10, 50), (110, 50)]])
    assert u.n == 4
    assert_tiles(u, SQ)
    assert u.persons.sum() == 0


def test_one_household_one_unit():
    u = units_of([(10, 10)], SQ)
    assert u.n == 1
    assert shapely.equals(u.geometry[0], SQ)
    assert u.persons.tolist() == [1]


def test_coincident_households_share_a_site():
    xy = [(10, 10), (10, 10), (10, 10), (90, 90)]
    site_xy, site_of = household_sites(np.asarray(xy, float))
    assert len(site_xy) == 2
    assert site_of[0] == site_of[1] == site_of[2] != site_of[3]
    u = units_of(xy, SQ, persons=[2, 3, 4, 5])
    assert u.n == 2
    assert sorted(u.persons.tolist()) == [5, 9]
    assert sorted(u.n_households.tolist()) == [1, 3]


def test_empty_land_is_units_too():
    # households only in the left block: the right block still becomes a unit
    u = units_of([(20, 20), (30, 70)], SQ, [[(50, -10), (50, 110)]])
    assert_tiles(u, SQ)
    assert (u.persons == 0).sum() >= 1
    empty = u.geometry[u.persons == 0]
    assert shapely.union_all(empty).area >= 50 * 100 - 1e-6


def test_dead_end_road_cuts_the_cells_it_crosses():
    # two cells split at x = 50; a dead-end road from the west edge to x = 60
    # crosses the left cell completely and ends inside the right cell
    xy = [(25, 30), (75, 30)]
    u = units_of(xy, SQ, [[(-10, 50), (60, 50)]])
    assert_tiles(u, SQ)
    assert_households_in_units(u, xy)
    assert u.n == 3
    left = [g for g in u.geometry if g.bounds[2] <= 50 + 1e-9]
    assert len(left) == 2
    assert sorted(round(g.area) for g in left) == [2500, 2500]
    # without the road: two cells
    assert units_of(xy, SQ).n == 2


def test_dead_end_road_through_a_block_with_many_households():
    rng = np.random.default_rng(0)
    xy = rng.uniform(5, 95, (60, 2))
    xy = xy[np.abs(xy[:, 1] - 50) > 2]
    road = [(-5, 50), (70, 50)]  # dead end at x = 70
    u = units_of(xy, SQ, [road])
    assert_tiles(u, SQ)
    assert_households_in_units(u, xy)
    # the road runs along unit edges, except inside the one cell where it ends
    line = shapely.LineString(road).intersection(SQ)
    cut = shapely.intersection(shapely.buffer(u.geometry, -0.02), line)
    through = np.flatnonzero(shapely.length(cut) > 1e-6)
    assert len(through) <= 1
    if len(through):
        assert shapely.covers(u.geometry[through[0]], shapely.Point(70, 50))
    # more units than cells: the road split the cells it crossed
    assert u.n > len(xy)


def test_near_miss_road_end_is_snapped_to_the_boundary():
    lines = [[(50, -10), (50, 98.5)]]  # misses the north edge by 1.5 m
    assert units_of([], SQ, lines, snap=2.0).n == 2
    assert units_of([], SQ, lines, snap=0.0).n == 1
    assert units_of([], SQ, [[(50, -10), (50, 97.0)]], snap=2.0).n == 1  # 3 m: too far


def test_near_miss_road_end_is_snapped_to_a_junction():
    lines = [[(50, -10), (50, 110)], [(-10, 50), (48.5, 50)]]  # misses the junction by 1.5 m
    snapped = units_of([], SQ, lines, snap=2.0)
    assert snapped.n == 3
    assert_tiles(snapped, SQ)
    assert units_of([], SQ, lines, snap=0.0).n == 2
    # the snap segment is a barrier too, with the rank and kind of the road it extends
    assert len(snapped.barriers) == 3
    assert snapped.barrier_rank[2] == snapped.barrier_rank[1]
    assert snapped.barrier_kind[2] == snapped.barrier_kind[1]


def test_snap_ends_adds_short_segments_only():
    lines = np.array([shapely.LineString([(50, 0), (50, 98.5)]), shapely.LineString([(0, 20), (100, 20)])])
    out, extended = snap_ends(lines, SQ, 2.0)
    assert len(out) == 3
    assert out[2].length == pytest.approx(1.5)
    assert extended.tolist() == [0]
    assert len(snap_ends(lines, SQ, 0.0)[0]) == 2


def test_block_count_changes_with_snapping_in_partition():
    # a village road misses the boundary by 1 m: with snapping it splits the village in two
    xy = [(X0 + 10 + 9 * (i % 9), Y0 + 5 + 10 * (i // 9)) for i in range(45)]
    xy += [(X0 + 110 + 9 * (i % 9), Y0 + 5 + 10 * (i // 9)) for i in range(45)]
    hh = households_gdf(xy, [5] * 90)
    bnd = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 200, Y0 + 100)], crs=CRS)
    road = gpd.GeoDataFrame(
        {"kind": ["lane"]}, geometry=[shapely.LineString([(X0 + 100, Y0 - 5), (X0 + 100, Y0 + 99)])], crs=CRS
    )
    plan = microgrid.partition(hh, bnd, road, min_persons=200, max_persons=250)
    assert plan.n_grids == 2
    assert plan.grids["online_share"].min() > 0.99
    assert sorted(plan.grids["persons"]) == [225, 225]


def test_multipolygon_boundary_with_exclave_and_hole():
    shell = shapely.Polygon(SQ.exterior.coords, [shapely.box(40, 40, 60, 60).exterior.coords])
    exclave = shapely.box(200, 0, 230, 30)
    b = shapely.MultiPolygon([shell, exclave])
    xy = [(10, 10), (90, 90), (210, 10), (50, 20), (20, 80)]
    u = units_of(xy, b, [[(-10, 50), (110, 50)]])
    assert_tiles(u, b)
    assert_households_in_units(u, xy)
    hole = shapely.box(40, 40, 60, 60)
    assert (shapely.area(shapely.intersection(u.geometry, hole)) < 1e-9).all()
    # the exclave is units of its own
    in_ex = shapely.within(shapely.point_on_surface(u.geometry), exclave)
    assert in_ex.sum() == 1
    assert u.persons[in_ex].sum() == 1


def test_units_are_canonical_for_household_order():
    rng = np.random.default_rng(1)
    xy = rng.uniform(2, 98, (50, 2))
    a = units_of(xy, SQ, [[(50, -10), (50, 110)]])
    perm = rng.permutation(len(xy))
    b = units_of(xy[perm], SQ, [[(50, -10), (50, 110)]])
    assert a.n == b.n
    assert all(shapely.equals(x, y) for x, y in zip(a.geometry, b.geometry))
    assert (a.unit_of_household[perm] == b.unit_of_household).all()


def test_landmark_polygon_marks_units():
    xy = [(20, 20), (80, 20), (20, 80), (80, 80)]
    lm = np.array([shapely.box(30, 30, 70, 70)], dtype=object)
    u = units_of(xy, SQ, landmarks=lm)
    assert_tiles(u, SQ)
    inside = u.landmark >= 0
    assert inside.any()
    assert shapely.union_all(u.geometry[inside]).equals(shapely.box(30, 30, 70, 70))


def test_plan_units_hold_their_households(sample_village, sample_plan):
    units = sample_plan.units
    geoms = units.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    bnd = sample_village[1].geometry.iloc[0]
    assert shapely.symmetric_difference(shapely.coverage_union_all(geoms), bnd).area < 1e-3
    assert int(units["persons"].sum()) == int(sample_village[0]["persons"].sum())
    assert int(units["households"].sum()) == len(sample_village[0])
    # every unit's grid contains the unit
    g = sample_plan.grids.set_index("grid_id").geometry
    for gid, grp in units.groupby("grid_id"):
        assert shapely.covers(g.loc[gid].buffer(1e-6), grp.geometry.to_numpy()).all()


def test_a_road_along_the_boundary_adds_no_slivers():
    """A village edge drawn on its road: the road's stretch along the edge must not cut sliver units."""
    along = [[(-10, 100), (110, 100)], [(100.0, -10), (100.0, 110)]]  # on the north and east edges
    crossing = [[(50, -10), (50, 110)]]
    base = units_of([], SQ, crossing, snap=0.0)
    u = units_of([], SQ, crossing + along, snap=0.0)
    assert u.n == base.n == 2
    assert_tiles(u, SQ)
    assert shapely.area(u.geometry).min() > 100
    # a road that runs along the edge and then turns inside still cuts where it is inside
    bend = [[(-10, 100), (30, 100), (30, 0)]]
    assert units_of([], SQ, bend, snap=2.0).n == 2
