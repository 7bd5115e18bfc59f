"""repair(): small hand-built maps and a property test on random hand-drawn maps.

Every repaired map must validate clean (persons per grid aside), or name in
``RepairResult.remaining`` what is left and why; no geometry it makes is
invalid; no household is invented or dropped; grid ids keep their type.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgrid
from conftest import CRS, X0, Y0

BOUNDS = {"min_persons": 0, "max_persons": 10**9}
NOT_REPAIRED = {"persons_out_of_bounds"}


def _grids(ids, geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"grid_id": ids}, geometry=list(geoms), crs=CRS)


def _hh(xy, assigned=None) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, float).reshape(-1, 2) + [X0, Y0]
    d = {"household_id": [f"h{i}" for i in range(len(xy))], "persons": [2] * len(xy)}
    if assigned is not None:
        d["grid_id"] = assigned
    return gpd.GeoDataFrame(d, geometry=shapely.points(xy), crs=CRS)


def _box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def check_repaired(res, grids, bnd, households=None) -> None:
    """The invariants every repair must keep (used by the examples and the property test)."""
    out = res.grids.geometry.to_numpy()
    assert shapely.is_valid(out).all(), [shapely.is_valid_reason(g) for g in out]
    assert shapely.coverage_is_valid(out[~shapely.is_empty(out)])
    assert shapely.union_all(out).symmetric_difference(bnd).area < 1e-6 * bnd.area + 1e-6
    # ids keep their type and their order
    assert res.grids["grid_id"].tolist() == grids["grid_id"].tolist()
    kinds = {type(v) for v in grids["grid_id"].tolist()}
    for col in ("grid_id", "from_grid"):
        assert {type(v) for v in res.changes[col] if v is not None} <= kinds
    # one part per grid unless named as islands; named empty grids
    rem = res.remaining
    multi = set(res.grids.loc[shapely.get_num_geometries(out) > 1, "grid_id"])
    assert multi == set(rem.loc[rem["issue"] == "multipart", "grid_id"])
    assert rem.loc[rem["issue"] == "multipart", "reason"].str.contains("islands").all()
    empty = set(res.grids.loc[shapely.is_empty(out), "grid_id"])
    assert empty == set(rem.loc[rem["issue"] == "empty_geometry", "grid_id"])
    if households is None:
        assert res.ok == (not multi and not empty)
        return
    hh = res.households
    assert sorted(hh["household_id"]) == sorted(households["household_id"])
    assert int(hh["persons"].sum()) == int(households["persons"].sum())
    assert {type(v) for v in hh["grid_id"]} <= kinds
    rep = microgrid.validate(res.grids, hh, bnd, assignment_col="grid_id", **BOUNDS)
    m = rep.metrics
    assert m["households_in"] == m["households_out"] == len(households)
    assert m["coverage_valid"]
    outside = set(rem.loc[rem["issue"] == "household_outside_boundary", "household_id"])
    assert outside == {h for h, p in zip(households["household_id"], households.geometry) if not bnd.covers(p)}
    # what the validation still finds is exactly what the result names
    for e in rep.errors.itertuples():
        if e.check in NOT_REPAIRED:
            continue
        if e.check.startswith("household"):
            assert e.ids[0] in outside, e.message
        else:
            assert e.check in ("multipart", "empty_geometry") and e.ids[0] in (multi | empty), e.message
    assert res.ok == (len(rep.errors[~rep.errors["check"].isin(NOT_REPAIRED)]) == 0)


# ---------------------------------------------------------------- examples


def test_ids_keep_their_type_in_grids_households_and_changes():
    """The hostile tester's `11 -> nan`: int ids stay ints, a household without a grid comes from None."""
    g = _grids([11, 12], [_box(0, 0, 60, 100), _box(40, 0, 90, 100).union(_box(85, -10, 90, 0))])
    hh = _hh([(10, 10), (50, 50), (95, 50)], assigned=[11.0, 12.0, np.nan])  # float column, as read from a file
    res = microgrid.repair(g, _box(0, 0, 100, 100), hh, assignment_col="grid_id", **BOUNDS)
    check_repaired(res, g, _box(0, 0, 100, 100), hh)
    ch = res.changes
    rows = [(a, f, t) for a, f, t in zip(ch["action"], ch["from_grid"], ch["grid_id"])]
    assert ("outside_trimmed", 12, None) in rows
    assert ("overlap_trimmed", 12, 11) in rows
    assert ("gap_filled", None, 12) in rows
    assert ("household_reassigned", None, 12) in rows
    assert all(type(v) is int for v in [*ch["grid_id"], *ch["from_grid"]] if v is not None)
    assert res.households["grid_id"].dtype == np.int64
    assert res.households["grid_id"].tolist() == [11, 11, 12]
    assert res.ok


