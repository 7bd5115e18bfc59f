"""validate(): a clean plan passes; every planted defect is found with its ids."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

import microgrid
from conftest import X0, Y0, block_village
from microgrid import InputError


@pytest.fixture(scope="module")
def plan():
    return microgrid.partition(*block_village(), seed=0)


@pytest.fixture
def parts(plan):
    """Copies of the plan's grids, households and boundary to plant defects in."""
    return plan.grids.copy(), plan.households.copy(), plan.boundary.copy()


def check(grids, households, boundary, **kw):
    kw.setdefault("assignment_col", "grid_id")
    return microgrid.validate(grids, households, boundary, **kw)


def ids_of(report, name) -> list:
    return [list(x) for x in report.table(name)["ids"]]


def _touching_and_apart(grids):
    """A pair of grids sharing an edge, and a pair that does not touch."""
    g = grids.geometry.to_numpy()
    ids = grids["grid_id"].tolist()
    touch = apart = None
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            if shapely.intersection(g[i], g[j]).length > 0:
                touch = touch or (ids[i], ids[j])
            elif not shapely.intersects(g[i], g[j]):
                apart = apart or (ids[i], ids[j])
    return touch, apart


def _set_geom(grids, gid, geom):
    grids.loc[grids["grid_id"] == gid, "geometry"] = [geom]


def _geom(grids, gid):
    return grids.loc[grids["grid_id"] == gid].geometry.iloc[0]


def _assert_flagged_not_error(grids, hh, bnd, gid, violation):
    """Grid ``gid`` flagged: the map passes, its ``violation`` (only that one) listed as flagged."""
    grids.loc[grids["grid_id"] == gid, "flagged"] = True
    rep = check(grids, hh, bnd)
    assert rep.ok
    assert rep.table(violation)["severity"].tolist() == ["flagged"]


# ---------------------------------------------------------------- clean


def test_clean_plan_is_ok(plan, parts):
    rep = check(*parts)
    assert rep.ok
    assert len(rep.errors) == 0
    assert len(rep.violations) == 0
    m = rep.metrics
    assert m["coverage_valid"]
    assert m["gap_area"] == 0 and m["overlap_area"] == 0 and m["outside_area"] == 0
    assert m["households_in"] == m["households_out"] == 225
    assert m["persons_in"] == m["persons_out"] == 675
    assert m["in_bounds_share"] == 1.0 and m["contiguous_share"] == 1.0
    assert m["n_grids"] == 3
    assert len(rep.per_grid) == 3
    assert rep.per_grid["persons"].tolist() == plan.grids["persons"].tolist()


def test_clean_plan_by_location(parts):
    grids, hh, bnd = parts
    rep = microgrid.validate(grids, hh.drop(columns="grid_id"), bnd)
    assert rep.ok
    assert rep.metrics["households_out"] == 225


def test_plan_report_matches_validate(plan, parts):
    rep = check(*parts)
    for k in ("n_grids", "households_out", "persons_out", "coverage_valid"):
        assert rep.metrics[k] == plan.report.metrics[k]


def test_hand_drawn_grids(parts):
    _, hh, bnd = parts
    cols = [shapely.box(X0 + 100 * i, Y0, X0 + 100 * i + 100, Y0 + 300) for i in range(3)]
    grids = gpd.GeoDataFrame({"grid_id": ["A", "B", "C"]}, geometry=cols, crs=hh.crs)
    rep = microgrid.validate(grids, hh.drop(columns="grid_id"), bnd, barriers=block_village()[2])
    assert rep.ok
    # grid lines on the roads x = 100 and x = 200
    assert rep.metrics["online_share"] == pytest.approx(1.0)


# ---------------------------------------------------------------- planted defects


