"""Sites heavier than a micro-grid: oversize='flag' and 'stack'."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import microgrid
from microgrid.cli import main

X0, Y0 = 440_000.0, 4_420_000.0


def _tower(n_tower=150, n_rest=150, persons=3):
    xy = [shapely.Point(X0 + 50, Y0 + 50)] * n_tower
    xy += [shapely.Point(X0 + 1 + i * 0.6, Y0 + 10 + (i % 7)) for i in range(n_rest)]
    n = n_tower + n_rest
    hh = gpd.GeoDataFrame({"household_id": [f"h{i:03d}" for i in range(n)], "persons": [persons] * n,
                           "entrance": [f"E{i // 12}" for i in range(n)]}, geometry=xy, crs=32650)
    return hh, gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 100, Y0 + 100)], crs=32650)


def test_stack_splits_a_tower_into_bounded_stacked_grids():
    hh, bnd = _tower()
    plan = microgrid.partition(hh, bnd, oversize="stack", stack_col="entrance")
    st = plan.grids[plan.grids["stack_id"].notna()]
    assert len(st) == 2 and st["stack_id"].nunique() == 1
    assert st["persons"].between(200, 300).all()
    assert st["persons"].sum() == 450
    assert shapely.equals(st.geometry.iloc[0], st.geometry.iloc[1])  # they share the site's polygon
    assert plan.report.ok and plan.report.metrics["coverage_valid"]
    assert plan.grids["persons"].between(200, 300).all()
    # every household exactly once; an entrance is never split between stacks
    assert plan.households["household_id"].is_unique and len(plan.households) == len(hh)
    tower = plan.households[plan.households["grid_id"].isin(st["grid_id"])]
    assert (tower.groupby("entrance")["grid_id"].nunique() == 1).all()


def test_flag_and_default():
    hh, bnd = _tower()
    with pytest.raises(microgrid.InfeasibleError):
        microgrid.partition(hh, bnd)
    plan = microgrid.partition(hh, bnd, oversize="flag")
    assert plan.grids["flagged"].sum() == 1 and plan.report.ok
    with pytest.raises(microgrid.InputError, match="oversize"):
        microgrid.partition(hh, bnd, oversize="split")


def test_stack_from_the_cli(tmp_path):
    hh, bnd = _tower()
    src = tmp_path / "in.gpkg"
    hh.to_file(src, layer="households")
    bnd.to_file(src, layer="boundary")
    out = tmp_path / "p.gpkg"
    assert main(["partition", str(src), "--oversize", "stack", "--stack-col", "entrance", "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert gpd.read_file(out, layer="grids")["stack_id"].notna().sum() == 2