def test_missing_columns_are_named_together_before_any_work():
    """Both missing columns in one InputError, each with the columns there are and the option to name it."""
    g = _grids([11, 12], [_box(0, 0, 60, 100), _box(40, 0, 90, 100)])
    hh = _hh([(10, 10), (50, 50)], assigned=[11, 12])
    with pytest.raises(microgrid.InputError) as ei:
        microgrid.repair(g, _box(0, 0, 100, 100), hh, grid_id_col="zone", household_id_col="hid", **BOUNDS)
    text = str(ei.value)
    assert "grids have no column 'zone' (columns: grid_id" in text and "(CLI: --grid-id-col)" in text
    assert "households have no column 'hid'" in text and "(CLI: --id-col)" in text


def test_str_ids_stay_str():
    g = _grids(["a", "b"], [_box(0, 0, 60, 100), _box(40, 0, 90, 100)])
    res = microgrid.repair(g, _box(0, 0, 100, 100), _hh([(95, 5)], assigned=[None]), assignment_col="grid_id")
    assert res.changes["grid_id"].tolist() == ["a", "b", "b"]
    assert res.changes["from_grid"].tolist() == ["b", None, None]
    assert res.households["grid_id"].tolist() == ["b"]


def test_many_tiny_stray_parts_join_their_neighbours():
    """16 parts under 100 m2 drawn inside the neighbour, in a gap and outside: one part each comes out."""
    tiny = [_box(60 + 9 * i, 5 + 20 * j, 63 + 9 * i, 8 + 20 * j) for i in range(4) for j in range(4)]
    a = shapely.union_all([_box(0, 0, 50, 100), *tiny])
    g = _grids([1, 2], [a, _box(55, 0, 100, 100)])  # a 5 m gap between them
    res = microgrid.repair(g, _box(0, 0, 100, 100))
    check_repaired(res, g, _box(0, 0, 100, 100))
    assert (shapely.get_num_geometries(res.grids.geometry.to_numpy()) == 1).all()
    assert res.ok


def test_a_grid_drawn_over_another_keeps_its_land():
    g = _grids([1, 2], [_box(0, 0, 100, 100), _box(30, 30, 60, 60)])
    res = microgrid.repair(g, _box(0, 0, 100, 100))
    check_repaired(res, g, _box(0, 0, 100, 100))
    assert res.grids.geometry.iloc[1].area == pytest.approx(900)
    assert res.ok


def test_a_grid_drawn_twice_is_left_empty_and_named():
    g = _grids([1, 2], [_box(0, 0, 100, 100), _box(0, 0, 100, 100)])
    res = microgrid.repair(g, _box(0, 0, 100, 100))
    check_repaired(res, g, _box(0, 0, 100, 100))
    assert res.remaining["issue"].tolist() == ["empty_geometry"] and res.remaining["grid_id"].tolist() == [2]
    assert not res.ok


def test_an_island_stays_and_is_named():
    bnd = shapely.union_all([_box(0, 0, 100, 100), _box(150, 0, 160, 10)])
    g = _grids([1, 2], [_box(0, 0, 50, 100).union(_box(150, 0, 160, 10)), _box(50, 0, 100, 100)])
    res = microgrid.repair(g, bnd)
    check_repaired(res, g, bnd)
    assert res.remaining["grid_id"].tolist() == [1]
    assert "1 of its 2 parts" in res.remaining["reason"].iloc[0]


