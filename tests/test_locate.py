"""locate(): route points to their grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid


@pytest.fixture(scope="module")
def plan():
    hh, bnd, roads, marks = microgrid.samples.make_village(800, seed=6)
    return microgrid.partition(hh, bnd, roads, marks)


def test_households_are_located_in_their_grid(plan):
    out = microgrid.locate(plan, plan.households.geometry)
    assert (out["grid_id"].to_numpy() == plan.households["grid_id"].to_numpy()).all()
    assert out["code"].notna().all()


def test_other_crs_and_outside_points(plan, tmp_path):
    pts = plan.households.geometry.iloc[:5].to_crs(4326)
    far = gpd.GeoSeries([shapely.Point(0, 0)], crs=4326)
    out = microgrid.locate(plan, gpd.GeoSeries(list(pts) + list(far), crs=4326))
    assert out["grid_id"].iloc[:5].tolist() == plan.households["grid_id"].iloc[:5].tolist()
    assert np.isnan(out["grid_id"].iloc[5])
    path = tmp_path / "p.gpkg"
    plan.to_file(path)
    assert microgrid.locate(str(path), pts)["grid_id"].tolist() == plan.households["grid_id"].iloc[:5].tolist()


def test_non_points_rejected(plan):
    with pytest.raises(microgrid.InputError, match="not points"):
        microgrid.locate(plan, gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=plan.grids.crs))
