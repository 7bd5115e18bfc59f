"""Inputs as they come: shapefiles in GBK without .cpg, CSV/XLSX registers, Shapefile field names."""

from __future__ import annotations

import sys
import warnings

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import microgrid
from microgrid.cli import main
from microgrid.errors import InputError
from microgrid.io import read_layer
from microgrid.io.registers import read_register

NAMES = ["王芳", "李明", "张伟", "刘洋"]


def _gbk_shapefile(path, names=NAMES):
    g = gpd.GeoDataFrame(
        {"hh_id": [f"{n[0]}0{i}" for i, n in enumerate(names)], "name": names, "persons": [3, 2, 4, 1]},
        geometry=[shapely.Point(500_000 + i, 4_400_000) for i in range(len(names))],
        crs=32650,
    )
    g.to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink()  # ArcGIS-era files often come without one
    with open(path.with_suffix(".dbf"), "rb") as f:
        assert f.read(30)[29] == 0  # no code page in the .dbf either: GDAL falls back to Latin-1
    return g


def test_gbk_shapefile_without_cpg_reads_right(tmp_path):
    src = _gbk_shapefile(tmp_path / "hh.shp")
    got = read_layer(tmp_path / "hh.shp", what="households")
    assert got["name"].tolist() == NAMES
    assert got["hh_id"].tolist() == src["hh_id"].tolist()
    named = read_layer(tmp_path / "hh.shp", encoding="GBK")
    assert named["name"].tolist() == NAMES


def test_utf8_shapefile_without_cpg_reads_right(tmp_path):
    g = gpd.GeoDataFrame({"name": NAMES}, geometry=[shapely.Point(i, 0) for i in range(4)], crs=32650)
    g.to_file(tmp_path / "u.shp", engine="pyogrio")
    (tmp_path / "u.cpg").unlink()
    assert read_layer(tmp_path / "u.shp")["name"].tolist() == NAMES


def test_garbled_text_that_cannot_be_resolved_is_an_error(tmp_path):
    g = gpd.GeoDataFrame({"name": ["ab\xe9"]}, geometry=[shapely.Point(0, 0)], crs=32650)
    g.to_file(tmp_path / "x.shp", engine="pyogrio", encoding="latin1")
    (tmp_path / "x.cpg").unlink(missing_ok=True)
    with pytest.raises(InputError, match="encoding='GBK'.*--encoding GBK"):
        read_layer(tmp_path / "x.shp", what="households")
    assert read_layer(tmp_path / "x.shp", encoding="latin1")["name"].tolist() == ["ab\xe9"]


@pytest.fixture(scope="module")
def village_lonlat():
    hh, bnd, roads, marks = microgrid.samples.make_village(n_households=300, seed=1)
    hh = hh.to_crs(4326)
    reg = pd.DataFrame(
        {
            "户号": [f"村{i:04d}户" for i in range(len(hh))],
            "人数": hh["persons"].to_numpy(),
            "经度": hh.geometry.x.round(7),
            "纬度": hh.geometry.y.round(7),
        }
    )
    return reg, hh, bnd, roads


def test_csv_register_partitions_by_path(tmp_path, village_lonlat):
    reg, hh, bnd, roads = village_lonlat
    p = tmp_path / "register.csv"
    reg.to_csv(p, index=False, encoding="gbk")  # Excel in China saves CSV in GBK
    got = read_register(p)
    assert got.crs.to_epsg() == 4326 and got["户号"].tolist() == reg["户号"].tolist()
    assert got["人数"].dtype.kind == "i"
    plan = microgrid.partition(str(p), bnd, roads, id_col="户号", persons_col="人数", min_persons=200, max_persons=300)
    assert set(plan.households["household_id"]) == set(reg["户号"])
    assert plan.households.crs.to_epsg() == 4326