def test_a_household_outside_the_boundary_is_named_not_dropped():
    g = _grids([1, 2], [_box(0, 0, 50, 100), _box(50, 0, 100, 100)])
    hh = _hh([(10, 10), (120, 10)])
    res = microgrid.repair(g, _box(0, 0, 100, 100), hh, **BOUNDS)
    check_repaired(res, g, _box(0, 0, 100, 100), hh)
    assert res.remaining["household_id"].tolist() == ["h1"]
    assert res.households["grid_id"].tolist() == [1, 2]
    assert not res.ok


def test_a_bowtie_grid_comes_out_valid():
    bow = shapely.Polygon([(X0, Y0), (X0 + 50, Y0 + 100), (X0 + 50, Y0), (X0, Y0 + 100)])
    g = _grids([1, 2], [bow, _box(50, 0, 100, 100)])
    assert not bow.is_valid
    res = microgrid.repair(g, _box(0, 0, 100, 100))
    check_repaired(res, g, _box(0, 0, 100, 100))
    assert res.ok


# ---------------------------------------------------------------- property: random hand-drawn maps


@st.composite
def hand_drawn_maps(draw):
    """Cells of a 40 m lattice drawn by hand: every corner and edge midpoint moved by up to 8 m or by
    under a millimetre (overlaps, gaps, slivers of any width), some cells left out, some with stray
    pieces or drawn as a bowtie; households anywhere, a few outside the boundary."""
    nx, ny = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    size = 40.0

    def jit() -> float:  # hand-drawn: off by metres or by a hair, with any number of decimals
        scale = draw(st.sampled_from([0.0, 1e-3, 8.0]))
        return round(draw(st.floats(-scale, scale)), draw(st.sampled_from([0, 1, 3, 9])))

    geoms = []
    for i in range(nx):
        for j in range(ny):
            if draw(st.integers(0, 9)) == 0 and nx * ny > 1:
                continue  # left out: a gap
            x0, x1, y0, y1 = i * size, (i + 1) * size, j * size, (j + 1) * size
            xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
            ring = [(x0, y0), (xm, y0), (x1, y0), (x1, ym), (x1, y1), (xm, y1), (x0, y1), (x0, ym)]
            if draw(st.integers(0, 9)) == 0:  # a bowtie
                ring = [(x0, y0), (x1, y1), (x1, y0), (x0, y1)]
            geom = shapely.Polygon([(X0 + x + jit(), Y0 + y + jit()) for x, y in ring])
            if draw(st.integers(0, 4)) == 0:  # stray pieces anywhere, of any size
                for _ in range(draw(st.integers(1, 3))):
                    sx, sy = draw(st.floats(-5, nx * size)), draw(st.floats(-5, ny * size))
                    w = draw(st.sampled_from([0.01, 0.5, 3.0, 12.0]))
                    geom = shapely.union(shapely.make_valid(geom), _box(sx, sy, sx + w, sy + w))
            geoms.append(geom)
    if not geoms:
        geoms.append(_box(0, 0, size, size))
    bnd = _box(0, 0, nx * size, ny * size)
    ids = list(range(100, 100 + len(geoms)))
    if draw(st.booleans()):
        ids = [f"g{i}" for i in ids]
    pts = draw(st.lists(st.tuples(st.floats(-3, nx * size + 3), st.floats(-3, ny * size + 3)), max_size=12))
    return _grids(ids, geoms), bnd, _hh(pts) if pts else None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hand_drawn_maps())
def test_repaired_random_maps_validate_clean(case):
    grids, bnd, hh = case
    res = microgrid.repair(grids, bnd, hh, **BOUNDS)
    check_repaired(res, grids, bnd, hh)
    assert isinstance(res.changes, pd.DataFrame)
