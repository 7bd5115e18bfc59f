"""Change lists, locks and pins, and hand-edited plans (repartition on the stages)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import microgrid
from microgrid.cli import main
from microgrid.edits import changed_households

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "village.gpkg"


@pytest.fixture(scope="module")
def small():
    hh, bnd, roads, marks = microgrid.samples.make_village(900, seed=4)
    return hh, microgrid.partition(hh, bnd, roads, marks)


def _neighbours(grids, gid):
    geom = grids.set_index("grid_id").geometry[gid]
    return [
        g
        for g, x in zip(grids["grid_id"], grids.geometry)
        if g != gid and shapely.length(shapely.intersection(x.boundary, geom.boundary)) > 1
    ]


def _assert_sound(plan, n_households):
    m = plan.report.metrics
    assert plan.report.ok, plan.report.summary()
    assert m["coverage_valid"] and m["in_bounds_share"] == 1.0
    assert m["households_in"] == m["households_out"] == len(plan.households) == n_households
    assert plan.grids["grid_id"].is_unique and (plan.grids.geometry.geom_type == "Polygon").all()


# ---------------------------------------------------------------- change lists


def test_bad_change_rows_are_named(small):
    hh, plan = small
    h0 = hh["household_id"].iat[0]
    with pytest.raises(microgrid.InputError) as e:
        changed_households(
            plan.households,
            [
                {"op": "add", "household_id": h0, "x": 0, "y": 0, "persons": 2},  # already there
                {"op": "teleport", "household_id": "x"},
                {"op": "remove", "household_id": "nobody"},
                {"op": "move", "household_id": h0, "x": "east"},
                {"op": "persons", "household_id": h0, "persons": 0},
                {"op": "remove", "household_id": h0},  # fine
            ],
        )
    msg = str(e.value)
    for part in (
        "5 of 6 changes are wrong",
        "row 0: household",
        "row 1: op 'teleport'",
        "row 2 (remove): household 'nobody'",
        "row 3 (move",
        "missing y",
        "row 4 (persons",
    ):
        assert part in msg, msg


def test_apply_changes_one_of_each(small):
    hh, plan = small
    ids = plan.households["household_id"].tolist()
    p = plan.households.geometry.iloc[10]
    changes = pd.DataFrame(
        [
            {"op": "add", "household_id": "N1", "x": p.x + 1, "y": p.y, "persons": 3},
            {"op": "remove", "household_id": ids[0]},
            {"op": "move", "household_id": ids[1], "x": p.x, "y": p.y + 1},
            {"op": "persons", "household_id": ids[2], "persons": 5},
        ]
    )
    new, ch = microgrid.apply_changes(plan, changes)
    _assert_sound(new, len(hh))
    out = new.households.set_index("household_id")
    assert "N1" in out.index and ids[0] not in out.index and out.loc[ids[2], "persons"] == 5
    assert ch.households_added == ["N1"] and ch.households_removed == [ids[0]]
    assert 1 - ch.churn >= 0.9


# ---------------------------------------------------------------- locks and pins


def test_locked_grids_keep_polygon_and_households(small):
    hh, plan = small
    gid = plan.grids["grid_id"].iat[0]
    nb = _neighbours(plan.grids, gid)
    in_gid = plan.households.loc[plan.households["grid_id"] == gid, "household_id"]
    grown = hh.copy()
    grown.loc[grown["household_id"].isin(in_gid.iloc[:20]), "persons"] += 3  # gid goes above max
    # nb[0] is locked: it may not take any of them
    new, ch = microgrid.repartition(plan, grown, locked=[nb[0]])
    _assert_sound(new, len(hh))
    old = plan.grids.set_index("grid_id").geometry[nb[0]]
    now = new.grids.set_index("grid_id").geometry[nb[0]]
    assert shapely.symmetric_difference(old, now).area < 1e-6
    before = set(plan.households.loc[plan.households["grid_id"] == nb[0], "household_id"])
    after = set(new.households.loc[new.households["grid_id"] == nb[0], "household_id"])
    assert before == after and nb[0] in ch.grids_kept


def test_locked_column_and_locked_out_of_bounds(small):
    hh, plan = small
    gid = plan.grids["grid_id"].iat[0]
    in_gid = plan.households.loc[plan.households["grid_id"] == gid, "household_id"]
    grown = hh.copy()
    grown.loc[grown["household_id"].isin(in_gid.iloc[:30]), "persons"] += 4
    g = plan.grids.assign(locked=plan.grids["grid_id"] == gid)
    locked_plan = dataclasses.replace(plan, grids=g)
    with pytest.raises(microgrid.InfeasibleError, match=rf"locked grids out of bounds: grid {gid} holds") as e:
        microgrid.repartition(locked_plan, grown)
    assert e.value.cause == "locked" and e.value.ids == [gid]


def test_pins_hold_and_impossible_pins_are_named(small):
    hh, plan = small
    gid = plan.grids["grid_id"].iat[1]
    nb = _neighbours(plan.grids, gid)
    mine = plan.households.loc[plan.households["grid_id"] == gid, "household_id"].tolist()
    new, ch = microgrid.repartition(plan, hh, pinned={mine[0]: nb[0], mine[1]: nb[0]})
    _assert_sound(new, len(hh))
    out = new.households.set_index("household_id")["grid_id"]
    assert out[mine[0]] == nb[0] and out[mine[1]] == nb[0]
    assert any("pinned" in r for r in ch.reasons)
    # every household of gid and of nb[0] pinned to nb[0]: it would exceed max
    theirs = plan.households.loc[plan.households["grid_id"] == nb[0], "household_id"].tolist()
    with pytest.raises(microgrid.InfeasibleError, match=rf"pinned to grid {nb[0]} hold \d+ persons") as e:
        microgrid.repartition(plan, hh, pinned={h: nb[0] for h in mine + theirs})
    assert e.value.cause == "pinned" and set(mine) <= set(e.value.ids)
    with pytest.raises(microgrid.InputError, match="not among the households: 'ghost'"):
        microgrid.repartition(plan, hh, pinned={"ghost": nb[0]})
    with pytest.raises(microgrid.InfeasibleError, match="pinned to locked grid"):
        microgrid.repartition(plan, hh, pinned={mine[0]: nb[0]}, locked=[nb[0]])


def test_partition_pinned_labels_share_a_grid():
    hh, bnd, roads, marks = microgrid.samples.make_village(800, seed=3)
    ids = hh["household_id"].tolist()
    plan = microgrid.partition(hh, bnd, roads, marks, pinned={ids[0]: "A", ids[-1]: "A", ids[5]: "B"})
    g = plan.households.set_index("household_id")["grid_id"]
    assert g[ids[0]] == g[ids[-1]] and plan.report.ok
    with pytest.raises(microgrid.InfeasibleError, match="label 'A'") as e:
        microgrid.partition(hh, bnd, roads, marks, pinned={h: "A" for h in ids[:200]})
    assert e.value.cause == "pinned"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_changes_locks_and_pins(small, data):
    """Locks and pins are honoured or a named InfeasibleError; households in = out; tiling and bounds hold."""
    hh, plan = small
    ids = plan.households["household_id"].tolist()
    gids = plan.grids["grid_id"].tolist()
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    x0, y0, x1, y1 = plan.boundary.total_bounds
    inner = plan.boundary.geometry.iloc[0].buffer(-5)
    changes, present = [], list(ids)
    for i in range(data.draw(st.integers(1, 60))):
        op = data.draw(st.sampled_from(["add", "remove", "move", "persons"]))
        if op == "add":
            p = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
            if inner.contains(p):
                changes.append(
                    {"op": "add", "household_id": f"N{i}", "x": p.x, "y": p.y, "persons": int(rng.integers(1, 7))}
                )
                present.append(f"N{i}")
        elif op == "remove" and len(present) > 1:
            changes.append({"op": "remove", "household_id": present.pop(int(rng.integers(len(present))))})
        elif op == "persons":
            changes.append(
                {
                    "op": "persons",
                    "household_id": present[int(rng.integers(len(present)))],
                    "persons": int(rng.integers(1, 7)),
                }
            )
    locked = data.draw(st.lists(st.sampled_from(gids), max_size=3, unique=True))
    pin_ids = data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True))
    pinned = {h: data.draw(st.sampled_from(gids)) for h in pin_ids if h in present}
    try:
        new, ch = microgrid.apply_changes(plan, changes, locked=locked, pinned=pinned)
    except microgrid.InfeasibleError as exc:
        assert exc.cause in ("locked", "pinned", "no_cut", "heavy_site", "no_grid_count", "small_part")
        assert str(exc)
        return
    _assert_sound(new, len(present))
    out = new.households.set_index("household_id")["grid_id"]
    for h, g in pinned.items():
        assert out[h] == g
    old = plan.grids.set_index("grid_id").geometry
    now = new.grids.set_index("grid_id").geometry
    for g in locked:
        assert shapely.symmetric_difference(old[g], now[g]).area < 1e-6


# ---------------------------------------------------------------- hand edits


def edit_plan(src: Path, dst: Path) -> dict:
    """A person's edits in QGIS: a household's grid_id changed, two grids merged, one deleted, a line moved."""
    layers = {n: gpd.read_file(src, layer=n) for n in ("grids", "households", "boundary", "barriers")}
    metric = layers["grids"].estimate_utm_crs()  # edits in metres, as a person in QGIS would see them
    layers = {n: x.to_crs(metric) for n, x in layers.items()}
    g, hh = layers["grids"], layers["households"]
    ids = g["grid_id"].tolist()
    a = ids[0]
    b = _neighbours(g, a)[0]
    far = [x for x in ids if x not in (a, b) and x not in _neighbours(g, a) and x not in _neighbours(g, b)]
    deleted = far[0]
    rest = [x for x in far[1:] if x not in _neighbours(g, deleted)]
    d = rest[0]
    e = next(x for x in _neighbours(g, d) if x not in (a, b, deleted))
    geo = g.set_index("grid_id").geometry
    g.loc[g["grid_id"] == a, "geometry"] = gpd.GeoSeries([shapely.union(geo[a], geo[b])], crs=g.crs).values
    g = g[~g["grid_id"].isin([b, deleted])]
    # a line moved: e takes a 10 m strip of its neighbour f along their shared edge
    f = next((x for x in _neighbours(g, e) if x not in (a, d)), None)
    if f is not None:
        geo = g.set_index("grid_id").geometry
        strip = shapely.intersection(geo[f], shapely.buffer(geo[e], 10))
        g.loc[g["grid_id"] == e, "geometry"] = gpd.GeoSeries([shapely.union(geo[e], strip)], crs=g.crs).values
        g.loc[g["grid_id"] == f, "geometry"] = gpd.GeoSeries([shapely.difference(geo[f], strip)], crs=g.crs).values
    moved = hh.loc[hh["grid_id"] == d, "household_id"].iat[0]
    hh.loc[hh["household_id"] == moved, "grid_id"] = e
    layers["grids"], layers["households"] = g, hh
    for name, layer in layers.items():
        layer.to_file(dst, layer=name, driver="GPKG")
    return {"merged": (a, b), "deleted": deleted, "household": (moved, e), "line": (e, f)}


def _round_trip(plan, tmp_path):
    src, dst, out = tmp_path / "plan.gpkg", tmp_path / "edited.gpkg", tmp_path / "new.gpkg"
    plan.to_file(src)
    edits = edit_plan(src, dst)
    assert main(["repartition", "--plan", str(dst), "--out", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    new = microgrid.read_plan(out)
    hid, e = edits["household"]
    assert new.households.set_index("household_id")["grid_id"][hid] == e  # the edit kept, as a pin
    assert edits["deleted"] not in set(new.grids["grid_id"])
    _assert_sound(new, len(plan.households))
    return edits


def test_edited_plan_round_trip_sample(tmp_path, capsys):
    f = str(SAMPLE)
    plan = microgrid.partition(f"{f}#households", f"{f}#boundary", f"{f}#barriers", f"{f}#landmarks")
    edits = _round_trip(plan, tmp_path)
    text = capsys.readouterr().out
    assert f"grid {edits['deleted']} is not in the plan (deleted or merged)" in text
    assert "re-drawn:" in text


def test_edited_plan_round_trip_osm(osm_dir, tmp_path):
    f = osm_dir / "cau_beijing.gpkg"
    if not f.exists():
        pytest.skip(f"{f} not found")
    hh = microgrid.estimate_households(f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0)
    plan = microgrid.partition(hh, f"{f}#export_bbox", f"{f}#roads")
    _round_trip(plan, tmp_path)


def test_cli_changes_locked_pinned(small, tmp_path):
    hh, plan = small
    src, out = tmp_path / "plan.gpkg", tmp_path / "new.gpkg"
    plan.to_file(src)
    p = plan.households.geometry.iloc[3]
    pd.DataFrame(
        [
            {"op": "add", "household_id": "N1", "x": p.x, "y": p.y, "persons": 4},
            {"op": "remove", "household_id": plan.households["household_id"].iat[0]},
        ]
    ).to_csv(tmp_path / "changes.csv", index=False)
    gid = plan.grids["grid_id"].iat[2]
    h = plan.households.loc[plan.households["grid_id"] == gid, "household_id"].iat[0]
    pd.DataFrame({"household_id": [h], "grid_id": [gid]}).to_csv(tmp_path / "pins.csv", index=False)
    assert (
        main(
            [
                "changes",
                str(src),
                "--changes",
                str(tmp_path / "changes.csv"),
                "--locked",
                f"{plan.grids['grid_id'].iat[5]}",
                "--pinned",
                str(tmp_path / "pins.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert main(["validate", str(out)]) == 0
    bad = tmp_path / "bad.csv"
    pd.DataFrame([{"op": "remove", "household_id": "nobody"}]).to_csv(bad, index=False)
    assert main(["changes", str(src), "--changes", str(bad), "--out", str(tmp_path / "x.gpkg")]) == 2


def test_service_changes_job(small):
    from microgrid.io.geojson import plan_to_geojson, to_feature_collection
    from microgrid.service import run_job

    hh, plan = small
    body = plan_to_geojson(plan)
    h = plan.households["household_id"].iat[0]
    status, out = run_job(
        "changes",
        {
            "plan": {"grids": body["grids"], "households": body["households"]},
            "boundary": to_feature_collection(plan.boundary),
            "changes": [{"op": "persons", "household_id": h, "persons": 6}],
        },
    )
    assert status == "ok", out
    assert out["report"]["ok"] is True
    status, out = run_job(
        "changes",
        {
            "plan": {"grids": body["grids"], "households": body["households"]},
            "boundary": to_feature_collection(plan.boundary),
            "changes": [{"op": "remove", "household_id": "nobody"}],
        },
    )
    assert status == "error" and "row 0 (remove): household 'nobody'" in str(out)
