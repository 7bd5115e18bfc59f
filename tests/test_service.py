"""The HTTP service, through a real HTTP client against ``microgrid serve`` on localhost."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from conftest import start_server, stop_server
from microgrid.io.geojson import read_feature_collection, to_feature_collection

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server():
    proc, url = start_server("--jobs", "2", "--max-body-mb", "2", "--timeout", "120")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def village():
    hh, bnd, bars, lms = microgrid.samples.make_village(500, seed=3)
    return {
        "households": to_feature_collection(hh),
        "boundary": to_feature_collection(bnd),
        "barriers": to_feature_collection(bars),
        "landmarks": to_feature_collection(lms),
    }, (hh, bnd, bars, lms)


@pytest.fixture(scope="module")
def partitioned(server, village):
    body, _ = village
    r = httpx.post(server + "/v1/partition", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def _is_problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("urn:microgrid")
    return body


def test_healthz_and_openapi(server):
    h = httpx.get(server + "/healthz").json()
    assert h["status"] == "ok" and h["version"] == microgrid.__version__ and h["max_jobs"] == 2
    spec = httpx.get(server + "/openapi.json").json()
    assert {"/v1/partition", "/v1/validate", "/v1/repartition", "/v1/locate", "/healthz"} <= set(spec["paths"])
    assert "422" in spec["paths"]["/v1/partition"]["post"]["responses"]


def test_partition_round_trip(partitioned, village):
    _, (hh, bnd, bars, lms) = village
    grids = read_feature_collection(partitioned["grids"], what="grids")
    out_hh = read_feature_collection(partitioned["households"], what="households")
    assert partitioned["report"]["ok"] is True
    # GeoJSON answers are WGS84 longitude/latitude (RFC 7946) and carry no crs member
    assert "crs" not in partitioned["grids"]
    minx, miny, maxx, maxy = grids.total_bounds
    assert 100 < minx < maxx < 130 and 0 < miny < maxy < 60
    # every household once, persons in = out, every grid within bounds
    assert sorted(out_hh["household_id"]) == sorted(hh["household_id"])
    assert out_hh["persons"].sum() == hh["persons"].sum() == grids["persons"].sum()
    assert set(out_hh["grid_id"]) == set(grids["grid_id"])
    assert grids["persons"].between(200, 300).all()
    # the same as the library gives for the same WGS84 inputs
    wgs = [g.to_crs(4326) for g in (hh, bnd, bars, lms)]
    plan = microgrid.partition(*wgs)
    assert len(plan.grids) == len(grids)
    a = dict(zip(plan.households["household_id"], plan.households["grid_id"]))
    b = dict(zip(out_hh["household_id"], out_hh["grid_id"]))
    assert a == b
    # coverage of the boundary, checked here independently of the report
    union = shapely.union_all(grids.to_crs(32650).geometry.values)
    assert abs(union.area - bnd.to_crs(32650).geometry.iloc[0].area) < 1.0


def test_partition_in_a_named_crs(server, village):
    _, (hh, bnd, bars, lms) = village
    body = {
        "households": to_feature_collection(hh, crs=hh.crs),
        "boundary": to_feature_collection(bnd, crs=hh.crs),
        "barriers": to_feature_collection(bars, crs=hh.crs),
        "crs": "EPSG:32650",
    }
    r = httpx.post(server + "/v1/partition", json=body, timeout=120)
    assert r.status_code == 200, r.text
    fc = r.json()["grids"]
    assert "32650" in json.dumps(fc["crs"])
    grids = read_feature_collection(fc, what="grids", crs="EPSG:32650")
    assert grids.total_bounds[0] > 100_000  # metres, not degrees
    assert abs(grids.union_all().area - bnd.geometry.iloc[0].area) < 1.0


def test_validate_finds_a_removed_grid(server, village, partitioned):
    body, _ = village
    ok = httpx.post(
        server + "/v1/validate",
        json={
            "grids": partitioned["grids"],
            "households": partitioned["households"],
            "boundary": body["boundary"],
            "barriers": body["barriers"],
            "assignment_col": "grid_id",
        },
    )
    assert ok.status_code == 200 and ok.json()["report"]["ok"] is True
    grids = dict(partitioned["grids"])
    removed = grids["features"][0]["properties"]["grid_id"]
    grids["features"] = grids["features"][1:]
    bad = httpx.post(
        server + "/v1/validate",
        json={
            "grids": grids,
            "households": partitioned["households"],
            "boundary": body["boundary"],
            "assignment_col": "grid_id",
        },
    )
    rep = bad.json()["report"]
    assert bad.status_code == 200 and rep["ok"] is False
    checks = {v["check"] for v in rep["violations"]}
    assert "gap" in checks
    # the households of the removed grid are named, each one
    lost = {
        f["properties"]["household_id"]
        for f in partitioned["households"]["features"]
        if f["properties"]["grid_id"] == removed
    }
    named = {i for v in rep["violations"] if v["check"] == "household_unknown_grid" for i in v["ids"]}
    assert lost and named == lost


def test_locate_matches_assignment(server, partitioned):
    r = httpx.post(server + "/v1/locate", json={"grids": partitioned["grids"], "points": partitioned["households"]})
    assert r.status_code == 200, r.text
    res = r.json()
    expected = [f["properties"]["grid_id"] for f in partitioned["households"]["features"]]
    assert [row["grid_id"] for row in res["results"]] == expected
    assert res["located"] == len(expected)
    outside = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}}],
    }
    r = httpx.post(server + "/v1/locate", json={"grids": partitioned["grids"], "points": outside})
    assert r.json()["results"][0]["grid_id"] is None and r.json()["located"] == 0
    # found and not found together: ids stay whole numbers, the missing one is null (was a 500: NaN in JSON)
    mixed = {"type": "FeatureCollection", "features": partitioned["households"]["features"][:1] + outside["features"]}
    r = httpx.post(server + "/v1/locate", json={"grids": partitioned["grids"], "points": mixed})
    assert r.status_code == 200, r.text
    assert [row["grid_id"] for row in r.json()["results"]] == [expected[0], None]


def test_repartition_round_trip(server, village, partitioned):
    body, (hh, bnd, bars, _) = village
    same = httpx.post(
        server + "/v1/repartition",
        json={
            "plan": {"grids": partitioned["grids"], "households": partitioned["households"]},
            "households": body["households"],
            "boundary": body["boundary"],
            "barriers": body["barriers"],
        },
        timeout=120,
    )
    assert same.status_code == 200, same.text
    assert same.json()["changes"]["churn"] == 0 and not same.json()["changes"]["grids_changed"]
    # 60 new households of 4 persons in one grid: that grid must change, most households keep their grid
    g = read_feature_collection(partitioned["grids"], what="grids").to_crs(hh.crs)
    target = g.geometry.iloc[0]
    rng = np.random.default_rng(0)
    pts = []
    minx, miny, maxx, maxy = target.bounds
    while len(pts) < 60:
        p = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if target.contains(p):
            pts.append(p)
    new = gpd.GeoDataFrame({"household_id": np.arange(10**6, 10**6 + 60), "persons": 4}, geometry=pts, crs=hh.crs)
    hh2 = gpd.GeoDataFrame(
        gpd.pd.concat([hh[["household_id", "persons", "geometry"]], new], ignore_index=True), crs=hh.crs
    )
    r = httpx.post(
        server + "/v1/repartition",
        json={
            "plan": {"grids": partitioned["grids"], "households": partitioned["households"]},
            "households": to_feature_collection(hh2),
            "boundary": body["boundary"],
            "barriers": body["barriers"],
        },
        timeout=120,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["changes"]["households_added"]) == 60
    assert out["report"]["ok"] is True
    assert out["changes"]["churn"] <= 0.5
    grids = read_feature_collection(out["grids"], what="grids")
    assert grids["persons"].between(200, 300).all()
    assert grids["persons"].sum() == hh2["persons"].sum()


def test_malformed_json_is_400(server):
    r = httpx.post(server + "/v1/partition", content=b'{"households": [', headers={"content-type": "application/json"})
    _is_problem(r, 400)


def test_missing_fields_are_422(server, village):
    body, _ = village
    p = _is_problem(httpx.post(server + "/v1/partition", json={"households": body["households"]}), 422)
    assert "boundary" in p["detail"]
    p = _is_problem(httpx.post(server + "/v1/locate", json={"grids": body["boundary"]}), 422)
    assert "points" in p["detail"]


def test_wrong_geometry_types_are_422(server, village):
    body, (hh, *_rest) = village
    polys = hh.copy()
    polys["geometry"] = polys.buffer(2)
    p = _is_problem(
        httpx.post(server + "/v1/partition", json={**body, "households": to_feature_collection(polys)}), 422
    )
    assert "point" in p["detail"].lower()
    # a boundary given as points
    p = _is_problem(httpx.post(server + "/v1/partition", json={**body, "boundary": body["households"]}), 422)
    assert "boundary" in p["detail"].lower()
    # an unknown geometry type and broken coordinates
    bad = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"household_id": 1, "persons": 3},
                "geometry": {"type": "Circle", "coordinates": [1, 2]},
            }
        ],
    }
    _is_problem(httpx.post(server + "/v1/partition", json={**body, "households": bad}), 422)
    bad["features"][0]["geometry"] = {"type": "Point", "coordinates": ["a", None]}
    p = _is_problem(httpx.post(server + "/v1/partition", json={**body, "households": bad}), 422)
    assert "features[0]" in p["detail"]


def test_bad_parameters_are_422(server, village):
    body, _ = village
    p = _is_problem(httpx.post(server + "/v1/partition", json={**body, "min_persons": 400, "max_persons": 300}), 422)
    assert "min_persons" in p["detail"]
    _is_problem(httpx.post(server + "/v1/partition", json={**body, "seed": -1}), 422)
    _is_problem(httpx.post(server + "/v1/partition", json={**body, "crs": "EPSG:nonsense"}), 422)
    _is_problem(httpx.post(server + "/v1/partition", json={**body, "no_such_option": 1}), 422)


def test_infeasible_is_422_with_cause(server, village):
    body, _ = village
    p = _is_problem(httpx.post(server + "/v1/partition", json={**body, "min_persons": 5000, "max_persons": 6000}), 422)
    assert p["title"] == "Infeasible" and p["cause"]


def test_oversized_bodies_are_413(server):
    big = b'{"households": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    _is_problem(httpx.post(server + "/v1/partition", content=big, headers={"content-type": "application/json"}), 413)

    def chunks():  # no Content-Length: the limit applies to what arrives
        for _ in range(48):
            yield b"x" * 65536

    r = httpx.post(server + "/v1/partition", content=chunks(), headers={"content-type": "application/json"})
    _is_problem(r, 413)


def test_twenty_concurrent_partitions(server, village):
    body, _ = village
    payload = json.dumps(body).encode()

    def call(_):
        return httpx.post(
            server + "/v1/partition", content=payload, headers={"content-type": "application/json"}, timeout=300
        )

    with ThreadPoolExecutor(20) as ex:
        answers = list(ex.map(call, range(20)))
    assert [r.status_code for r in answers] == [200] * 20
    first = answers[0].json()
    for r in answers[1:]:
        d = r.json()
        assert d["households"] == first["households"] and d["report"]["ok"]


def test_time_limit_is_504_and_the_service_goes_on():
    proc, url = start_server("--jobs", "1", "--timeout", "0.3")
    try:
        hh, bnd, bars, _ = microgrid.samples.make_village(3000, seed=5)
        body = {
            "households": to_feature_collection(hh),
            "boundary": to_feature_collection(bnd),
            "barriers": to_feature_collection(bars),
        }
        p = _is_problem(httpx.post(url + "/v1/partition", json=body, timeout=60), 504)
        assert "time limit" in p["detail"]
        assert httpx.get(url + "/healthz").json()["running"] == 0
        small = {"grids": to_feature_collection(bnd.assign(grid_id=1)), "points": to_feature_collection(hh.head(5))}
        assert httpx.post(url + "/v1/locate", json=small, timeout=60).status_code == 200
    finally:
        stop_server(proc)


def test_serve_without_the_extra_is_a_clear_error(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name in ("fastapi", "microgrid.service") or (name == "service" and a and a[2]):
            raise ImportError("No module named 'fastapi'", name="fastapi")
        return real_import(name, *a, **k)

    monkeypatch.delitem(sys.modules, "microgrid.service", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    from microgrid.cli import main

    assert main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "'service' extra" in err and "fastapi" in err


def test_fuzz_from_the_openapi_spec_finds_no_server_error(tmp_path):
    """schemathesis generates requests from /openapi.json (examples, coverage and fuzzing phases)."""
    import shutil
    from pathlib import Path

    beside = Path(sys.executable).with_name("schemathesis")
    st = str(beside) if beside.exists() else shutil.which("schemathesis")
    if st is None:
        pytest.skip("schemathesis is not installed (pip install microgrid[test])")
    proc, url = start_server("--jobs", "2", "--timeout", "60")
    try:
        run = subprocess.run(
            [
                st,
                "run",
                url + "/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--generation-database",
                "none",
                "--request-timeout",
                "90",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        stop_server(proc)
    tail = run.stdout[-3000:]
    assert run.returncode == 0, tail
    assert "passed" in tail and "failed" not in tail.split("Test cases:")[-1], tail


# ------------------------------------------------------------------ hostile inputs (each was a 500, a hang or a silence)


def _raw(url, path, raw: bytes, **kw):
    return httpx.post(url + path, content=raw, headers={"content-type": "application/json"}, timeout=120, **kw)


@pytest.mark.parametrize("depth", [300, 980, 5000])
@pytest.mark.parametrize("where", ["property", "crs"])
def test_deep_nesting_is_400_before_parsing(server, village, depth, where):
    body, _ = village
    deep = "[" * depth + "]" * depth
    if where == "property":
        raw = json.dumps({"points": body["households"], "grids": body["boundary"]}).replace(
            '"properties": {', f'"properties": {{"x": {deep}, ', 1
        )
    else:
        raw = json.dumps({"points": body["households"], "grids": body["boundary"]})[:-1] + f', "crs": {{"a": {deep}}}}}'
    p = _is_problem(_raw(server, "/v1/locate", raw.encode()), 400)
    assert p["type"].endswith("too-deep") and "at most 64" in p["detail"]
    # a body big enough to be parsed in the worker process is refused there alike
    padded = raw[:-1] + f', "pad": "{"x" * 400_000}"}}'
    assert _is_problem(_raw(server, "/v1/locate", padded.encode()), 400)["type"].endswith("too-deep")


def test_brackets_in_strings_do_not_count_as_nesting(server, partitioned):
    points = json.loads(json.dumps(partitioned["households"]))
    points["features"][0]["properties"]["note"] = "[" * 5000 + '\\"{{' + "]" * 10
    r = httpx.post(server + "/v1/locate", json={"grids": partitioned["grids"], "points": points}, timeout=60)
    assert r.status_code == 200, r.text


def test_nan_is_not_json(server, village):
    body, _ = village
    raw = json.dumps({**body, "snap_tolerance": 1.0}).replace("1.0}", "NaN}")
    p = _is_problem(_raw(server, "/v1/partition", raw.encode()), 400)
    assert "NaN" in p["detail"]


LOCAL_CS = 'LOCAL_CS["site",LOCAL_DATUM["d",0],UNIT["metre",1],AXIS["x",EAST],AXIS["y",NORTH]]'


@pytest.mark.parametrize(
    "crs, why",
    [
        ("IAU_2015:30100", "another celestial body"),
        ("IAU_2015:49900", "Mars"),
        ("ESRI:104903", "Moon"),
        (LOCAL_CS, "Engineering"),
        ("EPSG:5714", "Vertical"),
        ("EPSG:4978", "Geocentric"),
        ("garbage", "is not a CRS ("),
        ({"type": "name"}, "properties"),
        ({"type": "name", "properties": {"name": "IAU_2015:30100"}}, "Moon"),
        ({"type": "EPSG", "properties": {"code": 0}}, "is not a CRS ("),
    ],
)
def test_crs_not_on_earth_is_422(server, village, partitioned, crs, why):
    body, _ = village
    for path, req in (
        ("/v1/locate", {"grids": partitioned["grids"], "points": partitioned["households"]}),
        ("/v1/partition", body),
    ):
        p = _is_problem(httpx.post(server + path, json={**req, "crs": crs}, timeout=60), 422)
        assert p["type"].endswith("bad-input") and p["detail"].startswith("crs: ") and why in p["detail"], p
        assert "EPSG:4547" in p["detail"] and "leave crs out" in p["detail"]  # what to give instead


@pytest.mark.parametrize("crs", [True, 12.5, [4326]])
def test_crs_of_the_wrong_type_is_422(server, partitioned, crs):
    p = _is_problem(
        httpx.post(
            server + "/v1/locate", json={"grids": partitioned["grids"], "points": partitioned["households"], "crs": crs}
        ),
        422,
    )
    assert p["detail"].startswith("crs")


def test_coordinates_off_the_earth_are_422(server, partitioned):
    points = json.loads(json.dumps(partitioned["households"]))
    points["features"][1]["geometry"]["coordinates"] = [1e300, 39.9]
    p = _is_problem(httpx.post(server + "/v1/locate", json={"grids": partitioned["grids"], "points": points}), 422)
    assert "features[1]" in p["detail"]


def _without(fc, prop):
    fc = json.loads(json.dumps(fc))
    for f in fc["features"]:
        f["properties"].pop(prop, None)
    return fc


def _with(fc, **props):
    fc = json.loads(json.dumps(fc))
    for f in fc["features"]:
        f["properties"].update(props)
    return fc


def test_repartition_bad_input_is_422(server, village, partitioned):
    body, (hh, bnd, *_rest) = village
    base = {
        "plan": {"grids": partitioned["grids"], "households": partitioned["households"]},
        "households": body["households"],
        "boundary": body["boundary"],
    }

    def post(**change):
        return httpx.post(server + "/v1/repartition", json={**base, **change}, timeout=120)

    plan = base["plan"]
    p = _is_problem(post(plan={**plan, "grids": _without(plan["grids"], "grid_id")}), 422)
    assert "plan.grids" in p["detail"] and "grid_id" in p["detail"]
    p = _is_problem(post(plan={**plan, "households": _without(plan["households"], "grid_id")}), 422)
    assert "plan.households" in p["detail"] and "grid_id" in p["detail"]
    p = _is_problem(post(plan={**plan, "grids": _with(plan["grids"], grid_id=[1])}), 422)
    assert "grid_id" in p["detail"] and "array" in p["detail"]
    for bad in ("abc", None, -1, 2.5, [200]):
        p = _is_problem(post(boundary=_with(body["boundary"], min_persons=bad)), 422)
        assert "min_persons" in p["detail"], p
    # the request's own bounds take precedence over the boundary's properties
    assert post(boundary=_with(body["boundary"], min_persons="abc"), min_persons=200).status_code == 200
    smaller = to_feature_collection(bnd.assign(geometry=bnd.buffer(-30)))
    p = _is_problem(post(boundary=smaller), 422)
    assert "do not tile the boundary" in p["detail"] and "outside the boundary" in p["detail"]
    elsewhere = to_feature_collection(bnd.assign(geometry=bnd.translate(5000, 0)))
    p = _is_problem(post(boundary=elsewhere), 422)
    assert "do not tile the boundary" in p["detail"] and "in no grid" in p["detail"]


def test_ids_must_be_scalars(server, village):
    body, _ = village
    hh = json.loads(json.dumps(body["households"]))
    hh["features"][3]["properties"]["household_id"] = {"a": 1}
    p = _is_problem(httpx.post(server + "/v1/partition", json={**body, "households": hh}, timeout=60), 422)
    assert "household_id" in p["detail"] and "features[3]" in p["detail"]


def test_locate_names_overlapping_grids(server, partitioned):
    grids = json.loads(json.dumps(partitioned["grids"]))
    r = httpx.post(server + "/v1/locate", json={"grids": grids, "points": partitioned["households"]}).json()
    assert r["warnings"] == [] and not any("overlaps" in row for row in r["results"])
    twin = json.loads(json.dumps(grids["features"][0]))
    first = twin["properties"]["grid_id"]
    twin["properties"]["grid_id"] = 999
    grids["features"].append(twin)
    r = httpx.post(server + "/v1/locate", json={"grids": grids, "points": partitioned["households"]})
    assert r.status_code == 200, r.text
    res = r.json()
    inside = [f["properties"]["grid_id"] == first for f in partitioned["households"]["features"]]
    flagged = [row for row in res["results"] if "overlaps" in row]
    assert flagged and len(flagged) == sum(inside)
    assert all(row["overlaps"] == [first, 999] and row["grid_id"] == first for row in flagged)
    assert len(res["warnings"]) == 1 and f"{first}, 999" in res["warnings"][0]


def _asgi_post(app, path, **kw):
    """One request to the app in this process (its middleware and handlers as served)."""
    import asyncio

    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path, **kw)

    return asyncio.run(go())


def test_faults_are_500_problems_with_a_logged_incident(monkeypatch, caplog, village):
    """Our own faults, wherever they happen, are 500 problem+json with an incident id logged with the traceback."""
    import uuid

    from microgrid import service

    body, _ = village
    payload = {"grids": body["boundary"], "points": body["households"]}

    def broken(p):
        raise KeyError("a bug")

    monkeypatch.setitem(service._JOBS, "locate", broken)
    app = service.create_app(isolate=False, max_jobs=1)
    caplog.set_level("ERROR", logger="microgrid.service")
    # in the job
    p = _is_problem(_asgi_post(app, "/v1/locate", json=payload), 500)
    assert str(uuid.UUID(p["incident"])) == p["incident"] and p["incident"] in p["detail"]
    assert "not of the request" in p["detail"]
    assert any(p["incident"] in r.getMessage() and "KeyError" in r.getMessage() for r in caplog.records)
    # in parsing the request, outside any job
    monkeypatch.setattr(service, "parse_request", lambda *a, **k: 1 / 0)
    p = _is_problem(_asgi_post(app, "/v1/locate", json=payload), 500)
    assert any(p["incident"] in r.getMessage() and r.exc_info for r in caplog.records)
    # in the body-reading middleware
    monkeypatch.setattr(service.BodyLimit, "_too_large", lambda self, note: 1 / 0)
    p = _is_problem(_asgi_post(service.create_app(isolate=False, max_body_bytes=10), "/v1/locate", json=payload), 500)
    assert "ZeroDivisionError" in p["detail"] and p["incident"]
    # in the worker process: its traceback comes back to be logged here
    monkeypatch.undo()
    monkeypatch.setitem(service._JOBS, "locate", broken)
    status, problem, tb = service._work("locate", json.dumps(payload).encode(), 64)
    assert status == "error" and problem["status"] == 500 and problem["incident"] and "KeyError" in tb


def test_a_dying_worker_and_a_memory_hog_are_problems(monkeypatch):
    """A worker that dies is a 500 with an incident; a job over --max-job-mb is a 507."""
    import multiprocessing
    import os

    from microgrid import service

    monkeypatch.setattr(service, "_CTX", multiprocessing.get_context("fork"))  # the worker sees the patched jobs
    raw = json.dumps(
        {
            "grids": {"type": "FeatureCollection", "features": []},
            "points": {"type": "FeatureCollection", "features": []},
        }
    ).encode()
    monkeypatch.setitem(service._JOBS, "locate", lambda p: os._exit(3))
    status, problem, _ = service._run_isolated("locate", raw, 30)
    assert status == "error" and problem["status"] == 500 and problem["type"].endswith("worker-died")
    assert "exit code 3" in problem["detail"] and problem["incident"]
    monkeypatch.setitem(service._JOBS, "locate", lambda p: bytearray(2**30))
    status, problem, _ = service._run_isolated("locate", raw, 30, max_job_mb=100)
    assert status == "error" and problem["status"] == 507 and "--max-job-mb" in problem["detail"]


def test_slow_bodies_are_408_and_let_go():
    proc, url = start_server("--jobs", "1", "--body-timeout", "1")
    try:
        port = int(url.rsplit(":", 1)[1])
        socks = []
        for _ in range(30):  # partial bodies that never finish
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(
                b"POST /v1/locate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 1000\r\n\r\n{"grids": '
            )
            socks.append(s)
        t0 = time.monotonic()
        for s in socks:
            s.settimeout(10)
            data = b""
            while chunk := s.recv(65536):  # the answer, then the server closes the connection
                data += chunk
            assert data.startswith(b"HTTP/1.1 408") and b"application/problem+json" in data, data[:300]
            assert b"body-timeout" in data
            s.close()
        assert time.monotonic() - t0 < 8
        assert httpx.get(url + "/healthz").json()["status"] == "ok"
    finally:
        stop_server(proc)


def test_healthz_answers_while_a_big_locate_runs():
    """A 20 MB /v1/locate is parsed and answered in the worker: the event loop stays free."""
    proc, url = start_server("--jobs", "1")
    try:
        rng = np.random.default_rng(0)
        xy = rng.uniform([116.3, 39.9], [116.4, 40.0], (180_000, 2))
        grid = {
            "type": "Feature",
            "properties": {"grid_id": 1},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[116.3, 39.9], [116.4, 39.9], [116.4, 40.0], [116.3, 40.0], [116.3, 39.9]]],
            },
        }
        pts = ",".join(
            f'{{"type":"Feature","properties":{{"id":{i}}},"geometry":{{"type":"Point",'
            f'"coordinates":[{x:.7f},{y:.7f}]}}}}'
            for i, (x, y) in enumerate(xy)
        )
        raw = (
            f'{{"grids":{{"type":"FeatureCollection","features":[{json.dumps(grid)}]}},'
            f'"points":{{"type":"FeatureCollection","features":[{pts}]}}}}'
        ).encode()
        assert len(raw) > 18 * 2**20
        with ThreadPoolExecutor(1) as ex:
            fut = ex.submit(_raw, url, "/v1/locate", raw)
            lags = []
            while not fut.done():
                t = time.perf_counter()
                assert httpx.get(url + "/healthz", timeout=30).status_code == 200
                lags.append(time.perf_counter() - t)
                time.sleep(0.05)
            r = fut.result()
        assert r.status_code == 200, r.text[:500]
        assert r.json()["located"] == len(xy)
        assert len(lags) > 5 and max(lags) < 1.0, (len(lags), max(lags))
    finally:
        stop_server(proc)


def test_nan_in_an_answer_is_null_and_flags_are_checked(server, village, partitioned):
    """Found by the fuzz suite: a grid without properties made the validate report hold NaN (a 500)."""
    body, _ = village
    grids = json.loads(json.dumps(partitioned["grids"]))
    grids["features"][1]["properties"] = None
    r = httpx.post(
        server + "/v1/validate",
        json={"grids": grids, "households": partitioned["households"], "boundary": body["boundary"]},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    json.loads(r.text, parse_constant=lambda c: pytest.fail(f"{c} in the answer"))  # strict JSON
    p = _is_problem(
        httpx.post(
            server + "/v1/repartition",
            json={
                "plan": {"grids": _with(partitioned["grids"], flagged="x"), "households": partitioned["households"]},
                "households": body["households"],
                "boundary": body["boundary"],
            },
            timeout=60,
        ),
        422,
    )
    assert "flagged" in p["detail"]
