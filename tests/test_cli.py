"""The command line: exit codes, messages without tracebacks, files written."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import pyogrio
import pytest
import shapely

import microgrid
from conftest import REPO, X0, Y0, block_village, boundary_gdf, square, write_layers
from microgrid.cli import main

SAMPLE = REPO / "data" / "samples" / "village.gpkg"


def layers(path) -> set[str]:
    return {str(n) for n in pyogrio.list_layers(path)[:, 0]}


@pytest.fixture
def village_gpkg(tmp_path):
    """The 3x3 village as one GeoPackage with layers households, boundary, barriers."""
    hh, bnd, roads = block_village()
    p = tmp_path / "v3.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    roads.to_file(p, layer="barriers", engine="pyogrio")
    return p


@pytest.fixture
def plan_gpkg(tmp_path, village_gpkg):
    out = tmp_path / "plan.gpkg"
    assert main(["partition", str(village_gpkg), "--out", str(out)]) == 0
    return out


def _plan_layers(path) -> list[str]:
    """``--grids P#grids --households P#households --boundary P#boundary``: a plan given as separate layers."""
    return [arg for name in ("grids", "households", "boundary") for arg in (f"--{name}", f"{path}#{name}")]


def _no_traceback(captured):
    assert "Traceback" not in captured.out
    assert "Traceback" not in captured.err


# ---------------------------------------------------------------- partition


