"""Least-churn re-partition and its CLI."""

from __future__ import annotations

import sys
from pathlib import Path

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