def test_xlsx_register_in_the_cli(tmp_path, village_lonlat, capsys):
    reg, hh, bnd, roads = village_lonlat
    p = tmp_path / "register.xlsx"
    reg.rename(columns={"经度": "lng", "纬度": "lat"}).to_excel(p, index=False)
    b = tmp_path / "b.gpkg"
    bnd.to_file(b, layer="boundary", engine="pyogrio")
    roads.to_file(b, layer="roads", engine="pyogrio")
    out = tmp_path / "plan.gpkg"
    code = main(
        [
            "partition",
            str(p),
            "--boundary",
            f"{b}#boundary",
            "--barriers",
            f"{b}#roads",
            "--id-col",
            "户号",
            "--persons-col",
            "人数",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    got = gpd.read_file(out, layer="households")
    assert sorted(got["household_id"]) == sorted(reg["户号"])


def test_register_columns_by_flags_and_crs(tmp_path, village_lonlat, capsys):
    reg, hh, bnd, roads = village_lonlat
    hh_m = hh.to_crs(32650)
    reg = reg.drop(columns=["经度", "纬度"]).assign(east=hh_m.geometry.x, north=hh_m.geometry.y)
    p = tmp_path / "reg.csv"
    reg.to_csv(p, index=False)
    b = tmp_path / "b.gpkg"
    bnd.to_file(b, layer="boundary", engine="pyogrio")
    args = [
        "partition",
        str(p),
        "--boundary",
        str(b),
        "--id-col",
        "户号",
        "--persons-col",
        "人数",
        "--out",
        str(tmp_path / "plan.gpkg"),
    ]
    assert main(args) == 2  # no coordinate column found
    err = capsys.readouterr().err
    assert "--x-col" in err and "Traceback" not in err
    assert main(args + ["--x-col", "east", "--y-col", "north"]) == 2  # metres: the CRS must be named
    assert "--crs" in capsys.readouterr().err
    assert main(args + ["--x-col", "east", "--y-col", "north", "--crs", "EPSG:32650"]) == 0


def test_register_ids_keep_leading_zeros(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("household_id,persons,lon,lat\n0012,3,116.1,39.9\n0013,2,116.2,39.9\n", encoding="utf-8")
    got = read_register(p)
    assert got["household_id"].tolist() == ["0012", "0013"]
    assert got["persons"].tolist() == [3, 2]


def test_xlsx_without_openpyxl_says_what_to_install(tmp_path, monkeypatch):
    p = tmp_path / "r.xlsx"
    p.write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(InputError, match=r'pip install "microgrid\[xlsx\]"'):
        read_layer(p, what="households")


def test_shapefile_register_with_truncated_id_column(tmp_path):
    hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    with warnings.catch_warnings():  # a user's own file: household_id -> household_ (GDAL truncates it)
        warnings.simplefilter("ignore")
        hh.to_file(tmp_path / "hh.shp", engine="pyogrio")
    assert "household_" in read_layer(tmp_path / "hh.shp").columns
    plan = microgrid.partition(str(tmp_path / "hh.shp"), bnd, roads, min_persons=200, max_persons=300)
    assert sorted(plan.households["household_id"]) == sorted(hh["household_id"])
    assert any("household_" in n for n in plan.report.notes)


def test_cli_shapefile_register_in_gbk_as_positional_input(tmp_path, capsys):
    """microgrid partition hh.shp --boundary b.shp: a GBK Shapefile with the truncated id column."""
    hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    hh = hh.assign(household_id=[f"王{i:03d}" for i in range(len(hh))], 户主=["王芳"] * len(hh))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # household_id -> household_, as ArcGIS-era files have it
        hh.to_file(tmp_path / "hh.shp", engine="pyogrio", encoding="GBK")
    (tmp_path / "hh.cpg").unlink()
    bnd.to_file(tmp_path / "b.shp", engine="pyogrio")
    out = tmp_path / "plan.gpkg"
    code = main(["partition", str(tmp_path / "hh.shp"), "--boundary", str(tmp_path / "b.shp"), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    got = gpd.read_file(out, layer="households")
    assert sorted(got["household_id"]) == sorted(hh["household_id"])
    assert set(got["户主"]) == {"王芳"}


def test_encoding_flag_leaves_geopackages_alone(tmp_path, capsys):
    """--encoding GBK names the Shapefiles' encoding; a GeoPackage (UTF-8 by its spec) is read as UTF-8."""
    hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    hh = hh.assign(户主="王芳")
    gpkg = tmp_path / "v.gpkg"
    bnd.assign(name="王家村").to_file(gpkg, layer="boundary", engine="pyogrio")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hh.to_file(tmp_path / "hh.shp", engine="pyogrio", encoding="GBK")
    (tmp_path / "hh.cpg").unlink()
    out = tmp_path / "plan.gpkg"
    assert (
        main(
            [
                "partition",
                "--households",
                str(tmp_path / "hh.shp"),
                "--boundary",
                f"{gpkg}#boundary",
                "--encoding",
                "GBK",
                "--out",
                str(out),
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert set(gpd.read_file(out, layer="households")["户主"]) == {"王芳"}
    assert gpd.read_file(out, layer="boundary")["name"].tolist() == ["王家村"]


def test_xlsx_ids_of_mixed_type_are_text(tmp_path):
    p = tmp_path / "r.xlsx"
    pd.DataFrame(
        {"户号": ["A01", 102, "张三家"], "人数": [3, 2, 4], "经度": [116.1, 116.2, 116.3], "纬度": [39.9, 39.9, 39.9]}
    ).to_excel(p, index=False)
    got = read_register(p)
    assert got["户号"].tolist() == ["A01", "102", "张三家"]
    assert got["人数"].tolist() == [3, 2, 4]