def test_removed_grid_leaves_a_gap(parts):
    grids, hh, bnd = parts
    gone = grids["grid_id"].iloc[1]
    rep = check(grids[grids["grid_id"] != gone], hh, bnd)
    assert not rep.ok
    gap = rep.table("gap")
    assert len(gap) == 1
    assert gap["figure"].iloc[0] == pytest.approx(30_000.0)
    assert gap["severity"].iloc[0] == "error"
    assert gap.geometry.iloc[0].area == pytest.approx(30_000.0)
    lost = set(hh.loc[hh["grid_id"] == gone, "household_id"])
    unassigned = {i[0] for i in ids_of(rep, "household_unassigned")}
    assert unassigned == lost
    assert {i[0] for i in ids_of(rep, "household_unknown_grid")} == lost
    assert rep.metrics["gap_area"] == pytest.approx(30_000.0)
    assert not rep.metrics["coverage_valid"]


def test_enlarged_grid_overlaps_its_neighbour(parts):
    grids, hh, bnd = parts
    (a, b), _ = _touching_and_apart(grids)
    big = shapely.intersection(_geom(grids, a).buffer(5.0, join_style="mitre"), bnd.geometry.iloc[0])
    _set_geom(grids, a, big)
    rep = check(grids, hh, bnd)
    assert not rep.ok
    ov = rep.table("overlap")
    assert len(ov) >= 1
    assert sorted(ov["ids"].iloc[0]) == sorted([a, b])
    assert ov["figure"].iloc[0] == pytest.approx(300 * 5.0, rel=1e-6)
    assert rep.metrics["overlap_area"] == pytest.approx(1500.0, rel=1e-6)
    assert "coverage_invalid_edges" in rep.checks
    assert a in rep.table("coverage_invalid_edges")["ids"].iloc[0]


def test_stray_part_is_multipart(parts):
    grids, hh, bnd = parts
    _, (a, c) = _touching_and_apart(grids)
    gc = _geom(grids, c)
    p = gc.representative_point()
    piece = shapely.box(p.x + 1, p.y + 1, p.x + 4, p.y + 4)  # a 3 x 3 m yard away from any household
    assert shapely.contains(gc, piece)
    _set_geom(grids, c, gc.difference(piece))
    _set_geom(grids, a, shapely.MultiPolygon([_geom(grids, a), piece]))
    rep = check(grids, hh, bnd)
    assert not rep.ok
    mp = rep.table("multipart")
    assert ids_of(rep, "multipart") == [[a]]
    assert mp["figure"].iloc[0] == 2
    assert mp["severity"].iloc[0] == "error"
    assert rep.metrics["contiguous_share"] == pytest.approx(2 / 3)
    # still a valid coverage: the land moved, none was lost
    assert rep.metrics["coverage_valid"]


def test_flagged_multipart_is_not_an_error(parts):
    grids, hh, bnd = parts
    _, (a, c) = _touching_and_apart(grids)
    gc = _geom(grids, c)
    p = gc.representative_point()
    piece = shapely.box(p.x + 1, p.y + 1, p.x + 4, p.y + 4)
    _set_geom(grids, c, gc.difference(piece))
    _set_geom(grids, a, shapely.MultiPolygon([_geom(grids, a), piece]))
    _assert_flagged_not_error(grids, hh, bnd, a, "multipart")


def test_duplicate_grid_id(parts):
    grids, hh, bnd = parts
    first = grids["grid_id"].iloc[0]
    grids.loc[grids.index[1], "grid_id"] = first
    rep = check(grids, hh, bnd)
    assert not rep.ok
    assert ids_of(rep, "duplicate_grid_id") == [[first]]
    assert rep.table("duplicate_grid_id")["figure"].iloc[0] == 2


def test_duplicate_household(parts):
    grids, hh, bnd = parts
    hh = pd.concat([hh, hh.iloc[[10]]], ignore_index=True)
    rep = check(grids, hh, bnd)
    assert not rep.ok
    assert ids_of(rep, "duplicate_household") == [["h010"]]
    assert rep.metrics["households_in"] == 226
    assert rep.metrics["households_out"] == 225


def test_household_moved_into_another_grid(parts):
    grids, hh, bnd = parts
    own = hh.loc[hh["household_id"] == "h000", "grid_id"].iloc[0]
    other = grids.loc[grids["grid_id"] != own].geometry.iloc[0].representative_point()
    hh.loc[hh["household_id"] == "h000", "geometry"] = [other]
    rep = check(grids, hh, bnd)
    assert not rep.ok
    assert ids_of(rep, "household_outside_its_grid") == [["h000"]]
    assert "h000" in rep.table("household_outside_its_grid")["message"].iloc[0]


