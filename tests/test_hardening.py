"""Hardening: every bad input gets a clear answer through the library, the CLI and the service.

Each case ends in a valid plan or in a MicrogridError subclass whose message
names the problem (and the ids where there are any). The CLI exits 2 or 3
without a traceback; the service answers 422 problem+json.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import warnings
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
from microgrid.errors import InfeasibleError, InputError, InternalError, MicrogridError

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "village.gpkg"


@pytest.fixture(scope="module")
def village():
    return microgrid.samples.make_village(400, seed=2)


def _replace(gdf, rows, geoms):
    out = gdf.copy()
    g = out.geometry.to_numpy().copy()
    g[rows] = geoms
    return out.set_geometry(gpd.GeoSeries(g, crs=out.crs, index=out.index))


def _case_inputs(name, hh, bnd, bars):
    """(households, boundary, barriers, kwargs) of a named case."""
    B = bnd.geometry.iloc[0]
    x0, y0, x1, y1 = B.bounds
    kw = {}
    if name == "empty households":
        hh = hh.iloc[:0]
    elif name == "empty boundary":
        bnd = bnd.iloc[:0]
    elif name == "empty barriers":
        bars = bars.iloc[:0]
    elif name == "one household":
        hh = hh.iloc[:1]
    elif name == "one household of 250":
        hh = hh.iloc[:1].assign(persons=250)
    elif name == "all households at one point":
        hh = _replace(hh, slice(None), shapely.Point(B.representative_point()))
    elif name == "NaN coordinates":
        hh = _replace(hh, slice(0, 3), shapely.Point(np.nan, np.nan))
    elif name == "infinite coordinates":
        hh = _replace(hh, slice(0, 2), shapely.Point(np.inf, 3.0))
    elif name == "3D coordinates":
        hh = hh.set_geometry(gpd.GeoSeries(shapely.force_3d(hh.geometry.values, 7.0), crs=hh.crs, index=hh.index))
        bnd = bnd.set_geometry(gpd.GeoSeries(shapely.force_3d(bnd.geometry.values, 7.0), crs=bnd.crs))
    elif name == "households as polygons":
        hh = hh.set_geometry(hh.buffer(3))
    elif name == "self-intersecting boundary":
        bnd = gpd.GeoDataFrame(geometry=[shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])], crs=bnd.crs)
    elif name == "zero-area boundary":
        bnd = gpd.GeoDataFrame(geometry=[shapely.Polygon([(x0, y0), (x1, y1), (x0, y0)])], crs=bnd.crs)
    elif name == "boundary as lines":
        bnd = gpd.GeoDataFrame(geometry=[shapely.LineString(B.exterior.coords)], crs=bnd.crs)
    elif name == "multipolygon boundary with exclave and hole":
        ex = shapely.box(x1 + 100, y0, x1 + 400, y0 + 300)
        holed = B.difference(shapely.Point(B.representative_point()).buffer(15))
        bnd = gpd.GeoDataFrame(geometry=[shapely.MultiPolygon([holed, ex])], crs=bnd.crs)
        kw["outside"] = "drop"
    elif name == "barriers all outside":
        bars = bars.set_geometry(bars.translate(50_000, 0))
    elif name == "barriers duplicated":
        bars = pd.concat([bars, bars], ignore_index=True)
    elif name == "zero-length barriers":
        bars = _replace(bars, slice(0, 2), shapely.LineString([(x0 + 10, y0 + 10), (x0 + 10, y0 + 10)]))
    elif name == "closed-ring barrier":
        ring = gpd.GeoDataFrame({"kind": ["wall"]}, geometry=[B.centroid.buffer(80).exterior], crs=bnd.crs)
        bars = pd.concat([bars, ring], ignore_index=True)
    elif name == "households exactly on a barrier":
        inside = B.intersection(bars.geometry.iloc[0])
        hh = _replace(hh, slice(0, 15), [inside.interpolate(float(i) / 15, normalized=True) for i in range(15)])
    elif name == "households exactly on the boundary":
        hh = _replace(hh, slice(0, 10), [B.exterior.interpolate(13.0 * i) for i in range(10)])
    elif name == "boundary in another CRS":
        bnd = bnd.to_crs(4326)
    elif name == "missing CRS everywhere":
        hh, bnd, bars = (g.set_crs(None, allow_override=True) for g in (hh, bnd, bars))
    elif name == "persons as digit strings":
        hh = hh.assign(persons=hh["persons"].astype(str))
    elif name == "persons as words":
        hh = hh.assign(persons=hh["persons"].astype(str))
        hh.loc[hh.index[:3], "persons"] = "three"
    elif name == "persons as fractions":
        hh = hh.assign(persons=hh["persons"] + 0.5)
    elif name == "negative persons":
        hh = hh.copy()
        hh.loc[hh.index[:2], "persons"] = -3
    elif name == "huge persons":
        hh = hh.copy()
        hh.loc[hh.index[:1], "persons"] = 10**12
    elif name == "min > max":
        kw = {"min_persons": 300, "max_persons": 200}
    elif name == "min = 0":
        kw = {"min_persons": 0}
    elif name == "too many grids":
        kw = {"n_grids": 500}
    elif name == "too few grids":
        kw = {"n_grids": 1}
    elif name == "negative seed":
        kw = {"seed": -1}
    else:  # pragma: no cover
        raise KeyError(name)
    return hh, bnd, bars, kw


# name: ("plan",) or (error type, words the message must hold, the case's ids the message must name)
CASES = {
    "empty households": (InputError, ["households", "empty"], []),
    "empty boundary": (InputError, ["boundary", "empty"], []),
    "empty barriers": ("plan",),
    "one household": (InfeasibleError, ["fewer than min_persons"], []),
    "one household of 250": ("plan",),
    "all households at one point": ("plan",),  # one building on one point: divided by household, in bounds
    "NaN coordinates": (InputError, ["NaN or infinite"], ["H001", "H002", "H003"]),
    "infinite coordinates": (InputError, ["NaN or infinite"], ["H001", "H002"]),
    "3D coordinates": ("plan",),
    "households as polygons": (InputError, ["must be points", "centroids"], ["H001"]),
    "self-intersecting boundary": (InputError, ["outside the boundary"], []),
    "zero-area boundary": (InputError, ["zero area"], []),
    "boundary as lines": (InputError, ["Polygon", "polygonize"], []),
    "multipolygon boundary with exclave and hole": ("plan",),
    "barriers all outside": ("plan",),
    "barriers duplicated": ("plan",),
    "zero-length barriers": ("plan",),
    "closed-ring barrier": ("plan",),
    "households exactly on a barrier": ("plan",),
    "households exactly on the boundary": ("plan",),
    "boundary in another CRS": ("plan",),
    "missing CRS everywhere": (InputError, ["no CRS", "--crs"], []),
    "persons as digit strings": ("plan",),
    "persons as words": (InputError, ["not a number"], ["H001", "H002", "H003"]),
    "persons as fractions": (InputError, ["whole number"], ["H001"]),
    "negative persons": (InputError, ["negative"], ["H001", "H002"]),
    "huge persons": (InputError, ["implausibly large"], ["H001"]),
    "min > max": (InputError, ["greater than max_persons", "swap"], []),
    "min = 0": ("plan",),
    "too many grids": (InfeasibleError, ["n_grids=500", "must lie in"], []),
    "too few grids": (InfeasibleError, ["n_grids=1", "must lie in"], []),
    "negative seed": (InputError, ["seed"], []),
}


def _check_plan(plan, hh_in):
    rep = plan.report
    assert rep.metrics["coverage_valid"], rep.summary()
    assert rep.metrics["households_in"] == rep.metrics["households_out"]
    assert rep.metrics["persons_in"] == rep.metrics["persons_out"]
    assert plan.households["household_id"].is_unique
    dropped = [n for n in rep.notes if "were dropped" in n]
    if dropped:  # outside="drop": fewer out than in, and the note says how many
        assert len(plan.households) + int(dropped[0].split()[0]) == len(hh_in)
    else:
        assert len(plan.households) == len(hh_in)
    assert rep.ok or plan.grids["flagged"].any(), rep.summary()


def _expect(case, run):
    exp = CASES[case]
    if exp[0] == "plan":
        return run()
    with pytest.raises(MicrogridError) as ei:
        run()
    err = ei.value
    assert type(err) is exp[0], f"{type(err).__name__}: {err}"
    for word in exp[1]:
        assert word in str(err), str(err)
    for i in exp[2]:
        assert i in str(err) or i in getattr(err, "ids", []), str(err)
    return err


@pytest.mark.parametrize("case", list(CASES))
def test_library(case, village):
    hh, bnd, bars, kw = _case_inputs(case, *village[:3])
    plan = _expect(case, lambda: microgrid.partition(hh, bnd, bars, **kw))
    if CASES[case][0] == "plan":
        _check_plan(plan, hh)


_CLI_FLAGS = {
    "min_persons": "--min-persons",
    "max_persons": "--max-persons",
    "n_grids": "--n-grids",
    "seed": "--seed",
    "outside": "--outside",
}


def _write_layers(tmp_path, hh, bnd, bars):
    paths = []
    for name, g in (("households", hh), ("boundary", bnd), ("barriers", bars)):
        p = tmp_path / f"{name}.gpkg"
        with warnings.catch_warnings():  # writing a layer without a CRS warns: that is the case under test
            warnings.simplefilter("ignore", UserWarning)
            g.to_file(p, layer=name, driver="GPKG", engine="pyogrio")
        paths.append(str(p))
    return paths


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c not in ("empty households", "empty boundary", "NaN coordinates", "infinite coordinates")],
)
def test_cli(case, village, tmp_path, capsys):
    hh, bnd, bars, kw = _case_inputs(case, *village[:3])
    h, b, r = _write_layers(tmp_path, hh, bnd, bars)
    args = ["partition", "--households", h, "--boundary", b, "--barriers", r, "--out", str(tmp_path / "plan.gpkg")]
    for k, v in kw.items():
        args += [_CLI_FLAGS[k], str(v)]
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    exp = CASES[case]
    if exp[0] == "plan":
        assert code == 0, err
        assert (tmp_path / "plan.gpkg").exists()
    else:
        assert code == (3 if exp[0] is InfeasibleError else 2), err
        for word in exp[1]:
            assert word in err
        assert not (tmp_path / "plan.gpkg").exists()


@pytest.mark.parametrize(
    "case",
    [
        c
        for c in CASES
        if c not in ("missing CRS everywhere", "NaN coordinates", "infinite coordinates", "boundary in another CRS")
    ],
)
def test_service_jobs(case, village):
    """The service's job code (what runs in its worker processes), fed GeoJSON as a client would send it."""
    pytest.importorskip("fastapi")
    from microgrid.io.geojson import to_feature_collection
    from microgrid.service import run_job

    hh, bnd, bars, kw = _case_inputs(case, *village[:3])
    body = {
        "households": to_feature_collection(hh),
        "boundary": to_feature_collection(bnd),
        "barriers": to_feature_collection(bars),
        **kw,
    }
    status, result = run_job("partition", body)
    exp = CASES[case]
    if exp[0] == "plan":
        assert status == "ok", result
        assert result["report"]["ok"] or any(f["properties"]["flagged"] for f in result["grids"]["features"])
    else:
        assert status == "error" and result["status"] == 422, result
        for word in exp[1]:
            assert word in result["detail"], result["detail"]


