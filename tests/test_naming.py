"""Grid codes (15-digit unit-grid pattern) and names."""

from __future__ import annotations

import re

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrid
from conftest import REPO
from microgrid.naming import grid_codes, grid_names


@pytest.fixture(scope="module")
def plan():
    hh, bnd, roads, marks = microgrid.samples.make_village(900, seed=5)
    return microgrid.partition(hh, bnd, roads, marks, code_prefix="110108001002")


def test_codes_unique_and_patterned(plan):
    codes = plan.grids["code"].tolist()
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 15 and c.isdigit() and c.startswith("110108001002") for c in codes)
    assert [int(c[-3:]) for c in codes] == plan.grids["grid_id"].tolist()


def test_codes_run_north_to_south_then_west_to_east(plan):
    g = plan.grids.to_crs(plan.grids.estimate_utm_crs())
    rp = shapely.get_coordinates(shapely.point_on_surface(g.geometry.to_numpy()))
    h = np.sqrt(g.area.mean())
    row = np.floor((rp[:, 1].max() - rp[:, 1]) / h)
    seq = g["code"].str[-3:].astype(int).to_numpy()
    o = np.argsort(seq)
    # rows never go back north; within a row codes run west to east
    assert (np.diff(row[o]) >= 0).all()
    same = np.diff(row[o]) == 0
    assert (np.diff(rp[o, 0])[same] >= 0).all()


def test_codes_stable(plan):
    hh, bnd, roads, marks = microgrid.samples.make_village(900, seed=5)
    again = microgrid.partition(hh.sample(frac=1, random_state=3), bnd, roads, marks, code_prefix="110108001002")
    assert again.grids["code"].tolist() == plan.grids["code"].tolist()
    assert again.grids.geometry.normalize().geom_equals_exact(plan.grids.geometry.normalize(), 1e-6).all()


@pytest.mark.parametrize("bad", ["11010800100", "1101080010021", "11010800100x", ""])
def test_bad_prefix(bad):
    hh, bnd, roads, marks = microgrid.samples.make_village(300, seed=1)
    with pytest.raises(microgrid.InputError, match="12 digits"):
        microgrid.partition(hh, bnd, roads, code_prefix=bad)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.lists(st.integers(1, 999), min_size=1, max_size=40, unique=True))
def test_codes_unique_for_unique_sequences(seq):
    codes = grid_codes(np.array(seq), "320583100200")
    assert len(set(codes)) == len(seq)
    assert sorted(codes) == [codes[i] for i in np.argsort(seq)]


def test_names_from_landmarks_and_roads(plan):
    names = plan.grids["name"]
    assert names.notna().any()
    marks = microgrid.samples.make_village(900, seed=5)[3]
    lm = marks.to_crs(plan.grids.crs)
    for _, m in lm.iterrows():
        inside = plan.grids[plan.grids.contains(m.geometry.representative_point())]
        assert inside["name"].iloc[0] is not None
    # every name comes from a landmark or a named barrier
    allowed = set(lm["name"]) | {"村大道", "清水河"} | {f"{c}巷" for c in "一二三四五六七八九十"}
    for n in names.dropna():
        base = re.sub(r"(附近|沿线|[东西南北]{1,2}段?)?\d*$", "", n)
        assert base in allowed or base.endswith("巷"), n
    assert names.dropna().is_unique


def test_names_unique_on_the_sample():
    """Six of the sample's 21 grids were all 祠堂附近; now each grid has its own name."""
    p = f"{REPO}/data/samples/village.gpkg"
    plan = microgrid.partition(f"{p}#households", f"{p}#boundary", f"{p}#barriers", f"{p}#landmarks")
    names = plan.grids["name"]
    assert names.notna().all() and names.is_unique, names.tolist()
    assert "祠堂" in set(names)  # the grid holding the landmark keeps its bare name
    assert {"祠堂东", "祠堂西南"} <= set(names)


def test_names_by_direction_then_sequence():
    import geopandas as gpd

    sq = [shapely.box(x, y, x + 100, y + 100) for x, y in [(0, 0), (100, 0), (100, 10_000), (300, 0), (0, -100)]]
    marks = gpd.GeoDataFrame({"name": ["祠堂"]}, geometry=[shapely.Point(50, 50)])
    roads = gpd.GeoDataFrame(
        {"name": ["村大道"], "rank": [1]}, geometry=[shapely.LineString([(-5000, 10_000), (5000, 10_000)])]
    )
    names = grid_names(np.array(sq), marks, roads, max_distance=300)
    assert names == ["祠堂", "祠堂东1", "村大道沿线", "祠堂东2", "祠堂南"]


def test_more_than_999_grids_widen_the_sequence_with_a_warning():
    with pytest.warns(UserWarning, match="15-digit"):
        codes = grid_codes(np.arange(1, 1201), "110108001002")
    assert len(set(codes)) == 1200 and all(len(c) == 16 for c in codes)
