"""Real OpenStreetMap neighbourhoods with one point per building, as a household register geocoded to the building.

Every household of a building shares one point (``households_per_entrance=None``); with the defaults the
partition divides buildings only where whole buildings cannot meet the bounds. Skips when the extracts are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import microgrid
from conftest import REAL_PLACES, real_extract


@pytest.fixture(scope="module", params=REAL_PLACES)
def building_plan(request, osm_dir):
    f = real_extract(osm_dir, request.param, "gpkg")
    hh = microgrid.estimate_households(
        f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0, households_per_entrance=None
    )
    plan = microgrid.partition(hh, f"{f}#export_bbox", f"{f}#roads")
    return hh, plan


def test_one_point_per_building_meets_the_bounds(building_plan):
    hh, plan = building_plan
    g = plan.grids
    assert g["persons"].between(200, 300).all()
    assert not g["flagged"].any()
    assert plan.report.ok and plan.report.metrics["coverage_valid"]
    assert (shapely.get_num_geometries(g.geometry.to_numpy()) == 1).all()
    assert len(plan.households) == len(hh) and int(g["persons"].sum()) == int(hh["persons"].sum())


def test_few_divided_buildings(building_plan):
    hh, plan = building_plan
    xy = [tuple(x) for x in shapely.get_coordinates(hh.geometry.to_numpy()).round(6)]
    per_site = hh.assign(site=xy).groupby("site")["persons"].sum()
    d = plan.divided_sites
    heavy = int((per_site > 300).sum())
    assert heavy > 0  # the case is real: some buildings hold more than a grid
    assert d["site_id"].nunique() <= heavy + plan.n_grids // 2
    # every building above max is divided; parts agree with the households
    assert d["site_id"].nunique() >= heavy
    h = plan.households
    for r in d.itertuples():
        mine = h[(h["site_id"] == r.site_id) & (h["site_part"] == r.part)]
        assert len(mine) == r.households and (mine["grid_id"] == r.grid_id).all()
    assert h["site_id"].notna().sum() == int(d["households"].sum())
    assert np.isclose(d.groupby("site_id")["persons"].sum(), d.groupby("site_id")["site_persons"].first()).all()


@pytest.mark.parametrize("place", REAL_PLACES)
def test_from_osm_then_partition_with_defaults(place, osm_dir):
    lay = microgrid.from_osm(real_extract(osm_dir, place))
    hh = microgrid.estimate_households(lay.buildings, clip_to=lay.boundary)
    plan = microgrid.partition(hh, lay.boundary, lay.barriers, lay.landmarks)
    assert plan.grids["persons"].between(200, 300).all()
    assert plan.report.ok
