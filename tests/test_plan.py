"""Plan files: Shapefile field names and encoding, names carried into the plan, the lon/lat system marked."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest

import microgrid
from conftest import REPO
from microgrid.cli import main
from microgrid.io import SHP_FIELDS

SAMPLE = REPO / "data" / "samples" / "village.gpkg"


@pytest.fixture(scope="module")
def sample_plan_file():
    p = str(SAMPLE)
    return microgrid.partition(f"{p}#households", f"{p}#boundary", f"{p}#barriers", f"{p}#landmarks")


def test_shapefile_plan_short_fields_utf8_no_warnings(tmp_path, sample_plan_file):
    # the suite runs with warnings as errors: a GDAL/geopandas warning on truncation would fail here
    paths = sample_plan_file.to_file(tmp_path / "plan.shp")
    for p in paths:
        assert p.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
        info = pyogrio.read_info(p)
        assert all(len(f) <= 10 for f in info["fields"]), info["fields"]
    grids = gpd.read_file(paths[0])
    hh = gpd.read_file(paths[1])
    for long, short in SHP_FIELDS.items():
        if long in sample_plan_file.grids.columns:
            assert short in grids.columns
    assert {"flag_why", "online", "polsby"} <= set(grids.columns)
    assert "hh_id" in hh.columns
    assert grids["name"].tolist() == sample_plan_file.grids["name"].tolist()  # Chinese names intact
    assert grids["flagged"].tolist() == [int(x) for x in sample_plan_file.grids["flagged"]]


def test_shapefile_plan_reads_back_as_households(tmp_path, sample_plan_file):
    """The hh_id of a written .shp plan is taken as household_id when read again."""
    paths = sample_plan_file.to_file(tmp_path / "plan.shp")
    p = str(SAMPLE)
    again = microgrid.partition(str(paths[1]), f"{p}#boundary", f"{p}#barriers", f"{p}#landmarks")
    assert sorted(again.households["household_id"]) == sorted(sample_plan_file.households["household_id"])


def test_barrier_and_boundary_names_carried(tmp_path, sample_plan_file):
    bars = sample_plan_file.barriers
    assert "name" in bars.columns
    assert {"村大道", "清水河"} <= set(bars["name"].dropna())
    assert sample_plan_file.boundary["name"].tolist() == ["sample village"]
    out = tmp_path / "plan.gpkg"
    sample_plan_file.to_file(out)
    assert "村大道" in set(gpd.read_file(out, layer="barriers")["name"].dropna())
    assert gpd.read_file(out, layer="boundary")["name"].tolist() == ["sample village"]


def test_gcj02_plan_marked_in_file_and_summary(tmp_path, capsys):
    hh, bnd, roads, marks = microgrid.samples.make_village(300, seed=1, crs="EPSG:4326")
    src = tmp_path / "amap.gpkg"
    hh.to_file(src, layer="households", engine="pyogrio")
    bnd.to_file(src, layer="boundary", engine="pyogrio")
    roads.to_file(src, layer="barriers", engine="pyogrio")
    out = tmp_path / "plan.gpkg"
    assert main(["partition", str(src), "--input-crs", "gcj02", "--out", str(out)]) == 0
    assert "GCJ-02" in capsys.readouterr().out
    assert gpd.read_file(out, layer="boundary")["coord_system"].tolist() == ["gcj02"]
    assert pyogrio.read_info(out, layer="grids")["layer_metadata"] == {"coord_system": "gcj02"}
    plain = microgrid.partition(hh, bnd, roads)
    assert "coord_system" not in plain.boundary.columns and plain.coord_system is None
