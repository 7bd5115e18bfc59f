"""repair() on a real hand-drawn map: the Rhode Island voting precincts (skipped when the data is absent).

The map (``../shared/data/real-grid-maps/ri_precincts.gpkg``, ODbL, not copied
into the repository) has what hand-drawn maps have: gaps, overlaps, slivers,
stray fragments, islands. It is audited against its own ``outline`` layer (the
precincts' union with interior holes filled: the area the precincts claim to
tile, which is what a user would hold them to). It has no households, so they
are made deterministically: a 1 km lattice over the outline, plus one in every
gap and every overlap of the map, so that some lie in no precinct and some in
two. Precinct ids are made ints (``P3206`` -> 3206) to check ids keep their type.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from conftest import REPO
from microgrid.crs import metric_crs_for
from microgrid.repair import GRID_SIZE

RI = REPO.parent / "shared" / "data" / "real-grid-maps" / "ri_precincts.gpkg"
BOUNDS = {"min_persons": 0, "max_persons": 10**9}

pytestmark = pytest.mark.slow


class Real:
    """The map, its households, its validation, its repair and the repair's validation (computed once)."""

    def __init__(self):
        grids = gpd.read_file(RI, layer="precincts", engine="pyogrio")
        self.outline = gpd.read_file(RI, layer="outline", engine="pyogrio")
        self.grids = grids.assign(grid_id=grids["JOINID"].str[1:].astype("int64"))
        self.work = metric_crs_for(self.outline)
        self.households = microgrid.samples.lattice_households(self.grids, self.outline)
        self.before = self.validate(self.grids, self.households)
        t = time.perf_counter()
        self.res = microgrid.repair(self.grids, self.outline, self.households, assignment_col="grid_id", **BOUNDS)
        self.seconds = time.perf_counter() - t
        self.after = self.validate(self.res.grids, self.res.households)

    def validate(self, grids, households):
        return microgrid.validate(grids, households, self.outline, assignment_col="grid_id", **BOUNDS)


_REAL: list[Real] = []


@pytest.fixture(scope="module")
def real() -> Real:
    if not RI.exists():
        pytest.skip(f"{RI} not found")
    if not _REAL:
        _REAL.append(Real())
    return _REAL[0]


def test_the_original_map_breaks_the_rules(real):
    found = set(real.before.errors["check"])
    assert {"gap", "overlap", "multipart", "coverage_invalid_edges"} <= found
    # the households in gaps have no grid, those in overlaps two
    hh = real.households
    assert hh["grid_id"].notna().mean() > 0.95
    unknown = real.before.table("household_unknown_grid")
    assert 0 < len(unknown) == hh["grid_id"].isna().sum()
    assert "household_in_two_grids" in found
    assert real.before.metrics["households_out"] == hh["grid_id"].notna().sum()
    assert not real.before.metrics["coverage_valid"]


def test_repaired_map_validates_clean_but_for_named_islands(real):
    errors = real.after.errors
    assert set(errors["check"]) <= {"multipart"}, errors[["check", "ids", "message"]]
    m = real.after.metrics
    assert m["coverage_valid"]
    assert m["gap_area"] < 0.5 and m["overlap_area"] < 1e-3 and m["outside_area"] < 1e-3
    # every multipart grid left is named, as islands, and nothing else remains
    rem = real.res.remaining
    assert set(rem["issue"]) <= {"multipart"}
    assert sorted(rem["grid_id"]) == sorted(r[0] for r in errors["ids"])
    assert rem["reason"].str.contains("islands").all()
    assert not real.res.ok


def test_repaired_geometry_is_valid_and_a_coverage(real):
    out = real.res.grids.geometry.to_numpy()
    assert shapely.is_valid(out).all()
    metric = real.res.grids.to_crs(real.work).geometry.to_numpy()
    assert shapely.is_valid(metric).all()
    assert shapely.coverage_is_valid(metric)
    assert not shapely.is_empty(metric).any()


def test_islands_share_no_edge_with_another_grid(real):
    """A part kept besides a grid's largest borders no other grid along an edge (only at points, if at all)."""
    geoms = real.res.grids.to_crs(real.work).geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    multi = np.flatnonzero(shapely.get_num_geometries(geoms) > 1)
    assert len(multi) == len(real.res.remaining)
    for i in multi:
        parts = shapely.get_parts(geoms[i])
        rest = np.delete(parts, np.argmax(shapely.area(parts)))
        for p in rest:
            nb = tree.query(p, predicate="intersects")
            nb = nb[nb != i]
            shared = shapely.length(shapely.intersection(shapely.boundary(geoms[nb]), shapely.boundary(p)))
            assert (shared < 1e-9).all(), (real.res.grids["grid_id"].iloc[i], shared.max())


def test_households_in_equal_households_out(real):
    hh, out = real.households, real.res.households
    assert len(out) == len(hh)
    assert sorted(out["household_id"]) == sorted(hh["household_id"])
    assert int(out["persons"].sum()) == int(hh["persons"].sum())
    m = real.after.metrics
    assert m["households_in"] == m["households_out"] == len(hh)
    assert m["persons_in"] == m["persons_out"]
    grids = real.res.grids.to_crs(real.work)
    geo = dict(zip(grids["grid_id"], grids.geometry))
    pts = out.to_crs(real.work).geometry
    assert all(geo[g].covers(p) for g, p in zip(out["grid_id"], pts))


def test_every_change_is_listed(real):
    ch = real.res.changes
    before = dict(zip(real.grids["grid_id"], real.grids.to_crs(real.work).geometry))
    after = dict(zip(real.res.grids["grid_id"], real.res.grids.to_crs(real.work).geometry))
    named = set(ch["grid_id"].dropna()) | set(ch["from_grid"].dropna())
    for gid, geom in after.items():
        # snapping to the precision grid moves each vertex by under GRID_SIZE: that is not a change
        if shapely.symmetric_difference(before[gid], geom).area > max(1e-3, before[gid].length * GRID_SIZE):
            assert gid in named, f"grid {gid} changed but no change names it"
    # land moved between grids adds up: what was trimmed from overlaps is what two grids claimed
    assert {"overlap_trimmed", "gap_filled", "stray_part_moved"} <= set(ch["action"])
    old = dict(zip(real.households["household_id"], real.households["grid_id"]))
    out = real.res.households
    moved = {h for h, g in zip(out["household_id"], out["grid_id"]) if not (old[h] == g)}
    re = ch[ch["action"] == "household_reassigned"]
    assert set(re["household_id"]) == moved
    assert 0 < len(moved) < 0.1 * len(out)  # those in gaps and overlaps, not everyone
    # a household that had no grid comes from None, never from nan
    assert all(f is None or f == old[h] for h, f in zip(re["household_id"], re["from_grid"]))


def test_ids_keep_their_type(real):
    assert real.res.grids["grid_id"].dtype == np.int64
    assert real.res.households["grid_id"].dtype == np.int64  # the input column was float (nan for no grid)
    ch = real.res.changes
    for col in ("grid_id", "from_grid"):
        vals = ch[col].tolist()
        assert all(v is None or type(v) is int for v in vals), {type(v) for v in vals}
    shown = [f"{a} -> {b}" for a, b in zip(ch["from_grid"], ch["grid_id"])]
    assert not any("nan" in s or ".0" in s for s in shown)
    assert all(type(v) is int for v in real.res.remaining["grid_id"])