def test_partition_sample_subprocess(tmp_path):
    out = tmp_path / "plan.gpkg"
    r = subprocess.run(
        [sys.executable, "-m", "microgrid", "partition", "data/samples/village.gpkg", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "grids" in r.stdout
    assert "coverage valid" in r.stdout
    assert "wrote" in r.stdout
    assert {"grids", "households", "boundary", "barriers"} <= layers(out)
    assert "Traceback" not in r.stderr


def test_partition_in_process(capsys, tmp_path, village_gpkg):
    out = tmp_path / "p.gpkg"
    report = tmp_path / "r.json"
    code = main(["partition", str(village_gpkg), "--out", str(out), "--report", str(report)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "3 grids, 675 persons in 225 households" in cap.out
    assert "valid" in cap.out
    assert {"grids", "households", "boundary", "barriers"} <= layers(out)
    grids = gpd.read_file(out, layer="grids")
    assert sorted(grids["persons"]) == [225, 225, 225]
    rep = json.loads(report.read_text(encoding="utf-8"))
    assert rep["ok"] is True
    assert rep["metrics"]["households_out"] == 225


def test_partition_separate_layers_and_options(capsys, tmp_path, village_gpkg):
    out = tmp_path / "p.gpkg"
    code = main(
        [
            "partition",
            "--households",
            f"{village_gpkg}#households",
            "--boundary",
            f"{village_gpkg}#boundary",
            "--barriers",
            f"{village_gpkg}#barriers",
            "--min-persons",
            "100",
            "--max-persons",
            "200",
            "--n-grids",
            "5",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    cap = capsys.readouterr()
    assert code == 0, cap.err
    grids = gpd.read_file(out, layer="grids")
    assert len(grids) == 5
    assert grids["persons"].between(100, 200).all()


def test_partition_from_buildings(capsys, tmp_path):
    geoms = [
        shapely.box(X0 + 10 + 50 * i, Y0 + 10 + 50 * j, X0 + 40 + 50 * i, Y0 + 30 + 50 * j)
        for i in range(5)
        for j in range(5)
    ]
    b = gpd.GeoDataFrame({"building": ["house"] * 25}, geometry=geoms, crs="EPSG:32650")
    src = tmp_path / "b.gpkg"
    b.to_file(src, layer="buildings", engine="pyogrio")
    boundary_gdf(square()).to_file(src, layer="boundary", engine="pyogrio")
    out = tmp_path / "p.gpkg"
    code = main(["partition", str(src), "--min-persons", "50", "--max-persons", "100", "--out", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "estimated 325 households" in cap.out
    assert len(gpd.read_file(out, layer="households")) == 325


def test_partition_geojson_output(capsys, tmp_path, village_gpkg):
    code = main(["partition", str(village_gpkg), "--out", str(tmp_path / "p.geojson")])
    assert code == 0
    assert (tmp_path / "p_grids.geojson").exists()
    assert (tmp_path / "p_households.geojson").exists()


def test_missing_input_file(capsys, tmp_path):
    code = main(["partition", str(tmp_path / "nope.gpkg"), "--out", str(tmp_path / "p.gpkg")])
    cap = capsys.readouterr()
    assert code == 2
    assert "error:" in cap.err
    assert "nope.gpkg" in cap.err
    _no_traceback(cap)
    assert not (tmp_path / "p.gpkg").exists()


def test_missing_layer_file(capsys, tmp_path):
    code = main(
        [
            "partition",
            "--households",
            str(tmp_path / "x.gpkg"),
            "--boundary",
            str(tmp_path / "y.gpkg"),
            "--out",
            str(tmp_path / "p.gpkg"),
        ]
    )
    cap = capsys.readouterr()
    assert code == 2
    assert "file not found" in cap.err
    _no_traceback(cap)


def test_duplicate_ids(capsys, tmp_path):
    hh, bnd, roads = block_village()
    hh.loc[[3, 7], "household_id"] = "h000"
    p = tmp_path / "dup.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    code = main(["partition", str(p), "--out", str(tmp_path / "p.gpkg")])
    cap = capsys.readouterr()
    assert code == 2
    assert "duplicate household ids 'h000'" in cap.err
    _no_traceback(cap)


def test_no_households_layer(capsys, tmp_path):
    p = tmp_path / "b.gpkg"
    boundary_gdf(square()).to_file(p, layer="boundary", engine="pyogrio")
    code = main(["partition", str(p), "--out", str(tmp_path / "p.gpkg")])
    cap = capsys.readouterr()
    assert code == 2
    assert "give households" in cap.err


def test_existing_out_needs_overwrite(capsys, tmp_path, village_gpkg, plan_gpkg):
    before = plan_gpkg.read_bytes()
    code = main(["partition", str(village_gpkg), "--out", str(plan_gpkg)])
    cap = capsys.readouterr()
    assert code == 2
    assert "--overwrite" in cap.err
    _no_traceback(cap)
    assert plan_gpkg.read_bytes() == before
    assert main(["partition", str(village_gpkg), "--out", str(plan_gpkg), "--overwrite"]) == 0


def test_infeasible_exit_3(capsys, tmp_path, village_gpkg):
    code = main(["partition", str(village_gpkg), "--n-grids", "7", "--out", str(tmp_path / "p.gpkg")])
    cap = capsys.readouterr()
    assert code == 3
    assert cap.err.startswith("infeasible:")
    assert "n_grids=7" in cap.err
    _no_traceback(cap)


def test_bad_bounds_exit_2(capsys, tmp_path, village_gpkg):
    code = main(
        [
            "partition",
            str(village_gpkg),
            "--min-persons",
            "300",
            "--max-persons",
            "200",
            "--out",
            str(tmp_path / "p.gpkg"),
        ]
    )
    cap = capsys.readouterr()
    assert code == 2
    assert "swap" in cap.err


def test_outside_households_cli(capsys, tmp_path):
    hh, bnd, roads = block_village()
    hh.loc[[3], "geometry"] = [shapely.Point(X0 - 10, Y0 + 50)]
    p = tmp_path / "o.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    assert main(["partition", str(p), "--out", str(tmp_path / "a.gpkg")]) == 2
    assert "--outside drop|snap" in capsys.readouterr().err
    assert main(["partition", str(p), "--outside", "drop", "--out", str(tmp_path / "b.gpkg")]) == 0
    assert len(gpd.read_file(tmp_path / "b.gpkg", layer="households")) == 224


def test_version_and_usage(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert "microgrid 0.1.0" in capsys.readouterr().out
    with pytest.raises(SystemExit) as ei:
        main(["partition"])  # --out is required
    assert ei.value.code == 2


# ---------------------------------------------------------------- validate


def test_validate_clean_plan(capsys, plan_gpkg, tmp_path):
    js = tmp_path / "rep.json"
    code = main(["validate", str(plan_gpkg), "--json", str(js)])
    cap = capsys.readouterr()
    assert code == 0, cap.out
    assert "valid" in cap.out
    rep = json.loads(js.read_text(encoding="utf-8"))
    assert rep["ok"] is True
    assert rep["metrics"]["n_grids"] == 3


def _plan_with_defect(plan_gpkg, tmp_path):
    grids = gpd.read_file(plan_gpkg, layer="grids")
    bad = tmp_path / "bad.gpkg"
    grids.iloc[1:].to_file(bad, layer="grids", engine="pyogrio")
    for name in ("households", "boundary", "barriers"):
        gpd.read_file(plan_gpkg, layer=name).to_file(bad, layer=name, engine="pyogrio")
    return bad, grids["grid_id"].iloc[0]


def test_validate_planted_defect(capsys, plan_gpkg, tmp_path):
    bad, gone = _plan_with_defect(plan_gpkg, tmp_path)
    js = tmp_path / "rep.json"
    code = main(["validate", str(bad), "--json", str(js)])
    cap = capsys.readouterr()
    assert code == 1
    assert "[error] gap" in cap.out
    assert "household_unassigned" in cap.out
    rep = json.loads(js.read_text(encoding="utf-8"))
    assert rep["ok"] is False
    assert any(v["check"] == "gap" and v["figure"] > 29_000 for v in rep["violations"])


def test_validate_separate_layers(capsys, plan_gpkg):
    layers = ["validate", *_plan_layers(plan_gpkg)]
    code = main([*layers, "--assignment-col", "grid_id"])
    assert code == 0
    code = main([*layers, "--max-persons", "220"])
    cap = capsys.readouterr()
    assert code == 1
    assert "persons_out_of_bounds" in cap.out


def test_validate_bad_input(capsys, tmp_path, plan_gpkg):
    code = main(["validate", str(tmp_path / "nope.gpkg")])
    cap = capsys.readouterr()
    assert code == 2
    assert "plan file not found" in cap.err
    _no_traceback(cap)
    code = main(["validate", "--grids", f"{plan_gpkg}#grids"])
    cap = capsys.readouterr()
    assert code == 2
    assert "--households" in cap.err
    code = main(["validate", str(plan_gpkg), "--grid-id-col", "zone"])
    cap = capsys.readouterr()
    assert code == 2
    assert "no column 'zone'" in cap.err
    _no_traceback(cap)


# ---------------------------------------------------------------- bounds recorded in a plan


def _with_bound(plan_gpkg, tmp_path, value, name):
    """A copy of the plan whose boundary layer records ``min_persons=value``."""
    import shutil

    f = tmp_path / f"bad_{name}.gpkg"
    shutil.copy(plan_gpkg, f)
    b = gpd.read_file(f, layer="boundary")
    b["min_persons"] = b["min_persons"].astype(object)
    b.loc[0, "min_persons"] = value
    b.to_file(f, layer="boundary", driver="GPKG", engine="pyogrio")
    return f


@pytest.mark.parametrize(
    "value, name, shown", [("二百", "zh", "'二百'"), ("abc", "abc", "'abc'"), (None, "null", "is empty")]
)
def test_plan_with_bad_recorded_bound_exit_2(capsys, tmp_path, plan_gpkg, value, name, shown):
    f = _with_bound(plan_gpkg, tmp_path, value, name)
    for argv in (
        ["validate", str(f)],
        ["repartition", str(f), "--households", f"{plan_gpkg}#households", "--out", str(tmp_path / "n.gpkg")],
    ):
        capsys.readouterr()
        assert main(argv) == 2, argv[0]
        cap = capsys.readouterr()
        _no_traceback(cap)
        assert "'min_persons'" in cap.err and shown in cap.err and "--min-persons" in cap.err
    # the flag is the way out
    assert main(["validate", str(f), "--min-persons", "200"]) == 0
    assert (
        main(
            [
                "repartition",
                str(f),
                "--households",
                f"{plan_gpkg}#households",
                "--min-persons",
                "200",
                "--out",
                str(tmp_path / "n.gpkg"),
            ]
        )
        == 0
    )


# ---------------------------------------------------------------- households given, dropped, kept


def test_drop_summary_names_given_and_dropped(capsys, tmp_path):
    hh, bnd, roads = block_village()
    hh.loc[[3, 7], "geometry"] = [shapely.Point(X0 - 10, Y0 + 50), shapely.Point(X0 + 350, Y0 + 50)]
    p = tmp_path / "o.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    roads.to_file(p, layer="barriers", engine="pyogrio")
    assert main(["partition", str(p), "--outside", "drop", "--out", str(tmp_path / "b.gpkg")]) == 0
    out = capsys.readouterr().out
    assert "225 households given, 2 dropped outside the boundary (ids 'h003', 'h007'), 223 in the plan" in out
    assert main(["partition", str(p), "--outside", "snap", "--out", str(tmp_path / "c.gpkg")]) == 0
    assert "225 households given, 2 moved inside from outside the boundary" in capsys.readouterr().out


# ---------------------------------------------------------------- nothing replaced without --overwrite


def _refused(capsys, argv, what="exists"):
    capsys.readouterr()
    assert main(argv) == 2, argv
    cap = capsys.readouterr()
    _no_traceback(cap)
    assert what in cap.err
    return cap.err


def test_report_json_not_replaced(capsys, tmp_path, village_gpkg, plan_gpkg):
    report = tmp_path / "keep.json"
    report.write_text("mine")
    _refused(capsys, ["partition", str(village_gpkg), "--out", str(tmp_path / "new.gpkg"), "--report", str(report)])
    assert not (tmp_path / "new.gpkg").exists()  # refused before any work
    _refused(capsys, ["validate", str(plan_gpkg), "--json", str(report)])
    assert report.read_text() == "mine"
    assert main(["validate", str(plan_gpkg), "--json", str(report), "--overwrite"]) == 0
    assert json.loads(report.read_text(encoding="utf-8"))["ok"] is True


def test_ledger_not_replaced(capsys, tmp_path, plan_gpkg):
    pytest.importorskip("openpyxl")
    xlsx = tmp_path / "l.xlsx"
    xlsx.write_text("mine")
    _refused(capsys, ["ledger", str(plan_gpkg), "--out", str(xlsx)])
    assert xlsx.read_text() == "mine"
    folder = tmp_path / "rosters"
    folder.mkdir()
    assert main(["ledger", str(plan_gpkg), "--out", str(folder)]) == 0  # an empty folder replaces nothing
    (folder / "mine.txt").write_text("mine")
    _refused(capsys, ["ledger", str(plan_gpkg), "--out", str(folder)])
    assert (folder / "mine.txt").read_text() == "mine"
    assert main(["ledger", str(plan_gpkg), "--out", str(folder), "--overwrite"]) == 0
    assert (folder / "ledger.csv").exists() and not (folder / "mine.txt").exists()
    assert main(["ledger", str(plan_gpkg), "--out", str(xlsx), "--overwrite"]) == 0
    assert xlsx.read_bytes()[:2] == b"PK"


def test_repair_out_must_be_gpkg(capsys, tmp_path, plan_gpkg):
    err = _refused(capsys, ["repair", str(plan_gpkg), "--out", str(tmp_path / "x.shp")], what="NAME.gpkg")
    assert "x.shp" in err
    assert not list(tmp_path.glob("x.*"))


def test_out_is_an_input_refused_even_with_overwrite(capsys, tmp_path):
    hh, bnd, roads, marks = microgrid.samples.make_village(n_households=300, seed=1)
    v = tmp_path / "v.gpkg"
    for name, g in (("households", hh), ("boundary", bnd), ("barriers", roads), ("landmarks", marks)):
        g.to_file(v, layer=name, engine="pyogrio")
    before = v.read_bytes()
    for out in (v, tmp_path / "v", tmp_path / "." / "v.gpkg"):
        err = _refused(capsys, ["partition", str(v), "--out", str(out), "--overwrite"], what="is one of the inputs")
        assert "--out" in err
    assert v.read_bytes() == before and "landmarks" in layers(v)
    plan = tmp_path / "plan.gpkg"
    assert main(["partition", str(v), "--out", str(plan)]) == 0
    _refused(
        capsys,
        ["repartition", str(plan), "--households", f"{v}#households", "--out", str(plan), "--overwrite"],
        what="is one of the inputs",
    )
    _refused(capsys, ["repair", str(plan), "--out", str(plan), "--overwrite"], what="is one of the inputs")
    _refused(capsys, ["validate", str(plan), "--json", str(plan), "--overwrite"], what="is one of the inputs")


def test_staff_csv_not_replaced(capsys, tmp_path, plan_gpkg):
    people = gpd.GeoDataFrame(
        {"person_id": ["p1"], "role": ["leader"]}, geometry=[shapely.Point(X0 + 50, Y0 + 50)], crs="EPSG:32650"
    )
    pf = tmp_path / "people.gpkg"
    people.to_file(pf, engine="pyogrio")
    csv = tmp_path / "teams.csv"
    csv.write_text("mine")
    _refused(capsys, ["staff", str(plan_gpkg), "--people", str(pf), "--out", str(csv)])
    assert csv.read_text() == "mine"


# ---------------------------------------------------------------- our bugs are ours


def test_internal_error_exit_3_not_blamed_on_input(capsys, tmp_path, village_gpkg, monkeypatch):
    import sys

    from microgrid.errors import InternalError

    def broken(*a, **k):
        raise InternalError("grid 3 is not contiguous after assembly")

    monkeypatch.setattr(sys.modules["microgrid.partition"], "partition", broken)
    assert main(["partition", str(village_gpkg), "--out", str(tmp_path / "p.gpkg")]) == 3
    cap = capsys.readouterr()
    _no_traceback(cap)
    assert cap.err.startswith("internal error") and "not a problem with your input" in cap.err
    assert "grid 3 is not contiguous" in cap.err


# ---------------------------------------------------------------- learning from --help


def _subparsers():
    from microgrid.cli import _build_parser

    ap = _build_parser()
    sub = next(a for a in ap._actions if a.__class__.__name__ == "_SubParsersAction")
    return ap, sub.choices


def test_every_option_has_help_default_and_examples():
    import argparse

    ap, subs = _subparsers()
    assert "Examples" in ap.format_help()
    for name, p in subs.items():
        text = p.format_help()
        assert "Examples:" in text, name
        assert text.count("\n  microgrid ") >= 2, name
        flat = " ".join(text.split())
        for act in p._actions:
            if isinstance(act, argparse._HelpAction):
                continue
            where = f"{name} {'/'.join(act.option_strings) or act.dest}"
            assert act.help and act.help.strip(), f"{where} has no help"
            if act.option_strings and act.default not in (None, False, argparse.SUPPRESS):
                assert f"default: {act.default}" in flat or f"default {act.default}" in flat, (
                    f"{where} does not show its default {act.default!r}"
                )


def test_verbose_and_quiet_after_the_subcommand(capsys, tmp_path, village_gpkg):
    ap, _ = _subparsers()
    assert ap.parse_args(["partition", "x.gpkg", "--out", "y.gpkg", "-vv"]).verbose == 2
    assert ap.parse_args(["-v", "partition", "x.gpkg", "--out", "y.gpkg"]).verbose == 1
    assert ap.parse_args(["validate", "p.gpkg", "-q"]).quiet is True
    assert ap.parse_args(["validate", "p.gpkg"]).verbose == 0
    assert main(["partition", str(village_gpkg), "--out", str(tmp_path / "p.gpkg"), "-q"]) == 0


def test_outside_takes_the_same_values_everywhere(capsys, tmp_path):
    _, subs = _subparsers()
    choices = {
        n: next(a.choices for a in subs[n]._actions if a.dest == "outside") for n in ("partition", "partition-many")
    }
    assert set(choices["partition"]) == set(choices["partition-many"]) == {"error", "drop", "snap", "nearest"}
    hh, bnd, roads = block_village()
    hh.loc[[3], "geometry"] = [shapely.Point(X0 - 10, Y0 + 50)]
    p = tmp_path / "o.gpkg"
    hh.to_file(p, layer="households", engine="pyogrio")
    bnd.to_file(p, layer="boundary", engine="pyogrio")
    assert main(["partition", str(p), "--outside", "nearest", "--out", str(tmp_path / "b.gpkg")]) == 0
    assert len(gpd.read_file(tmp_path / "b.gpkg", layer="households")) == 225


def test_validate_listing_capped_at_20(capsys, tmp_path):
    plan = tmp_path / "plan.gpkg"
    microgrid.partition(
        *microgrid.samples.make_village(n_households=300, seed=1), min_persons=20, max_persons=40
    ).to_file(plan)
    js = tmp_path / "r.json"
    assert main(["validate", str(plan), "--max-persons", "10", "--min-persons", "1", "--json", str(js)]) == 1
    out = capsys.readouterr().out
    n = len(json.loads(js.read_text(encoding="utf-8"))["violations"])
    assert n > 20
    assert out.count("  [error]") + out.count("  [warning]") == 20
    assert f"... and {n - 20} more; all of them in {js}" in out


def test_validate_gap_located_in_the_input_crs(capsys, tmp_path, plan_gpkg):
    bad, _ = _plan_with_defect(plan_gpkg, tmp_path)
    ll = tmp_path / "ll.gpkg"
    for name in ("grids", "households", "boundary"):
        gpd.read_file(bad, layer=name).to_crs(4326).to_file(ll, layer=name, engine="pyogrio")
    assert main(["validate", str(ll)]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "[error] gap" in x)
    x, y = (float(v) for v in line.split(" at (")[1].split(")")[0].split(", "))
    assert 116 < x < 118 and 39 < y < 41, line


def test_validate_uses_a_grid_id_column_by_default(capsys, tmp_path, plan_gpkg):
    args = ["validate", *_plan_layers(plan_gpkg)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "auditing by the households' column 'grid_id'" in out
    assert "audit: households by their column 'grid_id'" in out
    js = tmp_path / "r.json"
    assert main(args + ["--json", str(js)]) == 0
    assert "audit: households by their column 'grid_id'" in json.loads(js.read_text(encoding="utf-8"))["notes"]
    capsys.readouterr()
    assert main(args + ["--assignment-col", ""]) == 0
    out = capsys.readouterr().out
    assert "audit: households by location" in out and "auditing by" not in out


def test_cli_docs_show_every_subcommand_help():
    """docs/cli.md is the parser's own --help (docs/hooks/cli_help.py): each subcommand has its marker."""
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    _, subs = _subparsers()
    missing = [n for n in subs if f"<!-- microgrid-help {n} -->" not in text]
    assert not missing, f"docs/cli.md lacks <!-- microgrid-help CMD --> for {missing}"


def test_repair_of_separate_layers_updates_the_households_grid_column(tmp_path, capsys):
    """repair audits by the column validate would use, so the repaired file carries no stale grid id."""
    import microgrid as mg

    plan = mg.partition(*mg.samples.make_village(400, seed=3))
    src = tmp_path / "drawn.gpkg"
    grids = plan.grids.rename(columns={"grid_id": "precinct"})[["precinct", "geometry"]]
    grids.loc[grids.index[0], "geometry"] = grids.geometry.iloc[0].buffer(-15)  # drawn short: a gap
    write_layers(
        src,
        grids=grids,
        households=plan.households[["household_id", "persons", "grid_id", "geometry"]],
        boundary=plan.boundary,
    )
    out = tmp_path / "fixed.gpkg"
    code = main(["repair", *_plan_layers(src), "--grid-id-col", "precinct", "--out", str(out)])
    assert code in (0, 1)
    assert "column 'grid_id'" in capsys.readouterr().out
    rep = mg.validate(
        f"{out}#grids",
        f"{out}#households",
        f"{out}#boundary",
        grid_id_col="precinct",
        assignment_col="grid_id",
        min_persons=0,
        max_persons=10**9,
    )
    assert not {"household_unknown_grid", "household_outside_its_grid", "household_unassigned"} & set(rep.checks)
    assert rep.metrics["households_out"] == len(plan.households)
