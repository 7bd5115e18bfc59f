"""Least-churn re-partition and its CLI."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

import microgrid
from microgrid.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from churn import corner_add, corner_remove  # noqa: E402


@pytest.fixture(scope="module")
def base():
    hh, bnd, roads, marks = microgrid.samples.make_village(1500, seed=2)
    return hh, bnd, microgrid.partition(hh, bnd, roads, marks)


def test_unchanged_input_gives_identical_plan(base):
    hh, _, plan = base
    p2, ch = microgrid.repartition(plan, hh)
    assert ch.churn == 0 and not ch.grids_changed and not ch.grids_new
    assert p2.grids.geometry.geom_equals_exact(plan.grids.geometry, 0).all()
    assert p2.grids["grid_id"].tolist() == plan.grids["grid_id"].tolist()
    assert p2.grids["code"].tolist() == plan.grids["code"].tolist()


@pytest.mark.parametrize("change", ["add", "remove"])
def test_corner_change_keeps_most_households(base, change):
    hh, bnd, plan = base
    new = corner_add(plan.households, plan.boundary, 0.10) if change == "add" else corner_remove(plan.households, 0.10)
    p2, ch = microgrid.repartition(plan, new)
    m = p2.report.metrics
    assert p2.report.ok and m["coverage_valid"] and m["in_bounds_share"] == 1.0
    assert m["households_in"] == m["households_out"] == len(new)
    assert ch.churn <= 0.15
    # kept grids keep id, code and geometry (a re-drawn neighbour may add vertices on their shared edge,
    # computed in floating point: the shape stays within a nanometre)
    old = plan.grids.set_index("grid_id")
    for gid in ch.grids_kept:
        row = p2.grids[p2.grids["grid_id"] == gid].iloc[0]
        assert shapely.hausdorff_distance(row.geometry, old.loc[gid].geometry) < 1e-6
        assert shapely.symmetric_difference(row.geometry, old.loc[gid].geometry).area < 1e-6
        assert row["code"] == old.loc[gid, "code"]
    if change == "add":
        assert len(ch.households_added) == len(new) - len(hh)
    else:
        assert len(ch.households_removed) == len(hh) - len(new)


def test_cli_repartition(base, tmp_path):
    hh, _, plan = base
    old = tmp_path / "old.gpkg"
    plan.to_file(old)
    new_hh = tmp_path / "hh.gpkg"
    corner_add(plan.households, plan.boundary, 0.10).to_file(new_hh)
    out = tmp_path / "new.gpkg"
    assert main(["repartition", str(old), "--households", str(new_hh), "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0


def test_redrawn_grids_are_whole_unique_and_measured():
    """Regression: re-drawn grids came back flagged multi-part (slivers between the area's outline and the
    roads along it), a new grid took the code of a re-drawn one, and re-drawn grids had no measures."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    hh, boundary, roads, landmarks = microgrid.samples.make_village(1200, seed=12)
    plan = microgrid.partition(hh, boundary, roads, landmarks, seed=0)
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = boundary.total_bounds
    corner = shapely.box(x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0), x1, y1)
    near = hh[hh.within(corner)].sample(120, replace=True, random_state=1)
    pts = shapely.points(near.geometry.x + rng.normal(0, 6, 120), near.geometry.y + rng.normal(0, 6, 120))
    inside = boundary.geometry.iloc[0]
    pts = [p if inside.contains(p) else q for p, q in zip(pts, near.geometry)]
    new = gpd.GeoDataFrame(
        {"household_id": [f"N{i:04d}" for i in range(120)], "persons": rng.integers(1, 6, 120)},
        geometry=pts,
        crs=hh.crs,
    )
    new_plan, change = microgrid.repartition(plan, pd.concat([hh, new], ignore_index=True))
    g = new_plan.grids
    assert change.grids_changed or change.grids_new
    assert not g["flagged"].any(), g.loc[g["flagged"], "flag_reason"].tolist()
    assert (g.geometry.geom_type == "Polygon").all()
    assert g["code"].is_unique and g["grid_id"].is_unique
    assert all(isinstance(x, (int, np.integer)) for x in change.grids_changed + change.grids_new)
    assert g[["area_m2", "polsby_popper", "online_share"]].notna().all().all()
    assert new_plan.report.ok


def test_duplicated_grid_ids_are_refused(base):
    # it used to run (19% churn on the tester's plan) without a word
    hh, _, plan = base
    g = plan.grids.copy()
    g.loc[g.index[3], "grid_id"] = g["grid_id"].iat[2]
    dup = dataclasses.replace(plan, grids=g)
    with pytest.raises(microgrid.InputError, match=rf"grid ids in the plan are not unique: {g['grid_id'].iat[2]} "):
        microgrid.repartition(dup, hh)


def test_a_grid_whose_households_are_all_gone_is_merged(base):
    # it used to stop with "households layer is empty" (the re-drawn area held nobody)
    hh, _, plan = base
    gid = plan.grids["grid_id"].iat[0]
    gone = set(plan.households.loc[plan.households["grid_id"] == gid, "household_id"])
    new = hh[~hh["household_id"].isin(gone)]
    p2, ch = microgrid.repartition(plan, new)
    assert p2.report.ok and p2.report.metrics["coverage_valid"]
    assert gid in ch.grids_removed and gid not in set(p2.grids["grid_id"])
    assert p2.grids["persons"].between(200, 300).all()
    assert sorted(ch.households_removed) == sorted(gone) and len(p2.households) == len(new)
    assert ch.churn < 0.1