@pytest.mark.parametrize(
    "payload,words",
    [
        (b"", ["cannot read"]),
        (b"this is not geodata at all\n" * 50, ["cannot read"]),
        ("truncated", ["cannot read", "complete GeoPackage"]),
    ],
)
def test_unreadable_files(payload, words, tmp_path, capsys):
    target = tmp_path / "village.gpkg"
    if payload == "truncated":
        data = SAMPLE.read_bytes()
        target.write_bytes(data[: len(data) // 3])
    else:
        target.write_bytes(payload)
    with pytest.raises(InputError) as ei:
        microgrid.partition(f"{target}#households", f"{target}#boundary")
    for w in words:
        assert w in str(ei.value)
    assert main(["partition", str(target), "--out", str(tmp_path / "plan.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "cannot read" in err


def test_missing_file_and_layer(tmp_path, capsys):
    assert main(["partition", str(tmp_path / "nope.gpkg"), "--out", str(tmp_path / "p.gpkg")]) == 2
    assert "not found" in capsys.readouterr().err
    with pytest.raises(InputError, match="no layer 'no_such_layer'; its layers are"):
        microgrid.partition(f"{SAMPLE}#no_such_layer", f"{SAMPLE}#boundary")


# ---------------------------------------------------------------- property-based corruption


_BAD_PERSONS = st.sampled_from(["x", "", None, np.nan, -1, 2.5, 10**13, "7"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.integers(0, 399), min_size=1, max_size=6, unique=True),
    value=_BAD_PERSONS,
    coord=st.sampled_from([None, "nan", "far", "inf"]),
)
def test_corrupted_households_never_crash(village, rows, value, coord):
    hh, bnd, bars, _ = village
    hh = hh.copy()
    hh["persons"] = hh["persons"].astype(object)
    for r in rows:
        hh.at[hh.index[r], "persons"] = value
    if coord is not None:
        pt = {"nan": shapely.Point(np.nan, 0), "far": shapely.Point(0, 0), "inf": shapely.Point(0, np.inf)}[coord]
        hh = _replace(hh, rows[:1], pt)
    ids = set(hh["household_id"].iloc[rows])
    try:
        plan = microgrid.partition(hh, bnd, bars)
    except InternalError:  # a wrong plan must never pass as right, but this would be a bug
        raise
    except MicrogridError as exc:
        assert any(i in str(exc) for i in ids) or isinstance(exc, InfeasibleError), str(exc)
        return
    # accepted: only clean or convertible values (e.g. "7") remain, and nothing was lost
    assert value == "7" and coord is None
    _check_plan(plan, hh)
    assert len(plan.households) == len(hh)


# ---------------------------------------------------------------- invariants of the other entry points


def test_repartition_and_repair_keep_every_household(village):
    hh, bnd, bars, _ = village
    plan = microgrid.partition(hh, bnd, bars)
    more = pd.concat([hh, hh.iloc[:40].assign(household_id=[f"N{i}" for i in range(40)])], ignore_index=True)
    new, changes = microgrid.repartition(plan, more)
    assert sorted(new.households["household_id"]) == sorted(more["household_id"])
    assert new.grids["persons"].sum() == more["persons"].sum()
    assert new.report.metrics["coverage_valid"]
    # repair a damaged copy: every household stays, none is invented
    grids = plan.grids.copy()
    g = grids.geometry.to_numpy().copy()
    g[0] = g[0].buffer(-5)
    grids = grids.set_geometry(gpd.GeoSeries(g, crs=grids.crs, index=grids.index))
    res = microgrid.repair(grids, bnd, plan.households, assignment_col="grid_id")
    assert sorted(res.households["household_id"]) == sorted(hh["household_id"])
    assert res.report.metrics["coverage_valid"]


# ---------------------------------------------------------------- atomic writes


def _digest(path: Path) -> str:
    _plan = microgrid.read_plan(path)
    grids, hh = _plan.grids, _plan.households
    h = hashlib.sha256()
    for w in shapely.to_wkb(grids.normalize().geometry.values):
        h.update(w)
    h.update(pd.util.hash_pandas_object(hh[["household_id", "grid_id"]], index=False).values.tobytes())
    return h.hexdigest()


def _kill_during_write(args, target: Path) -> bool:
    """Start the CLI and SIGKILL it as soon as its temporary output appears; True if caught mid-write."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "microgrid", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    prefix = f".{target.name}."
    caught = False
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if any(n.startswith(prefix) for n in os.listdir(target.parent)):
                os.kill(proc.pid, signal.SIGKILL)
                caught = True
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return caught


def test_killed_mid_write_leaves_no_partial_plan(tmp_path):
    target = tmp_path / "plan.gpkg"
    args = ["partition", str(SAMPLE), "--out", str(target)]
    assert _kill_during_write(args, target), "the run ended before its temporary output appeared"
    assert not target.exists()
    # a previous plan survives a killed --overwrite run unchanged
    assert main(args) == 0
    before = _digest(target)
    caught = _kill_during_write([*args, "--overwrite", "--seed", "7"], target)
    assert caught
    assert _digest(target) == before
    # and without --overwrite it is never replaced
    assert main([*args, "--seed", "7"]) == 2
    assert _digest(target) == before


# ---------------------------------------------------------------- determinism across processes

_DIGEST_SCRIPT = r"""
import hashlib, sys
import microgrid, shapely
plan = microgrid.partition(sys.argv[1] + "#households", sys.argv[1] + "#boundary",
                           barriers=sys.argv[1] + "#barriers", landmarks=sys.argv[1] + "#landmarks", seed=3)
h = hashlib.sha256()
for w in shapely.to_wkb(plan.grids.geometry.values):
    h.update(w)
h.update(repr(plan.grids.drop(columns="geometry").to_dict("list")).encode())
h.update(repr(sorted(zip(plan.households["household_id"], plan.households["grid_id"]))).encode())
print(h.hexdigest())
"""


def test_same_plan_in_processes_with_different_hash_seeds():
    digests = []
    for hs in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hs}
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT, str(SAMPLE)], env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-2000:]
        digests.append(out.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


def test_repartition_bad_households_are_input_errors(village):
    hh, bnd, bars, _ = village
    plan = microgrid.partition(hh, bnd, bars)
    bad = hh.copy()
    bad["persons"] = bad["persons"].astype(object)
    bad.loc[bad.index[:2], "persons"] = "many"
    with pytest.raises(InputError, match="not a number") as ei:
        microgrid.repartition(plan, bad)
    assert "H001" in str(ei.value) and "H002" in str(ei.value)
    far = _replace(hh, slice(0, 1), shapely.Point(0, 0))
    with pytest.raises(InputError, match="H001"):
        microgrid.repartition(plan, far)


def test_a_wrong_result_raises_internal_error(village, monkeypatch):
    """If a bug ever loses a household, the end-of-run check stops it."""
    rp = sys.modules["microgrid.repartition"]  # the module, not the function of the same name

    hh, bnd, bars, _ = village
    plan = microgrid.partition(hh, bnd, bars)
    real = rp.validate

    def lossy(grids, households, *a, **k):
        return real(grids, households.iloc[1:], *a, **k)

    monkeypatch.setattr(rp, "validate", lossy)
    more = pd.concat([hh, hh.iloc[:30].assign(household_id=[f"N{i}" for i in range(30)])], ignore_index=True)
    with pytest.raises(InternalError, match="households in"):
        microgrid.repartition(plan, more)
