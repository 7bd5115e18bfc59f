"""Stage 1: reading and checking inputs; every bad input names its ids and the fix."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import microgrid
from conftest import CRS, X0, Y0, block_village, boundary_gdf, households_gdf, square
from microgrid import InputError
from microgrid.inputs import estimate_households, prepare_inputs
from microgrid.io import read_layer


@pytest.fixture
def v():
    return block_village()


def _err(*args, **kw) -> InputError:
    with pytest.raises(InputError) as ei:
        microgrid.partition(*args, **kw)
    return ei.value


# ---------------------------------------------------------------- households


def _set(col, rows, value, dtype=None):
    """An edit of the households: ``hh.loc[rows, col] = value``, the column first cast to ``dtype``."""

    def edit(hh):
        if dtype is not None:
            hh[col] = hh[col].astype(dtype)
        hh.loc[rows, col] = value
        return hh

    return edit


#: households made bad in one way: (edit, what the error says, what it must not say)
BAD_HOUSEHOLDS = {
    "duplicate_ids": (_set("household_id", [3, 7], "h000"), ["duplicate household ids", "'h000'", "unique"], []),
    "missing_ids": (
        _set("household_id", [3, 7], None, object),
        ["2 households have no 'household_id'", "rows 3, 7", "unique id"],
        [],
    ),
    "persons_missing": (
        _set("persons", [3, 7], np.nan, float),
        ["missing", "'h003', 'h007'", "whole numbers >= 0"],
        [],
    ),
    "persons_negative": (_set("persons", [4], -2), ["negative", "'h004'"], ["'h003'"]),
    "persons_not_whole": (_set("persons", [5], 2.5, float), ["not a whole number", "'h005'", "round"], []),
    "persons_not_numeric": (_set("persons", [6], "three", object), ["not a number", "'h006'"], []),
    "households_not_points": (
        _set("geometry", [3, 4], [shapely.box(X0 + 1, Y0 + 1, X0 + 2, Y0 + 2)] * 2),
        ["must be points", "Polygon", "'h003', 'h004'", "estimate_households"],
        [],
    ),
    "households_without_geometry": (_set("geometry", [8], [shapely.Point()]), ["'h008'", "no geometry"], []),
    "nan_coordinates": (_set("geometry", [3], [shapely.Point(np.nan, np.nan)]), ["NaN", "'h003'"], []),
    "empty_households": (lambda hh: hh.iloc[:0], ["empty"], []),
}


@pytest.mark.parametrize("case", list(BAD_HOUSEHOLDS))
def test_bad_households_are_named(v, case):
    edit, says, not_says = BAD_HOUSEHOLDS[case]
    hh, bnd, roads = v
    msg = str(_err(edit(hh), bnd, roads))
    for part in says:
        assert part in msg, part
    for part in not_says:
        assert part not in msg, part


def test_missing_id_column(v):
    hh, bnd, roads = v
    e = _err(hh.rename(columns={"household_id": "hid"}), bnd, roads)
    assert "no id column 'household_id'" in str(e)
    assert "id_col" in str(e)
    plan = microgrid.partition(hh.rename(columns={"household_id": "hid"}), bnd, roads, id_col="hid")
    assert len(plan.households) == len(hh)


def test_persons_numeric_strings_are_accepted(v):
    hh, bnd, roads = v
    hh["persons"] = hh["persons"].astype(str)
    plan = microgrid.partition(hh, bnd, roads)
    assert int(plan.households["persons"].sum()) == 675


def test_persons_column_absent_is_an_error_unless_default_given(v):
    hh, bnd, roads = v
    hh = hh.drop(columns="persons")
    e = _err(hh, bnd, roads)
    assert "no persons column 'persons'" in str(e)
    assert "default_persons=1" in str(e)
    plan = microgrid.partition(hh, bnd, roads, default_persons=1)
    assert (plan.households["persons"] == 1).all()
    assert int(plan.grids["persons"].sum()) == len(hh)


def test_single_part_multipoint_is_accepted(v):
    hh, bnd, roads = v
    p = hh.geometry.iloc[0]
    hh.loc[[0], "geometry"] = [shapely.MultiPoint([p])]
    plan = microgrid.partition(hh, bnd, roads)
    assert len(plan.households) == len(hh)


# ---------------------------------------------------------------- outside the boundary


def _two_outside(hh):
    hh.loc[[3, 7], "geometry"] = [shapely.Point(X0 - 10, Y0 + 50), shapely.Point(X0 + 350, Y0 + 50)]
    return hh


def test_outside_error_names_ids(v):
    hh, bnd, roads = v
    e = _err(_two_outside(hh), bnd, roads)
    assert "2 households lie outside the boundary" in str(e)
    assert "'h003', 'h007'" in str(e)
    assert "outside='drop'" in str(e)
    assert "outside='snap'" in str(e)


def test_outside_drop(v):
    hh, bnd, roads = v
    plan = microgrid.partition(_two_outside(hh), bnd, roads, outside="drop")
    assert not {"h003", "h007"} & set(plan.households["household_id"])
    assert len(plan.households) == len(hh) - 2
    notes = " ".join(plan.report.notes)
    assert "dropped" in notes
    assert "'h003'" in notes and "'h007'" in notes
    assert plan.params["dropped"] == ["h003", "h007"]


def test_outside_snap(v):
    hh, bnd, roads = v
    plan = microgrid.partition(_two_outside(hh), bnd, roads, outside="snap")
    out = plan.households
    assert sorted(out["household_id"]) == sorted(hh["household_id"])
    b = bnd.geometry.iloc[0]
    assert shapely.covers(b, out.geometry.to_numpy()).all()
    moved = out.set_index("household_id").loc[["h003", "h007"]]
    assert (moved.geometry.distance(b.boundary) < 1.0).all()
    notes = " ".join(plan.report.notes)
    assert "moved inside" in notes and "'h003'" in notes
    assert plan.report.ok


def test_outside_nearest_is_snap(v):
    hh, bnd, roads = v
    near = microgrid.partition(_two_outside(hh.copy()), bnd, roads, outside="nearest")
    snap = microgrid.partition(_two_outside(hh.copy()), bnd, roads, outside="snap")
    assert near.households.geometry.geom_equals_exact(snap.households.geometry, 0).all()


def test_outside_bad_value(v):
    hh, bnd, roads = v
    e = _err(hh, bnd, roads, outside="ignore")
    assert "outside must be" in str(e)


# ---------------------------------------------------------------- boundary


@pytest.mark.parametrize(
    "geom",
    [
        shapely.Polygon(),
        shapely.Polygon([(X0, Y0), (X0 + 300, Y0), (X0 + 600, Y0)]),  # zero area
    ],
    ids=["empty", "zero-area"],
)
def test_degenerate_boundary(v, geom):
    hh, _, roads = v
    e = _err(hh, boundary_gdf(geom), roads)
    assert "boundary has zero area" in str(e)


def test_empty_boundary_layer(v):
    hh, _, roads = v
    e = _err(hh, gpd.GeoDataFrame(geometry=[], crs=CRS), roads)
    assert "boundary layer is empty" in str(e)


def test_boundary_not_polygon(v):
    hh, _, roads = v
    e = _err(hh, boundary_gdf(shapely.LineString([(X0, Y0), (X0 + 300, Y0 + 300)])), roads)
    assert "Polygon/MultiPolygon" in str(e)
    assert "polygonize" in str(e)


def test_bowtie_boundary_is_repaired_with_a_note():
    bow = shapely.Polygon([(X0, Y0), (X0 + 300, Y0 + 300), (X0 + 300, Y0), (X0, Y0 + 300)])
    assert not bow.is_valid
    # households in both lobes (left and right triangles)
    xy = [(X0 + 20 + i, Y0 + 150 + (i % 7) - 3) for i in range(40)]
    xy += [(X0 + 240 + i, Y0 + 150 + (i % 7) - 3) for i in range(40)]
    hh = households_gdf(xy, [3] * 80)
    plan = microgrid.partition(hh, boundary_gdf(bow), min_persons=50, max_persons=150)
    notes = " ".join(plan.report.notes)
    assert "invalid" in notes and "make_valid" in notes
    assert plan.report.ok
    assert plan.report.metrics["coverage_valid"]
    assert abs(plan.grids.area.sum() - shapely.make_valid(bow).area) < 1e-3
    assert len(plan.households) == 80


# ---------------------------------------------------------------- barriers


def test_barriers_not_lines_name_rows(v):
    hh, bnd, roads = v
    bad = gpd.GeoDataFrame(
        {"kind": ["road", "x", "y", "road"]},
        geometry=[roads.geometry[0], shapely.Point(X0, Y0), shapely.box(X0, Y0, X0 + 1, Y0 + 1), roads.geometry[1]],
        crs=CRS,
    )
    e = _err(hh, bnd, bad)
    msg = str(e)
    assert "rows 2 are polygons" in msg
    assert "gdf.boundary" in msg
    assert "rows 1 are Point" in msg
    assert len(e.problems) == 2


def test_barrier_kind_col_missing(v):
    hh, bnd, roads = v
    e = _err(hh, bnd, roads, kind_col="highway")
    assert "no kind column 'highway'" in str(e)


def test_barrier_kinds_become_ranks(v):
    hh, bnd, roads = v
    roads["kind"] = ["primary", "residential", "service", "footway"]
    inp = prepare_inputs(hh, bnd, roads)
    assert inp.barriers["rank"].tolist() == [1, 2, 3, 4]
    roads["kind"] = ["Main ", None, "mystery", "river"]
    inp = prepare_inputs(hh, bnd, roads)
    assert inp.barriers["rank"].tolist() == [1, 3, 3, 1]


def test_barriers_read_from_osm_highway_column(v):
    hh, bnd, roads = v
    roads = roads.rename(columns={"kind": "highway"})
    inp = prepare_inputs(hh, bnd, roads)
    assert inp.barriers["kind"].tolist() == ["main", "main", "lane", "lane"]


def test_multilinestring_barriers_are_split_into_parts(v):
    hh, bnd, roads = v
    multi = gpd.GeoDataFrame({"kind": ["road"]}, geometry=[shapely.MultiLineString(list(roads.geometry))], crs=CRS)
    inp = prepare_inputs(hh, bnd, multi)
    assert len(inp.barriers) == 4


# ---------------------------------------------------------------- CRS


def test_missing_crs_is_an_error(v):
    hh, bnd, roads = v
    e = _err(hh.set_crs(None, allow_override=True), bnd, roads)
    assert "households has no CRS" in str(e)
    assert "crs=" in str(e)


def test_missing_crs_with_crs_argument(v):
    hh, bnd, roads = v
    none = [g.set_crs(None, allow_override=True) for g in (hh, bnd, roads)]
    e = _err(*none)
    assert len(e.problems) == 3
    plan = microgrid.partition(*none, crs=CRS)
    assert plan.grids.crs == CRS
    assert plan.report.ok


def test_mixed_crs_output_in_households_crs(v):
    hh, bnd, roads = v
    plan = microgrid.partition(hh.to_crs(4326), bnd, roads)
    for gdf in (plan.grids, plan.households, plan.boundary, plan.units):
        assert gdf.crs.to_epsg() == 4326
    assert plan.report.ok
    assert plan.n_grids == 3
    # households keep their ids and persons through the round trip of CRSs
    ref = microgrid.partition(hh, bnd, roads)
    assert sorted(plan.households["household_id"]) == sorted(ref.households["household_id"])
    assert plan.grids["persons"].sum() == ref.grids["persons"].sum()


def test_geographic_input_is_worked_in_utm(v):
    hh, bnd, roads = v
    inp = prepare_inputs(hh.to_crs(4326), bnd.to_crs(4326), roads.to_crs(4326))
    assert inp.work_crs.to_epsg() == 32650
    assert inp.out_crs.to_epsg() == 4326


def test_cgcs2000_input_is_worked_in_gauss_kruger(v):
    hh, bnd, roads = v
    inp = prepare_inputs(hh.to_crs(4490), bnd.to_crs(4490), roads.to_crs(4490))
    assert inp.work_crs.to_epsg() == 4548


# ---------------------------------------------------------------- all problems at once


def test_all_problems_collected_in_one_error(v):
    hh, bnd, roads = v
    hh.loc[[3, 4], "household_id"] = "dup"
    hh.loc[[5], "persons"] = -1
    hh.loc[[6], "geometry"] = [shapely.box(X0, Y0, X0 + 1, Y0 + 1)]
    bad_roads = pd.concat(
        [roads, gpd.GeoDataFrame({"kind": ["x"]}, geometry=[shapely.Point(X0, Y0)], crs=CRS)], ignore_index=True
    )
    e = _err(hh, bnd.set_crs(None, allow_override=True), bad_roads)
    assert len(e.problems) >= 4
    msg = str(e)
    assert msg.startswith(f"{len(e.problems)} problems with the inputs")
    for part in ("boundary has no CRS", "'dup'", "'h005'", "'h006'", "rows 4 are Point"):
        assert part in msg, part


@pytest.mark.parametrize(
    "kw, text",
    [
        ({"min_persons": 300, "max_persons": 200}, "swap"),
        ({"min_persons": -1}, "min_persons must be a whole number"),
        ({"max_persons": 2.5}, "max_persons must be a whole number"),
        ({"n_grids": 0}, "n_grids must be"),
        ({"on_infeasible": "ignore"}, "on_infeasible must be"),
        ({"snap_tolerance": -1.0}, "snap_tolerance"),
    ],
)
def test_bad_parameters(v, kw, text):
    e = _err(*v, **kw)
    assert text in str(e)


def test_inputs_are_not_mutated(v):
    hh, bnd, roads = v
    before = [g.copy() for g in (hh, bnd, roads)]
    microgrid.partition(hh.iloc[::-1], bnd, roads)
    for a, b in zip(before, (hh, bnd, roads)):
        pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_extra_household_columns_pass_through(v):
    hh, bnd, roads = v
    hh["name"] = [f"family {i}" for i in range(len(hh))]
    plan = microgrid.partition(hh, bnd, roads)
    out = plan.households.set_index("household_id")
    assert out.loc["h010", "name"] == "family 10"


# ---------------------------------------------------------------- estimate_households


def _buildings(geoms, types=None, levels=None):
    data = {"building": types or ["yes"] * len(geoms)}
    if levels is not None:
        data["building:levels"] = levels
    return gpd.GeoDataFrame(data, geometry=geoms, crs=CRS)


@pytest.mark.parametrize(
    "box, btype, levels, expected",
    [
        ((0, 0, 20, 30), "apartments", None, 40),  # 600 m2 x 6 default storeys / 90
        ((0, 0, 10, 10), "house", "3", 3),  # 100 x 3 / 90 = 3.33
        ((0, 0, 12, 12), "yes", None, 3),  # 144 x 2 / 90 = 3.2
        ((0, 0, 30, 30), "residential", "11", 110),  # 900 x 11 / 90
        ((0, 0, 5, 5), "house", None, 1),  # 25 m2 x 2 / 90 rounds to 1: at least one
        ((0, 0, 4, 4), "house", None, 0),  # a shed below min_footprint
        ((0, 0, 40, 40), "school", None, 0),
        ((0, 0, 40, 40), "commercial", "5", 0),
        ((0, 0, 40, 40), "industrial", None, 0),
    ],
)
def test_estimate_counts(box, btype, levels, expected):
    geom = shapely.box(X0 + box[0], Y0 + box[1], X0 + box[2], Y0 + box[3])
    b = _buildings([geom], [btype], None if levels is None else [levels])
    hh = estimate_households(b, seed=0)
    assert len(hh) == expected
    if expected:
        area = geom.area
        lv = float(levels) if levels else {"apartments": 6, "house": 2, "residential": 5}.get(btype, 2)
        assert len(hh) == max(1, round(area * lv / 90))


def test_estimate_several_buildings_and_columns():
    geoms = [shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 20, Y0 + 30) for i in range(4)]
    b = _buildings(geoms, ["apartments", "school", "house", None], ["6", None, "2", "bad"])
    b.index = ["a", "b", "c", "d"]
    hh = estimate_households(b, seed=0)
    counts = hh.groupby("building").size().to_dict()
    # a: 600*6/90=40; b: school 0; c: 600*2/90=13.3 -> 13; d: no type = "yes", levels unreadable -> 2 -> 13
    assert counts == {"a": 40, "c": 13, "d": 13}
    assert hh["household_id"].is_unique
    assert hh["persons"].between(1, 6).all()
    assert hh.crs == b.crs


def test_estimate_entrances_inside_footprints():
    geoms = [
        shapely.box(X0, Y0, X0 + 60, Y0 + 12),
        shapely.Polygon(
            [
                (X0 + 100, Y0),
                (X0 + 160, Y0),
                (X0 + 160, Y0 + 60),
                (X0 + 148, Y0 + 60),
                (X0 + 148, Y0 + 12),
                (X0 + 100, Y0 + 12),
            ]
        ),  # an L-shaped block
        shapely.box(X0 + 200, Y0, X0 + 215, Y0 + 15).union(shapely.box(X0 + 230, Y0, X0 + 245, Y0 + 15)),
    ]
    b = _buildings(geoms, ["apartments"] * 3)
    hh = estimate_households(b, seed=0)
    for i, g in enumerate(geoms):
        pts = hh.geometry[hh["building"] == i].to_numpy()
        assert len(pts) > 0
        assert shapely.covers(g, pts).all()
    # a long block gets several entrances along its long axis
    first = hh[hh["building"] == 0]
    assert len(set(first.geometry.x.round(3))) > 1


def test_estimate_one_point_per_building_without_entrances():
    b = _buildings([shapely.box(X0, Y0, X0 + 60, Y0 + 12)], ["apartments"])
    hh = estimate_households(b, seed=0, households_per_entrance=None)
    assert len(hh.geometry.drop_duplicates()) == 1


def test_estimate_clip_to_cuts_buildings():
    b = _buildings(
        [shapely.box(X0 - 10, Y0, X0 + 10, Y0 + 30), shapely.box(X0 + 100, Y0, X0 + 120, Y0 + 30)],
        ["apartments", "apartments"],
    )
    clip = boundary_gdf(square())
    full = estimate_households(b, seed=0)
    cut = estimate_households(b, seed=0, clip_to=clip)
    assert len(full) == 80
    # the first building keeps only its 10 x 30 m inside: 300 x 6 / 90 = 20 households
    assert cut.groupby("building").size().to_dict() == {0: 20, 1: 40}
    assert shapely.covers(square(), cut.geometry.to_numpy()).all()


def test_estimate_clip_to_in_other_crs():
    b = _buildings([shapely.box(X0 - 10, Y0, X0 + 10, Y0 + 30)], ["apartments"])
    cut = estimate_households(b, seed=0, clip_to=boundary_gdf(square()).to_crs(4326))
    assert len(cut) == 20


def test_estimate_is_deterministic_for_a_seed():
    geoms = [shapely.box(X0 + 50 * i, Y0, X0 + 50 * i + 20, Y0 + 30) for i in range(5)]
    b = _buildings(geoms, ["apartments"] * 5)
    a1 = estimate_households(b, seed=7)
    a2 = estimate_households(b, seed=7)
    pd.testing.assert_frame_equal(pd.DataFrame(a1.drop(columns="geometry")), pd.DataFrame(a2.drop(columns="geometry")))
    assert a1.geometry.geom_equals_exact(a2.geometry, tolerance=0).all()
    a3 = estimate_households(b, seed=8)
    assert len(a3) == len(a1)
    assert not (a3["persons"].to_numpy() == a1["persons"].to_numpy()).all()


def test_estimate_needs_crs():
    b = _buildings([shapely.box(0, 0, 10, 10)]).set_crs(None, allow_override=True)
    with pytest.raises(InputError, match="no CRS"):
        estimate_households(b)


def test_estimate_no_buildings_left():
    b = _buildings([shapely.box(X0 + 500, Y0, X0 + 520, Y0 + 30)], ["apartments"])
    hh = estimate_households(b, clip_to=boundary_gdf(square()))
    assert len(hh) == 0


def test_estimated_households_partition():
    geoms = [
        shapely.box(X0 + 10 + 50 * i, Y0 + 10 + 50 * j, X0 + 40 + 50 * i, Y0 + 30 + 50 * j)
        for i in range(5)
        for j in range(5)
    ]
    b = _buildings(geoms, ["house"] * 25)
    hh = estimate_households(b, seed=0, clip_to=boundary_gdf(square()))
    plan = microgrid.partition(hh, boundary_gdf(square()), min_persons=50, max_persons=100)
    assert plan.report.ok
    assert sorted(plan.households["household_id"]) == sorted(hh["household_id"])


# ---------------------------------------------------------------- read_layer


def test_read_layer_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_layer(tmp_path / "nope.gpkg")


@pytest.mark.parametrize("name, text", [("notes.txt", "hello world\n"), ("bad.geojson", "{not json")])
def test_read_layer_not_geodata(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(InputError, match="cannot read .* as geodata"):
        read_layer(p, what="households")


def test_read_layer_table_without_geometry(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="no geometry"):
        read_layer(p)


def test_read_layer_dataframe_without_geometry():
    with pytest.raises(InputError, match="GeoDataFrame"):
        read_layer(pd.DataFrame({"x": [1]}))
    with pytest.raises(InputError, match="expected a GeoDataFrame"):
        read_layer(42)


@pytest.fixture
def gpkg(tmp_path, v):
    hh, bnd, roads = v
    p = tmp_path / "village.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    roads.to_file(p, layer="roads", engine="pyogrio")
    return p


def test_read_layer_hash_syntax(gpkg):
    assert len(read_layer(f"{gpkg}#households")) == 225
    assert len(read_layer(f"{gpkg}#roads")) == 4
    assert len(read_layer(gpkg, layer="boundary")) == 1
    # layer= overrides a #layer suffix
    assert len(read_layer(f"{gpkg}#households", layer="roads")) == 4


def test_read_layer_multi_layer_needs_a_name(gpkg):
    with pytest.raises(InputError, match=r"has 3 layers .*#LAYER"):
        read_layer(gpkg)
    # ... unless a layer has the input's own name
    assert len(read_layer(gpkg, what="households")) == 225


def test_read_layer_unknown_layer(gpkg):
    with pytest.raises(InputError, match="nolayer"):
        read_layer(f"{gpkg}#nolayer")


def test_partition_from_paths(gpkg, v):
    plan = microgrid.partition(f"{gpkg}#households", f"{gpkg}#boundary", f"{gpkg}#roads")
    ref = microgrid.partition(*v)
    assert plan.n_grids == ref.n_grids
    assert plan.report.ok


def test_read_layer_returns_a_copy(v):
    hh = v[0]
    out = read_layer(hh)
    out.loc[0, "persons"] = 999
    assert hh.loc[0, "persons"] != 999
    assert len(read_layer(hh.geometry)) == len(hh)
    assert read_layer(None) is None
    one = read_layer(square())
    assert len(one) == 1 and one.crs is None


@pytest.mark.parametrize("fmt", ["geojson", "shp", "gpkg", "parquet"])
def test_read_layer_formats(tmp_path, v, fmt):
    hh = v[0].rename(columns={"household_id": "hid"})  # Shapefile fields hold 10 characters
    p = tmp_path / f"households.{fmt}"
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
        hh.to_parquet(p)
    else:
        hh.to_file(p, engine="pyogrio")
    back = read_layer(p, what="households")
    assert len(back) == len(hh)
    assert back.crs.to_epsg() == 32650
    assert sorted(back["hid"]) == sorted(hh["hid"])
    assert back["persons"].sum() == hh["persons"].sum()
    plan = microgrid.partition(p, v[1], v[2], id_col="hid")
    assert plan.report.ok


# ---------------------------------------------------------------- ids that collide as text


def test_ids_equal_as_text_are_rejected(v):
    hh, bnd, roads = v
    hh["household_id"] = hh["household_id"].astype(object)
    hh.loc[0, "household_id"] = 2
    hh.loc[1, "household_id"] = "2"
    hh.loc[2, "household_id"] = 7
    hh.loc[3, "household_id"] = "7"
    e = _err(hh, bnd, roads)
    assert "same once written as text" in str(e)
    assert "2 and '2'" in str(e) and "7 and '7'" in str(e)


def test_mixed_id_types_that_do_not_collide_are_fine(v):
    hh, bnd, roads = v
    hh["household_id"] = hh["household_id"].astype(object)
    hh.loc[0, "household_id"] = 2
    plan = microgrid.partition(hh, bnd, roads)
    assert len(plan.households) == len(hh)


# ---------------------------------------------------------------- why households are outside


@pytest.fixture(scope="module")
def lonlat_village():
    hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    return hh.to_crs(4326), bnd.to_crs(4326), roads.to_crs(4326)


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_households_in_gcj02_or_bd09_are_recognised(lonlat_village, system):
    from microgrid.crs import from_wgs84

    hh, bnd, roads = lonlat_village
    for outside in ("error", "snap", "drop"):  # snapping or dropping them would be wrong: always an error
        e = _err(from_wgs84(hh, system), bnd, roads, outside=outside)
        msg = str(e)
        assert "300 households lie outside" in msg
        assert f"input_crs={system!r}" in msg and f"--input-crs {system}" in msg
        assert f"to_wgs84(households, {system!r})" in msg
        assert "all households fall inside" in msg
        assert "outside='snap'" not in msg


def test_boundary_in_gcj02_is_recognised(lonlat_village):
    from microgrid.crs import from_wgs84

    hh, bnd, roads = lonlat_village
    msg = str(_err(hh, from_wgs84(bnd, "gcj02"), roads))
    assert "boundary like GCJ-02" in msg and "to_wgs84(boundary, 'gcj02')" in msg


def test_swapped_lat_lon_is_recognised(lonlat_village):
    hh, bnd, roads = lonlat_village
    swapped = hh.set_geometry(gpd.points_from_xy(hh.geometry.y, hh.geometry.x, crs=4326))
    for outside in ("error", "snap"):
        msg = str(_err(swapped, bnd, roads, outside=outside))
        assert "look swapped" in msg and "300 of them fall inside with x and y exchanged" in msg
        assert "inf" not in msg


def test_one_swapped_household_is_named(lonlat_village):
    hh, bnd, roads = lonlat_village
    hh = hh.copy()
    p = hh.geometry.iloc[5]
    hh.loc[hh.index[5], "geometry"] = shapely.Point(p.y, p.x)
    msg = str(_err(hh, bnd, roads))
    assert "1 households lie outside" in msg and "'H006'" in msg and "look swapped" in msg


def test_unplaceable_coordinates_say_so(lonlat_village):
    hh, bnd, roads = lonlat_village
    hh = hh.copy()
    hh.loc[hh.index[:3], "geometry"] = [shapely.Point(116.0, 95.0)] * 3  # latitude beyond 90
    for outside in ("error", "drop"):
        msg = str(_err(hh, bnd, roads, outside=outside))
        assert "cannot be placed" in msg and "inf" not in msg


def test_plain_outside_keeps_the_drop_snap_advice(lonlat_village):
    hh, bnd, roads = lonlat_village
    far = hh.set_geometry(hh.geometry.translate(0.1, 0))  # 8.5 km east: no known offset explains it
    msg = str(_err(far, bnd, roads))
    assert "outside='drop'" in msg and "input_crs" not in msg and "swapped" not in msg


def test_few_offset_households_are_dropped_with_a_note():
    """3 of 303 households outside, each brought in by GCJ-02 -> WGS84: a hint, but drop still obeys."""
    from microgrid.crs import wgs84_to_gcj02

    hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    big = bnd.set_geometry(bnd.buffer(1500).envelope)  # the village amid fields: far from the edges
    x0, y0, x1, y1 = big.total_bounds
    edge = gpd.GeoSeries(
        shapely.points([(x, y1 - 20) for x in np.linspace(x0 + 800, x1 - 800, 3)]), crs=bnd.crs
    ).to_crs(4326)
    lon, lat = wgs84_to_gcj02(edge.x.to_numpy(), edge.y.to_numpy())  # north edge, shifted out
    extra = gpd.GeoDataFrame(
        {"household_id": ["X1", "X2", "X3"], "persons": [1, 1, 1]}, geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    hh4 = pd.concat([hh.to_crs(4326), extra], ignore_index=True)
    msg = str(_err(hh4, big.to_crs(4326), roads.to_crs(4326)))
    assert "3 households lie outside" in msg and "input_crs='gcj02'" in msg
    plan = microgrid.partition(hh4, big.to_crs(4326), roads.to_crs(4326), outside="drop")
    assert plan.params["dropped"] == ["X1", "X2", "X3"]
    assert any("input_crs='gcj02'" in n for n in plan.report.notes)