def test_household_moved_outside_the_boundary(parts):
    grids, hh, bnd = parts
    hh.loc[hh["household_id"] == "h005", "geometry"] = [shapely.Point(X0 - 50, Y0 - 50)]
    rep = check(grids, hh, bnd)
    assert not rep.ok
    assert ids_of(rep, "household_unassigned") == [["h005"]]
    assert ids_of(rep, "household_outside_its_grid") == [["h005"]]


def test_household_with_unknown_grid(parts):
    grids, hh, bnd = parts
    hh.loc[hh["household_id"] == "h007", "grid_id"] = 99
    rep = check(grids, hh, bnd)
    assert ids_of(rep, "household_unknown_grid") == [["h007"]]
    assert "99" in rep.table("household_unknown_grid")["message"].iloc[0]


def _push_over_max(hh):
    """100 more persons in household h020; the id of its grid, now above max."""
    h020 = hh["household_id"] == "h020"
    hh.loc[h020, "persons"] += 100
    return hh.loc[h020, "grid_id"].iloc[0]


def test_grid_pushed_over_max(parts):
    grids, hh, bnd = parts
    gid = _push_over_max(hh)
    rep = check(grids, hh, bnd)
    assert not rep.ok
    oob = rep.table("persons_out_of_bounds")
    assert ids_of(rep, "persons_out_of_bounds") == [[gid]]
    assert oob["figure"].iloc[0] == 325
    assert "above max" in oob["message"].iloc[0]
    assert rep.metrics["persons_in"] == rep.metrics["persons_out"] == 775


def test_bounds_are_parameters(parts):
    rep = check(*parts, min_persons=230, max_persons=300)
    assert len(rep.table("persons_out_of_bounds")) == 3
    assert all("below min" in m for m in rep.table("persons_out_of_bounds")["message"])
    assert rep.metrics["in_bounds_share"] == 0.0


def test_flagged_grid_over_max_is_flagged_not_error(parts):
    grids, hh, bnd = parts
    gid = _push_over_max(hh)
    _assert_flagged_not_error(grids, hh, bnd, gid, "persons_out_of_bounds")


def test_sliver_gap_is_a_warning(parts):
    grids, hh, bnd = parts
    # cut a 0.5 x 0.5 m notch (0.25 m2) out of the village's outer corner
    corner = shapely.box(X0, Y0, X0 + 0.5, Y0 + 0.5)
    gid = grids.loc[grids.intersects(corner.buffer(-0.1))]["grid_id"].iloc[0]
    _set_geom(grids, gid, _geom(grids, gid).difference(corner))
    rep = check(grids, hh, bnd)
    assert rep.ok
    sl = rep.table("sliver_gap")
    assert len(sl) == 1
    assert sl["severity"].iloc[0] == "warning"
    assert sl["figure"].iloc[0] == pytest.approx(0.25)
    assert sl["ids"].iloc[0] == [gid]
    assert len(rep.table("gap")) == 0
    # a larger sliver threshold does not hide it either; a smaller one makes it an error
    rep2 = check(grids, hh, bnd, sliver_area=0.1)
    assert not rep2.ok
    assert len(rep2.table("gap")) == 1


def test_grid_outside_the_boundary(parts):
    grids, hh, bnd = parts
    gid = grids["grid_id"].iloc[0]
    g = _geom(grids, gid)
    _set_geom(
        grids,
        gid,
        g.union(shapely.box(X0 - 20, Y0, X0, Y0 + 300)).intersection(
            shapely.box(X0 - 20, g.bounds[1], X0 + 300, g.bounds[3])
        ),
    )
    rep = check(grids, hh, bnd)
    assert not rep.ok
    out = rep.table("outside_boundary")
    assert ids_of(rep, "outside_boundary") == [[gid]]
    assert out["figure"].iloc[0] == pytest.approx(20 * (g.bounds[3] - g.bounds[1]))


