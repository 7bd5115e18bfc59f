"""Regressions found in review: each would fail on the code before its fix."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

import microgrid
from microgrid.cli import main

CRS = 32650
X0, Y0 = 440_000.0, 4_420_000.0


def _hh(persons, xy=None):
    xy = xy or [(X0 + 10 + 20 * i, Y0 + 50) for i in range(len(persons))]
    return gpd.GeoDataFrame(
        {"household_id": [f"h{i}" for i in range(len(persons))], "persons": persons},
        geometry=shapely.points(xy),
        crs=CRS,
    )


def _box(w=100, h=100):
    return gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + w, Y0 + h)], crs=CRS)


def test_heavy_site_raises_by_default():
    with pytest.raises(microgrid.InfeasibleError) as ei:
        microgrid.partition(_hh([400, 150, 100]), _box())
    assert ei.value.cause == "heavy_site"
    assert "h0" in str(ei.value.ids)
    plan = microgrid.partition(_hh([400, 150, 100]), _box(), on_infeasible="flag")
    assert plan.grids["flagged"].any() and plan.report.ok


def test_cli_exits_3_on_heavy_site(tmp_path, capsys):
    hh = tmp_path / "in.gpkg"
    _hh([400, 150, 100]).to_file(hh, layer="households")
    _box().to_file(hh, layer="boundary")
    assert main(["partition", str(hh), "--out", str(tmp_path / "p.gpkg")]) == 3
    assert "Traceback" not in capsys.readouterr().err


def test_invalid_landmark_polygon_is_repaired_not_a_crash():
    bow = shapely.Polygon([(X0 + 10, Y0 + 10), (X0 + 40, Y0 + 40), (X0 + 40, Y0 + 10), (X0 + 10, Y0 + 40)])
    marks = gpd.GeoDataFrame({"name": ["school"]}, geometry=[bow], crs=CRS)
    plan = microgrid.partition(_hh([50] * 5), _box(), landmarks=marks, min_persons=100, max_persons=300)
    assert plan.report.ok
    assert any("landmark" in n for n in plan.report.notes)


def test_n_grids_message_when_no_count_fits():
    with pytest.raises(microgrid.InfeasibleError, match="number of grids.*widen the bounds"):
        microgrid.partition(_hh([50] * 5), _box(), min_persons=200, max_persons=210, n_grids=2)


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_tries_and_restarts_checked(bad):
    with pytest.raises(microgrid.InputError, match="tries"):
        microgrid.partition(_hh([50] * 5), _box(), tries=bad)
    with pytest.raises(microgrid.InputError, match="restarts"):
        microgrid.partition(_hh([50] * 5), _box(), restarts=bad)


def test_households_out_counts_only_assigned_households():
    g = gpd.GeoDataFrame(
        {"grid_id": [1, 2]},
        geometry=[shapely.box(X0, Y0, X0 + 50, Y0 + 100), shapely.box(X0 + 50, Y0, X0 + 100, Y0 + 100)],
        crs=CRS,
    )
    hh = _hh([250, 250, 1], [(X0 + 10, Y0 + 10), (X0 + 60, Y0 + 10), (X0 + 70, Y0 + 10)])
    hh["grid_id"] = [1, 2, 3]  # grid 3 does not exist
    rep = microgrid.validate(g, hh, _box(), assignment_col="grid_id")
    assert rep.metrics["households_out"] == 2
    assert rep.metrics["persons_out"] == 500


def test_repair_without_previous_assignment_lists_no_household_moves():
    g = gpd.GeoDataFrame(
        {"grid_id": [1, 2]},
        geometry=[shapely.box(X0, Y0, X0 + 60, Y0 + 100), shapely.box(X0 + 40, Y0, X0 + 90, Y0 + 100)],
        crs=CRS,
    )
    res = microgrid.repair(g, _box(), _hh([5, 5, 5]))
    assert "household_reassigned" not in set(res.changes["action"])
    assert len(res.households) == 3


def test_validate_plan_file_uses_the_plans_bounds(tmp_path):
    hh, bnd, roads, marks = microgrid.samples.make_village(400, seed=4)
    plan = microgrid.partition(hh, bnd, roads, min_persons=100, max_persons=150)
    path = tmp_path / "p.gpkg"
    plan.to_file(path)
    assert main(["validate", str(path)]) == 0
    assert main(["validate", str(path), "--min-persons", "200", "--max-persons", "300"]) == 1
