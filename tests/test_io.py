"""microgrid.io: one read dispatch and one write dispatch, and nothing else reads or writes geodata."""

from __future__ import annotations

import ast
import pathlib

import geopandas as gpd
import pytest
import shapely

import microgrid
from microgrid import InputError
from microgrid.cli import main
from microgrid.io import list_layers, read_layer, read_plan_layers, write_plan

SRC = pathlib.Path(microgrid.__file__).parent


# ---------------------------------------------------------------- the house rule


#: Calls that read or write geodata: outside microgrid/io none is made (Plan.to_file hands over to io.write_plan).
_IO_CALLS = {
    "read_file",
    "to_file",
    "read_parquet",
    "to_parquet",
    "read_postgis",
    "to_postgis",
    "read_dataframe",
    "write_dataframe",
    "list_layers",
}
_IO_MODULES = {"pyogrio", "sqlalchemy", "psycopg", "geoalchemy2", "osmnx", "pyrosm", "openpyxl", "sqlite3"}


def _io_uses(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in _IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in _IO_MODULES:
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _IO_CALLS:
            found.append(f"{ast.unparse(node.func)}() at line {node.lineno}")
    return found


def test_only_the_io_package_reads_and_writes_geodata():
    outside = {
        p.relative_to(SRC).as_posix(): _io_uses(p)
        for p in sorted(SRC.rglob("*.py"))
        if p.relative_to(SRC).parts[0] != "io"
    }
    offenders = {k: v for k, v in outside.items() if v}
    assert offenders == {}, offenders


def test_the_rule_check_finds_a_planted_read(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import pyogrio\n\ndef f(gdf, p):\n    gdf.to_file(p)\n", encoding="utf-8")
    assert _io_uses(planted) == ["import pyogrio", "gdf.to_file() at line 4"]


# ---------------------------------------------------------------- reading


def test_read_layer_takes_a_geojson_mapping():
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"household_id": "a", "persons": 3},
                "geometry": {"type": "Point", "coordinates": [116.3, 39.9]},
            }
        ],
    }
    gdf = read_layer(fc, what="households")
    assert gdf.crs.to_epsg() == 4326
    assert gdf["household_id"].tolist() == ["a"] and gdf.geometry.iloc[0].equals(shapely.Point(116.3, 39.9))
    with pytest.raises(InputError, match="households"):
        read_layer(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Point"}}],
            },
            what="households",
        )


def test_read_layer_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(InputError, match="expected a GeoDataFrame"):
        read_layer(42, what="boundary")
    with pytest.raises(InputError, match="file not found"):
        read_layer(tmp_path / "nowhere.gpkg", what="boundary")
    bad = tmp_path / "broken.gpkg"
    bad.write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match="cannot read"):
        list_layers(bad)


@pytest.fixture(scope="module")
def pbf():
    pyrosm = pytest.importorskip("pyrosm")
    pytest.importorskip("osmnx")
    return pyrosm.get_data("test_pbf")


def test_an_osm_extract_reads_as_named_layers(pbf):
    layers = microgrid.from_osm(pbf)
    assert list_layers(pbf) == ["buildings", "barriers", "landmarks", "boundary"]
    roads = read_layer(f"{pbf}#roads")  # the name users give roads, for barriers
    assert len(roads) == len(layers.barriers) and set(roads["kind"]) == set(layers.barriers["kind"])
    assert read_layer(pbf, what="boundary").geometry.iloc[0].equals(layers.boundary.geometry.iloc[0])
    assert len(read_layer(pbf, layer="buildings")) == len(layers.buildings)
    with pytest.raises(InputError, match="households are estimated from the buildings"):
        read_layer(pbf, what="households")
    with pytest.raises(InputError, match="has the layers buildings, barriers"):
        read_layer(f"{pbf}#rivers")


def test_cli_partitions_an_osm_extract_with_defaults(pbf, tmp_path, capsys):
    out = tmp_path / "plan.gpkg"
    assert main(["partition", pbf, "--out", str(out)]) == 0
    assert "households (" in capsys.readouterr().out  # estimated from the buildings, and said so
    plan = microgrid.read_plan(out)
    assert plan.report.ok and plan.report.metrics["households_in"] == plan.report.metrics["households_out"] > 0
    assert plan.report.metrics["in_bounds_share"] == 1.0


# ---------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def small_plan():
    return microgrid.partition(*microgrid.samples.make_village(300, seed=1))


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp", ".parquet"])
def test_write_plan_refuses_to_replace_and_reads_back(small_plan, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    written = write_plan(small_plan, tmp_path / f"plan{suffix}")
    assert all(p.exists() for p in written)
    with pytest.raises(InputError, match="exists; pass overwrite=True"):
        write_plan(small_plan, tmp_path / f"plan{suffix}")
    assert write_plan(small_plan, tmp_path / f"plan{suffix}", overwrite=True) == written
    grids = read_layer(written[0], what="grids")
    assert sorted(grids["persons"]) == sorted(small_plan.grids["persons"])


def test_a_plan_file_keeps_how_it_was_made(small_plan, tmp_path):
    (path,) = small_plan.to_file(tmp_path / "plan.gpkg")
    frames, info = read_plan_layers(path)
    assert {"grids", "households", "boundary", "barriers"} <= set(frames)
    assert info["microgrid_version"] == microgrid.__version__
    assert microgrid.PartitionOptions.from_dict(info["options"]) == small_plan.options
    assert info["inputs"] == small_plan.params["inputs"]


def test_maps_are_never_replaced_by_accident(small_plan, tmp_path):
    pytest.importorskip("matplotlib")
    from microgrid.viz import save_plan_map

    out = save_plan_map(small_plan, tmp_path / "plan.png")
    first = out.read_bytes()
    with pytest.raises(InputError, match="exists"):
        save_plan_map(small_plan, out)
    assert out.read_bytes() == first
    save_plan_map(small_plan, out, labels="persons", overwrite=True)
    assert out.read_bytes() != first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_osm_layers_written_through_the_same_rules(pbf, tmp_path):
    layers = microgrid.from_osm(pbf)
    path = layers.to_file(tmp_path / "osm.gpkg")
    assert set(list_layers(path)) == {"buildings", "barriers", "landmarks", "boundary"}
    with pytest.raises(InputError, match="exists"):
        layers.to_file(path)
    assert isinstance(read_layer(f"{path}#boundary"), gpd.GeoDataFrame)


def test_every_unreadable_layer_is_named_at_once(tmp_path):
    hh, bnd, roads, _ = microgrid.samples.make_village(300, seed=1)
    path = tmp_path / "village.gpkg"
    hh.to_file(path, layer="households")
    bnd.to_file(path, layer="boundary")
    with pytest.raises(InputError) as e:
        microgrid.partition(f"{path}#households", f"{path}#boundry", f"{path}#rods")
    assert "no layer 'boundry'" in str(e.value) and "no layer 'rods'" in str(e.value)
    assert len(e.value.problems) == 2
