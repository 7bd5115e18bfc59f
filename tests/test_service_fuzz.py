"""Hostile bodies against a real ``microgrid serve``: never a 5xx, every error problem+json.

Hypothesis builds malformed requests for every endpoint: deep nesting
anywhere (properties, ``crs``, coordinates, extra members), every form of
``crs`` (strings, numbers, objects, other planets, local and vertical CRSs,
garbage), and a wrong value of any JSON type put at any place of a valid
body. The examples are few and derandomized so that CI stays under a
minute; ``MICROGRID_FUZZ_EXAMPLES`` and ``MICROGRID_FUZZ_SEED`` run more or
other ones.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
hyp = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import start_server, stop_server  # noqa: E402

EXAMPLES = int(os.environ.get("MICROGRID_FUZZ_EXAMPLES", "60"))
SEED = int(os.environ.get("MICROGRID_FUZZ_SEED", "0"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def url():
    proc, base = start_server("--jobs", "2", "--timeout", "60", "--max-body-mb", "4", stderr=subprocess.DEVNULL)
    try:
        yield base
    finally:
        stop_server(proc)


# ------------------------------------------------------------------ valid bodies to break


def _fc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def _point(i, x, y):
    return {
        "type": "Feature",
        "properties": {"household_id": i, "persons": 3},
        "geometry": {"type": "Point", "coordinates": [x, y]},
    }


HOUSEHOLDS = _fc(
    _point(1, 116.3002, 39.9202),
    _point(2, 116.3008, 39.9205),
    _point(3, 116.3005, 39.9208),
    _point(4, 116.3002, 39.9208),
)
BOUNDARY = _fc(
    {
        "type": "Feature",
        "properties": {},
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[116.30, 39.92], [116.301, 39.92], [116.301, 39.921], [116.30, 39.921], [116.30, 39.92]]],
        },
    }
)
ROAD = _fc(
    {
        "type": "Feature",
        "properties": {"kind": "main"},
        "geometry": {"type": "LineString", "coordinates": [[116.3005, 39.9199], [116.3005, 39.9211]]},
    }
)


@pytest.fixture(scope="module")
def bodies(url):
    """A valid body for each endpoint (a tiny village: 4 households, 2 grids)."""
    part = {"households": HOUSEHOLDS, "boundary": BOUNDARY, "barriers": ROAD, "min_persons": 1, "max_persons": 10}
    r = httpx.post(url + "/v1/partition", json=part, timeout=60)
    assert r.status_code == 200, r.text
    plan = r.json()
    return {
        "partition": part,
        "validate": {
            "grids": plan["grids"],
            "households": plan["households"],
            "boundary": BOUNDARY,
            "min_persons": 1,
            "max_persons": 10,
        },
        "repartition": {
            "plan": {"grids": plan["grids"], "households": plan["households"]},
            "households": HOUSEHOLDS,
            "boundary": BOUNDARY,
            "min_persons": 1,
            "max_persons": 10,
        },
        "locate": {"grids": plan["grids"], "points": HOUSEHOLDS},
    }


def _check(r) -> None:
    """The contract: no 5xx; every error is an RFC 9457 problem."""
    assert r.status_code < 500, f"{r.status_code}: {r.text[:2000]}"
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text[:500]
        p = r.json()
        assert p["status"] == r.status_code and p["title"] and p["detail"], p
        assert p["type"].startswith("urn:microgrid:problem:"), p
    else:
        r.json()


def _post(url, kind, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/v1/{kind}", content=raw, headers={"content-type": "application/json"}, timeout=90)


# ------------------------------------------------------------------ strategies

KINDS = st.sampled_from(["partition", "validate", "repartition", "locate"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)


def _containers(inner):
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4))


JSON = st.recursive(SCALARS, _containers, max_leaves=12)

LOCAL_CS = 'LOCAL_CS["site",LOCAL_DATUM["d",0],UNIT["metre",1],AXIS["x",EAST],AXIS["y",NORTH]]'
MOON_PROJJSON = {
    "type": "GeographicCRS",
    "name": "Moon",
    "datum": {"type": "GeodeticReferenceFrame", "name": "Moon", "ellipsoid": {"name": "Moon", "radius": 1737400}},
    "coordinate_system": {
        "subtype": "ellipsoidal",
        "axis": [
            {"name": "Longitude", "abbreviation": "lon", "direction": "east", "unit": "degree"},
            {"name": "Latitude", "abbreviation": "lat", "direction": "north", "unit": "degree"},
        ],
    },
}
NAMED = st.sampled_from(
    [
        "IAU_2015:30100",
        "IAU_2015:49900",
        "ESRI:104903",
        LOCAL_CS,
        "EPSG:5714",
        "EPSG:4978",
        "EPSG:9518",
        "EPSG:4326",
        "EPSG:4547",
        "EPSG:32650",
        "EPSG:0",
        "EPSG:",
        "+proj=longlat",
        "+proj=geocent",
        "+proj=ortho +R=1737400",
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "",
        " ",
        'GEOGCS["x"]',
        "EPSG:4326+5773",
        "IAU_2015:30100+5714",
    ]
)
CRS = st.one_of(
    NAMED,
    st.text(max_size=30),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(JSON, max_size=3),
    JSON,
    st.builds(lambda n: {"type": "name", "properties": {"name": n}}, st.one_of(NAMED, JSON)),
    st.builds(lambda c: {"type": "EPSG", "properties": {"code": c}}, st.one_of(st.integers(-5, 10**6), JSON)),
    st.builds(lambda t, p: {"type": t, "properties": p}, JSON, JSON),
    st.just(MOON_PROJJSON),
    st.just({"type": "GeographicCRS"}),
)


def _deep(depth: int, inner: str = "1", kinds: str = "[{") -> str:
    opened = "".join('{"k":' if kinds[i % len(kinds)] == "{" else "[" for i in range(depth))
    closed = "".join("}" if kinds[i % len(kinds)] == "{" else "]" for i in reversed(range(depth)))
    return opened + inner + closed


def _paths(value, path=()):
    """Every place in a JSON value, as key paths."""
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _replace(value, path, new):
    if not path:
        return new
    out = copy.deepcopy(value)
    at = out
    for k in path[:-1]:
        at = at[k]
    at[path[-1]] = new
    return out


# ------------------------------------------------------------------ the fuzzing


@seed(SEED)
@FUZZ
@given(
    kind=KINDS,
    depth=st.integers(65, 3000),
    where=st.sampled_from(["property", "crs", "coordinates", "extra", "feature", "top"]),
    kinds=st.sampled_from(["[", "{", "[{", "{[["]),
    pad=st.sampled_from([0, 300_000]),
)
def test_deep_nesting_anywhere_is_a_400_problem(url, bodies, kind, depth, where, kinds, pad):
    body = json.dumps(bodies[kind])
    deep = _deep(depth, kinds=kinds)
    first = next(k for k in ("households", "grids") if k in bodies[kind])
    if where == "property":
        raw = body.replace('"properties": {', f'"properties": {{"deep": {deep}, ', 1)
    elif where == "crs":
        raw = body[:-1] + f', "crs": {deep}}}'
    elif where == "coordinates":
        raw = body.replace('"coordinates": ', f'"coordinates": {deep}, "x": ', 1)
    elif where == "extra":
        raw = body[:-1] + f', "extra": {deep}}}'
    elif where == "feature":
        raw = body.replace(
            f'"{first}": {{"type": "FeatureCollection", "features": [',
            f'"{first}": {{"type": "FeatureCollection", "features": [{deep}, ',
            1,
        )
    else:
        raw = deep
    assert deep in raw
    if pad and raw.endswith("}"):  # big enough to be parsed in the worker, not on the event loop
        raw = raw[:-1] + f', "pad": "{"x" * pad}"' + raw[-1]
    r = _post(url, kind, raw.encode())
    _check(r)
    assert r.status_code == 400 and r.json()["type"].endswith("too-deep"), r.text[:300]


@seed(SEED)
@FUZZ
@given(kind=KINDS, crs=CRS)
def test_any_crs_is_answered_without_a_5xx(url, bodies, kind, crs):
    _check(_post(url, kind, {**bodies[kind], "crs": crs}))


@seed(SEED)
@FUZZ
@given(data=st.data(), kind=KINDS, new=JSON)
def test_a_wrong_value_anywhere_is_answered_without_a_5xx(url, bodies, data, kind, new):
    body = bodies[kind]
    path = data.draw(st.sampled_from(sorted(_paths(body), key=str)), label="path")
    _check(_post(url, kind, _replace(body, path, new)))


KEYS = st.one_of(
    st.sampled_from(
        [
            "geometry",
            "id",
            "type",
            "properties",
            "features",
            "coordinates",
            "crs",
            "bbox",
            "grid_id",
            "household_id",
            "persons",
            "code",
            "stack_id",
            "flagged",
            "min_persons",
            "max_persons",
            "kind",
            "name",
            "",
        ]
    ),
    st.text(max_size=8),
)


@seed(SEED)
@FUZZ
@given(data=st.data(), kind=KINDS, key=KEYS, new=JSON)
def test_a_member_added_anywhere_is_answered_without_a_5xx(url, bodies, data, kind, key, new):
    body = bodies[kind]
    objects = [p for p in _paths(body) if isinstance(_at(body, p), dict)]
    path = data.draw(st.sampled_from(sorted(objects, key=str)), label="path")
    _check(_post(url, kind, _replace(body, (*path, key), new)))


def _at(value, path):
    for k in path:
        value = value[k]
    return value


@seed(SEED)
@FUZZ
@given(
    kind=KINDS,
    raw=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.sampled_from(
            [
                b"",
                b"null",
                b"[]",
                b"{",
                b'{"crs": NaN}',
                b'{"a": Infinity}',
                b"\xff\xfe{",
                b'{"households": "\\ud800"}',
                b'"\\"[[[["',
            ]
        ),
    ),
)
def test_any_bytes_are_answered_without_a_5xx(url, kind, raw):
    _check(_post(url, kind, raw))


def _depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max((_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x) for x in v), default=0)
    return 0


TRICKY = st.text(alphabet='[]{}"\\/ab\u00e9\u4e2d', max_size=12)


def _nest(inner):
    return st.one_of(st.lists(inner, max_size=3), st.dictionaries(TRICKY, inner, max_size=3))


NESTED = st.recursive(st.one_of(SCALARS, TRICKY), _nest, max_leaves=30)


@seed(SEED)
@settings(max_examples=EXAMPLES * 5, deadline=None, database=None)
@given(value=NESTED, ascii_only=st.booleans())
def test_nesting_depth_matches_the_parsed_value(value, ascii_only):
    """The raw-byte scan the service refuses deep bodies with agrees with the parsed JSON, strings included."""
    from microgrid.service import nesting_depth

    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(raw) == _depth(value)