def test_invalid_and_empty_grid_geometry(parts):
    grids, hh, bnd = parts
    bow = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    extra = gpd.GeoDataFrame({"grid_id": [7, 8], "persons": [0, 0]}, geometry=[bow, None], crs=grids.crs)
    rep = check(pd.concat([grids, extra], ignore_index=True), hh, bnd, min_persons=0)
    assert ids_of(rep, "invalid_geometry") == [[7]]
    assert ids_of(rep, "empty_geometry") == [[8]]


def test_household_in_two_grids_by_location(parts):
    grids, hh, bnd = parts
    # a household exactly on a shared grid edge is in two grids when placed by location
    (a, b), _ = _touching_and_apart(grids)
    edge = shapely.intersection(_geom(grids, a), _geom(grids, b))
    hh.loc[hh["household_id"] == "h030", "geometry"] = [edge.interpolate(0.5, normalized=True)]
    rep = microgrid.validate(grids, hh.drop(columns="grid_id"), bnd)
    assert ids_of(rep, "household_in_two_grids") == [["h030"]]
    assert "shared edge" in rep.table("household_in_two_grids")["message"].iloc[0]


# ---------------------------------------------------------------- the report


def test_report_to_json(tmp_path, parts):
    grids, hh, bnd = parts
    rep = check(grids.iloc[1:], hh, bnd)
    d = json.loads(rep.to_json())
    assert d["ok"] is False
    assert d["metrics"]["n_grids"] == 2
    checks = {v["check"] for v in d["violations"]}
    assert {"gap", "household_unassigned"} <= checks
    assert all(isinstance(v["ids"], list) for v in d["violations"])
    assert any(v["wkt"] and v["wkt"].startswith("POLYGON") for v in d["violations"])
    path = tmp_path / "report.json"
    rep.to_json(path)
    assert json.loads(path.read_text(encoding="utf-8")) == d
    clean = json.loads(check(*parts).to_json())
    assert clean["ok"] is True and clean["violations"] == []


def test_report_table_and_summary(parts):
    grids, hh, bnd = parts
    rep = check(grids.iloc[1:], hh, bnd)
    assert set(rep.table("gap")["check"]) == {"gap"}
    assert len(rep.table("no_such_check")) == 0
    assert "gap" in rep.checks
    s = rep.summary()
    assert "coverage INVALID" in s
    assert "error: gap x1" in s
    assert rep.violations.crs is not None


def test_notes_are_carried(parts):
    rep = check(*parts, notes=["boundary was repaired"])
    assert rep.notes == ["boundary was repaired"]
    assert json.loads(rep.to_json())["notes"] == ["boundary was repaired"]


def test_validate_bad_inputs(parts):
    grids, hh, bnd = parts
    with pytest.raises(
        InputError, match=r"no column 'gid' \(columns: grid_id, .*grid_id_col=\.\.\. \(CLI: --grid-id-col\)"
    ):
        microgrid.validate(grids, hh, bnd, grid_id_col="gid")
    with pytest.raises(InputError, match="assignment column 'zone'.*--assignment-col"):
        microgrid.validate(grids, hh, bnd, assignment_col="zone")
    with pytest.raises(InputError, match="grids has no CRS"):
        microgrid.validate(grids.set_crs(None, allow_override=True), hh, bnd)
    with pytest.raises(InputError, match="file not found"):
        microgrid.validate("missing.gpkg#grids", hh, bnd)


def test_validate_in_lon_lat(parts):
    grids, hh, bnd = parts
    rep = check(grids.to_crs(4326), hh.to_crs(4326), bnd.to_crs(4326))
    assert rep.ok
    assert rep.metrics["households_out"] == 225


def test_validate_does_not_mutate(parts):
    grids, hh, bnd = parts
    bare = grids.set_crs(None, allow_override=True)
    g0 = bare.copy()
    rep = microgrid.validate(bare, hh, bnd, crs=grids.crs, assignment_col="grid_id")
    assert rep.ok
    assert bare.crs is None
    pd.testing.assert_frame_equal(pd.DataFrame(bare), pd.DataFrame(g0))
