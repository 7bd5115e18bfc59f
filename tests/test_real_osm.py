"""Real OpenStreetMap neighbourhoods (buildings, roads, export bbox) through the CLI.

The extracts live outside the repository (ODbL data, not redistributed);
these tests skip when they are absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import microgrid
from conftest import REAL_PLACES, real_extract
from microgrid.cli import main
from microgrid.crs import metric_crs


@dataclass
class Run:
    grids: gpd.GeoDataFrame  # metric CRS
    households: gpd.GeoDataFrame  # metric CRS
    boundary: shapely.Geometry  # the export bbox, metric CRS
    estimated: gpd.GeoDataFrame  # estimate_households(...) with the CLI's settings
    out: Path


@pytest.fixture(scope="module", params=REAL_PLACES)
def run(request, osm_dir, tmp_path_factory) -> Run:
    name = request.param
    f = real_extract(osm_dir, name, "gpkg")
    out = tmp_path_factory.mktemp(name) / "plan.gpkg"
    code = main(
        [
            "partition",
            "--buildings",
            f"{f}#buildings",
            "--boundary",
            f"{f}#export_bbox",
            "--barriers",
            f"{f}#roads",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    est = microgrid.estimate_households(f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0)
    bbox = gpd.read_file(f, layer="export_bbox")
    c = bbox.geometry.union_all().centroid
    work = metric_crs(bbox.crs, c.x, c.y)
    grids = gpd.read_file(out, layer="grids")
    hh = gpd.read_file(out, layer="households")
    assert grids.crs.to_epsg() == 4326  # the plan comes back in the input's CRS
    return Run(grids.to_crs(work), hh.to_crs(work), bbox.to_crs(work).geometry.union_all(), est, out)


def test_layers(run):
    import pyogrio

    assert {"grids", "households", "boundary", "barriers"} <= {str(n) for n in pyogrio.list_layers(run.out)[:, 0]}


def test_coverage(run):
    geoms = run.grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    gap = shapely.difference(run.boundary, union).area
    outside = shapely.difference(union, run.boundary).area
    overlap = shapely.area(geoms).sum() - union.area
    assert gap < 1.0
    assert outside < 1.0
    assert overlap < 1.0


def test_every_grid_one_polygon(run):
    assert (shapely.get_type_id(run.grids.geometry.to_numpy()) == 3).all()


def test_bounds_or_flagged(run):
    g = run.grids
    ok = g["persons"].between(200, 300) | g["flagged"].astype(bool)
    assert ok.all(), g.loc[~ok, ["grid_id", "persons"]]
    # real neighbourhoods of this size are far from the limits: nothing needs a flag
    assert g["persons"].between(200, 300).mean() > 0.95


def test_households_once_and_inside_their_grid(run):
    hh, est = run.households, run.estimated
    assert hh["household_id"].is_unique
    assert set(hh["household_id"]) == set(est["household_id"])
    assert len(hh) == len(est)
    geo = dict(zip(run.grids["grid_id"], run.grids.geometry))
    # a household of a divided site (an entrance point heavier than half a grid) lies in one of its site's grids
    site = hh["site_id"].to_numpy() if "site_id" in hh.columns else np.full(len(hh), np.nan)
    grids_of = hh[pd.notna(site)].groupby("site_id")["grid_id"].agg(set).to_dict()
    d = np.array(
        [
            min(shapely.distance(geo[g_], p) for g_ in (grids_of[s] if pd.notna(s) else [g]))
            for g, p, s in zip(hh["grid_id"], hh.geometry, site)
        ]
    )
    assert (d < 0.01).all()  # within a centimetre after the round trip through lon/lat


def test_persons_in_equal_persons_out(run):
    total = int(run.estimated["persons"].sum())
    assert int(run.households["persons"].sum()) == total
    assert int(run.grids["persons"].sum()) == total
    per = run.households.groupby("grid_id")["persons"].sum()
    assert (per.reindex(run.grids["grid_id"]).to_numpy() == run.grids["persons"].to_numpy()).all()


def test_plan_file_validates(run):
    assert main(["validate", str(run.out)]) == 0
