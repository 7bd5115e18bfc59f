"""Property tests over random synthetic villages.

For any village and bounds, partition either raises InfeasibleError or
returns a plan that covers the boundary exactly with contiguous grids within
the bounds, every household once; the same seed gives the same plan, and the
order of the input rows does not matter.
"""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import microgrid
from conftest import plans_equal
from microgrid import InfeasibleError

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

BOUNDS = st.sampled_from([(150, 250), (200, 300), (100, 200)])
N = st.integers(min_value=150, max_value=700)
VILLAGE_SEED = st.integers(min_value=0, max_value=10_000)
PLAN_SEED = st.integers(min_value=0, max_value=2**31 - 1)


def _village(n, seed, heavy=False):
    hh, bnd, roads, marks = microgrid.samples.make_village(n, seed=seed)
    if heavy:  # one apartment address heavier than any grid may be
        hh.loc[hh.index[n // 2], "persons"] = 420
    return hh, bnd, roads, marks


def _check(plan, hh, bnd, lo, hi):
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    flagged = grids["flagged"].to_numpy()
    # coverage: no gaps, no overlaps, nothing outside
    assert shapely.coverage_is_valid(geoms)
    b = bnd.geometry.iloc[0]
    assert shapely.symmetric_difference(shapely.coverage_union_all(geoms), b).area < 1e-3
    assert abs(shapely.area(geoms).sum() - b.area) < 1e-3
    # contiguity: each grid one polygon (holes allowed)
    assert (shapely.get_type_id(geoms[~flagged]) == 3).all()
    # bounds for every grid not flagged
    assert grids.loc[~flagged, "persons"].between(lo, hi).all()
    # flagged grids only for a heavy site
    for reason in grids.loc[flagged, "flag_reason"]:
        assert "max persons" in reason
    # households in == out, each once, inside its grid
    out = plan.households
    assert out["household_id"].is_unique
    assert set(out["household_id"]) == set(hh["household_id"])
    assert len(out) == len(hh)
    assert int(out["persons"].sum()) == int(hh["persons"].sum()) == int(grids["persons"].sum())
    gmap = dict(zip(grids["grid_id"], geoms))
    assert all(shapely.covers(gmap[g], p) for g, p in zip(out["grid_id"], out.geometry))
    assert plan.report.ok


@SETTINGS
@given(
    n=N,
    vseed=VILLAGE_SEED,
    bounds=BOUNDS,
    seed=PLAN_SEED,
    heavy=st.booleans(),
    compactness=st.sampled_from([0.0, 0.5, 3.0]),
)
def test_plan_or_infeasible(n, vseed, bounds, seed, heavy, compactness):
    lo, hi = bounds
    hh, bnd, roads, marks = _village(n, vseed, heavy)
    try:
        plan = microgrid.partition(
            hh, bnd, roads, marks, min_persons=lo, max_persons=hi, seed=seed, compactness=compactness
        )
    except InfeasibleError as exc:
        assert exc.cause in ("heavy_site", "small_part", "no_grid_count", "no_cut")
        event(f"infeasible: {exc.cause}")
        return
    event("plan" + (" with a flagged grid" if plan.grids["flagged"].any() else ""))
    _check(plan, hh, bnd, lo, hi)


@SETTINGS
@given(n=N, vseed=VILLAGE_SEED, bounds=BOUNDS, seed=PLAN_SEED)
def test_same_seed_same_plan(n, vseed, bounds, seed):
    lo, hi = bounds
    village = _village(n, vseed)
    try:
        a = microgrid.partition(*village, min_persons=lo, max_persons=hi, seed=seed)
    except InfeasibleError:
        return
    b = microgrid.partition(*village, min_persons=lo, max_persons=hi, seed=seed)
    assert plans_equal(a, b)


@SETTINGS
@given(n=N, vseed=VILLAGE_SEED, bounds=BOUNDS, perm_seed=st.integers(0, 1000))
def test_row_order_does_not_matter(n, vseed, bounds, perm_seed):
    lo, hi = bounds
    hh, bnd, roads, marks = _village(n, vseed)
    try:
        a = microgrid.partition(hh, bnd, roads, marks, min_persons=lo, max_persons=hi, seed=0)
    except InfeasibleError:
        return
    rng = np.random.default_rng(perm_seed)
    shuffled = hh.iloc[rng.permutation(len(hh))].reset_index(drop=True)
    roads2 = roads.iloc[rng.permutation(len(roads))].reset_index(drop=True)
    b = microgrid.partition(shuffled, bnd, roads2, marks, min_persons=lo, max_persons=hi, seed=0)
    # the same grids; rings may start at another vertex when the barriers come in another order
    assert plans_equal(a, b, normalize=True)


@SETTINGS
@given(n=N, vseed=VILLAGE_SEED, drop=st.integers(0, 100))
def test_validate_finds_a_removed_grid(n, vseed, drop):
    hh, bnd, roads, marks = _village(n, vseed)
    try:
        plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    except InfeasibleError:
        return
    gone = plan.grids["grid_id"].iloc[drop % plan.n_grids]
    grids = plan.grids[plan.grids["grid_id"] != gone]
    rep = microgrid.validate(grids, plan.households, plan.boundary, assignment_col="grid_id")
    assert not rep.ok
    assert rep.table("gap")["figure"].sum() > 0
    lost = set(plan.households.loc[plan.households["grid_id"] == gone, "household_id"])
    assert {i[0] for i in rep.table("household_unassigned")["ids"]} == lost


def _footpath_village(seed, n_hh, n_tri, spread, size=60.0):
    """``n_hh`` one-person households on a ``size`` m square crossed by ``n_tri`` triples of short footpaths,
    each triple nearly through one point (within ``spread`` m): the sliver units that 200,000 random
    footpaths leave on the sample village, on a village small enough to test."""
    from conftest import X0, Y0, boundary_gdf, households_gdf, lines_gdf

    rng = np.random.default_rng(seed)
    xy = rng.uniform(2, size - 2, (n_hh, 2)) + [X0, Y0]
    lines = []
    for _ in range(n_tri):
        p = rng.uniform(8, size - 8, 2) + [X0, Y0]
        for _ in range(3):
            a = rng.uniform(0, np.pi)
            q = p + rng.uniform(-spread, spread, 2)
            d = np.array([np.cos(a), np.sin(a)]) * rng.uniform(2, 6)
            lines.append([tuple(q - d), tuple(q + d)])
    bnd = shapely.box(X0, Y0, X0 + size, Y0 + size)
    return households_gdf(xy, [1] * n_hh), boundary_gdf(bnd), lines_gdf(lines, ["footpath"] * len(lines))


@SETTINGS
@example(seed=4, n_tri=12, spread=2e-3)  # grid 6 came out in two parts (an edge across a 5e-5 m2 sliver)
@example(seed=22, n_tri=12, spread=2e-3)  # grid 4 likewise
@given(seed=st.integers(0, 10_000), n_tri=st.integers(4, 16), spread=st.sampled_from([5e-4, 2e-3, 1e-2]))
def test_grids_are_one_polygon_among_slivers(seed, n_tri, spread):
    hh, bnd, paths = _footpath_village(seed, 30, n_tri, spread)
    try:
        plan = microgrid.partition(hh, bnd, paths, min_persons=2, max_persons=3, seed=seed)
    except InfeasibleError:  # pragma: no cover - 30 one-person households always fit 2..3
        return
    assert (shapely.get_type_id(plan.grids.geometry.to_numpy()) == 3).all()
    _check(plan, hh, bnd, 2, 3)
