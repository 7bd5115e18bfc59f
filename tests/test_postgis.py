"""PostGIS input/output against a real PostgreSQL/PostGIS server.

The server is named by ``MICROGRID_TEST_POSTGIS_URL`` (``.ci/run`` starts one
and sets it). Without it the database tests are skipped, unless
``MICROGRID_REQUIRE_POSTGIS=1`` (as in CI), when they fail.
Every test works in its own schema, dropped afterwards, so reruns are clean.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from conftest import REPO
from microgrid.cli import main
from microgrid.errors import InputError
from microgrid.io.postgis import db_url_of, is_db_url, mask_password, read_table, write_plan

SAMPLE = REPO / "data" / "samples" / "village.gpkg"
URL = os.environ.get("MICROGRID_TEST_POSTGIS_URL", "")
REQUIRED = os.environ.get("MICROGRID_REQUIRE_POSTGIS") == "1"
UNREACHABLE = "postgresql://someone:s3cr3t@127.0.0.1:1/nodb"


# ---------------------------------------------------------------- no server needed


def test_is_db_url():
    assert is_db_url("postgresql://u:p@h:5432/db#t")
    assert is_db_url("postgresql+psycopg://u@h/db")
    assert is_db_url("postgres://u@h/db")
    assert is_db_url("PostgreSQL://u@h/db")
    for s in ("village.gpkg", "village.gpkg#households", "mysql://u@h/db", "postgresql+psycopg2://u@h/db", None, 3):
        assert not is_db_url(s)


def test_db_url_of_recovers_a_url_that_went_through_path():
    from pathlib import Path

    url = "postgresql://u:p@127.0.0.1:5432/db#plans.p_"
    assert db_url_of(url) == url
    assert db_url_of(Path(url)) == url
    assert (
        db_url_of(Path("postgresql://u@/db?host=/var/run/postgresql#p_"))
        == "postgresql://u@/db?host=/var/run/postgresql#p_"
    )
    assert db_url_of(Path("plans/p.gpkg")) is None
    assert db_url_of("p.gpkg") is None


def test_mask_password():
    assert mask_password("postgresql://me:secret@h:5432/db#t") == "postgresql://me:***@h:5432/db#t"
    assert mask_password("postgresql://me@h/db") == "postgresql://me@h/db"
    assert "secret" not in mask_password("postgresql://me@h/db?password=secret&sslmode=disable")


def test_import_microgrid_does_not_load_sqlalchemy():
    code = "import sys, microgrid\nprint([m for m in ('sqlalchemy', 'psycopg', 'geoalchemy2') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_unreachable_server_is_an_input_error():
    pytest.importorskip("sqlalchemy")
    with pytest.raises(InputError, match="cannot connect to the database") as e:
        read_table(UNREACHABLE + "#households", what="households")
    assert "s3cr3t" not in str(e.value) and "someone:***@127.0.0.1:1/nodb" in str(e.value)
    with pytest.raises(InputError, match="cannot connect"):
        microgrid.read_layer(UNREACHABLE + "#households", what="households")


@pytest.mark.parametrize(
    "url, match",
    [
        ("postgresql://u:pw@127.0.0.1:notaport/db#t", "not a valid database URL"),
        ("postgresql://u:pw@127.0.0.1:5432#t", "names no database"),
        ("postgresql://u:pw@127.0.0.1:5432/db", "names no table"),
    ],
)
def test_bad_url_is_an_input_error(url, match):
    pytest.importorskip("sqlalchemy")
    with pytest.raises(InputError, match=match) as e:
        microgrid.read_layer(url, what="households")
    assert ":pw@" not in str(e.value)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def db() -> str:
    """The test server's URL, checked to answer and to have PostGIS."""
    if not URL:
        msg = "MICROGRID_TEST_POSTGIS_URL is not set (.ci/run starts a PostGIS server and sets it)"
        if REQUIRED:
            pytest.fail(f"MICROGRID_REQUIRE_POSTGIS=1 but {msg}", pytrace=False)
        pytest.skip(msg)
    if not REQUIRED:
        pytest.importorskip("sqlalchemy")
        pytest.importorskip("geoalchemy2")
        pytest.importorskip("psycopg")
    sa = pytest.importorskip("sqlalchemy")
    engine = _engine()
    try:
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT postgis_version()")).scalar()
    finally:
        engine.dispose()
    return URL


def _engine():
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    return sa.create_engine(URL.replace("postgresql://", "postgresql+psycopg://", 1).split("#")[0], poolclass=NullPool)


def _sql(query: str, **params):
    import sqlalchemy as sa

    engine = _engine()
    try:
        with engine.begin() as c:
            res = c.execute(sa.text(query), params)
            return res.all() if res.returns_rows else None
    finally:
        engine.dispose()


def _new_schema(tag: str) -> str:
    name = f"mgt_{tag}_{uuid.uuid4().hex[:8]}"
    _sql(f'CREATE SCHEMA "{name}"')
    return name


def _drop_schema(name: str):
    _sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _tables(schema: str) -> set[str]:
    return {r[0] for r in _sql("SELECT tablename FROM pg_tables WHERE schemaname = :s", s=schema)}


@pytest.fixture
def schema(db):
    """A fresh schema for one test, dropped afterwards."""
    name = _new_schema("t")
    yield name
    _drop_schema(name)


@pytest.fixture(scope="session")
def village_db(db):
    """The sample village's layers as tables households, boundary, barriers in their own schema."""
    name = _new_schema("village")
    engine = _engine()
    try:
        with engine.begin() as c:
            for layer in ("households", "boundary", "barriers"):
                gpd.read_file(SAMPLE, layer=layer, engine="pyogrio").to_postgis(layer, c, schema=name, index=False)
    finally:
        engine.dispose()
    yield f"{db}#{name}."
    _drop_schema(name)


@pytest.fixture(scope="session")
def village_plan(village_db):
    """A plan made from the database tables."""
    return microgrid.partition(village_db + "households", village_db + "boundary", village_db + "barriers")


def _assert_same_plan(grids, households, plan):
    g0 = plan.grids.sort_values("grid_id").reset_index(drop=True)
    g1 = grids.sort_values("grid_id").reset_index(drop=True)
    assert g1["grid_id"].tolist() == g0["grid_id"].tolist()
    assert g1["persons"].tolist() == g0["persons"].tolist()
    assert g1["households"].tolist() == g0["households"].tolist()
    assert grids.crs == plan.grids.crs
    assert shapely.equals_exact(g1.geometry.to_numpy(), g0.geometry.to_numpy(), tolerance=1e-9).all()
    h0 = plan.households.set_index("household_id").sort_index()
    h1 = households.set_index("household_id").sort_index()
    assert h1.index.tolist() == h0.index.tolist()
    assert h1["grid_id"].tolist() == h0["grid_id"].tolist()
    assert h1["persons"].tolist() == h0["persons"].tolist()
    assert households.crs == plan.households.crs
    assert shapely.equals_exact(h1.geometry.to_numpy(), h0.geometry.to_numpy(), tolerance=1e-9).all()


# ---------------------------------------------------------------- reading


def test_read_tables_equal_the_sample_layers(village_db):
    for layer in ("households", "boundary", "barriers"):
        got = microgrid.read_layer(village_db + layer, what=layer)
        want = gpd.read_file(SAMPLE, layer=layer, engine="pyogrio")
        assert isinstance(got, gpd.GeoDataFrame) and len(got) == len(want)
        assert got.crs == want.crs
        assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=0).all()
        cols = [c for c in want.columns if c != "geometry"]
        assert got[cols].astype(str).equals(want[cols].astype(str))


def test_partition_from_tables_equals_partition_from_file(village_plan):
    from_file = microgrid.partition(f"{SAMPLE}#households", f"{SAMPLE}#boundary", f"{SAMPLE}#barriers")
    assert village_plan.report.ok
    assert village_plan.grids["grid_id"].tolist() == from_file.grids["grid_id"].tolist()
    assert village_plan.grids["persons"].tolist() == from_file.grids["persons"].tolist()
    assert village_plan.households["grid_id"].tolist() == from_file.households["grid_id"].tolist()


def test_geometry_column_is_found_whatever_its_name(db, schema):
    bnd = gpd.read_file(SAMPLE, layer="boundary", engine="pyogrio").rename_geometry("the_geom")
    engine = _engine()
    try:
        with engine.begin() as c:
            bnd.to_postgis("Outline", c, schema=schema, index=False)  # mixed case: stored quoted
    finally:
        engine.dispose()
    got = read_table(f"{db}#{schema}.Outline", what="boundary")
    assert got.geometry.name == "the_geom" and got.crs == bnd.crs and len(got) == 1
    got = microgrid.read_layer(db, layer=f"{schema}.Outline", what="boundary")  # layer= names the table
    assert len(got) == 1


def test_missing_table_names_the_table(db, schema, village_db):
    with pytest.raises(InputError, match=rf"households: table {schema}\.nohouses not found") as e:
        microgrid.read_layer(f"{db}#{schema}.nohouses", what="households")
    assert f"{village_db.split('#')[1]}households" in str(e.value)  # the tables there are listed
    with pytest.raises(InputError, match="table no_such_table_here not found"):
        microgrid.partition(f"{db}#no_such_table_here", village_db + "boundary")


def test_table_without_geometry_is_an_input_error(db, schema):
    _sql(f'CREATE TABLE "{schema}".plain (id int)')
    with pytest.raises(InputError, match=rf"table {schema}\.plain .* has no PostGIS geometry column"):
        read_table(f"{db}#{schema}.plain", what="households")


def test_wrong_password_is_an_input_error_with_the_password_masked(db):
    import sqlalchemy as sa

    url = sa.engine.make_url(db.replace("postgresql://", "postgresql+psycopg://", 1))
    if url.password is None:
        pytest.skip("the test server URL has no password to get wrong")
    bad = url.set(password="definitely-wrong").render_as_string(hide_password=False)
    with pytest.raises(InputError, match="cannot connect") as e:
        read_table(bad + "#households")
    assert "definitely-wrong" not in str(e.value)


# ---------------------------------------------------------------- writing


def test_round_trip_plan_through_postgis(db, schema, village_plan):
    written = village_plan.to_file(f"{db}#{schema}.p_")
    assert [w.rsplit("#", 1)[1] for w in written] == [
        f"{schema}.p_{t}" for t in ("grids", "households", "boundary", "barriers")
    ]
    assert _tables(schema) == {"p_grids", "p_households", "p_boundary", "p_barriers", "p_plan_info"}
    _plan = microgrid.read_plan(f"{db}#{schema}.p_")
    grids, households = _plan.grids, _plan.households
    _assert_same_plan(grids, households, village_plan)
    # how the plan was made comes back too: the same options reproduce it
    assert _plan.options == village_plan.options
    assert _plan.params["inputs"] == village_plan.params["inputs"]
    # SRID kept in the table definition, and a spatial index on each table
    srids = dict(_sql("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = :s", s=schema))
    assert set(srids.values()) == {village_plan.grids.crs.to_epsg()}
    indexed = {
        r[0]
        for r in _sql(
            "SELECT tablename FROM pg_indexes WHERE schemaname = :s AND indexdef ILIKE '%USING gist%'", s=schema
        )
    }
    assert indexed == set(srids)
    # the rest of the plan too
    bnd = read_table(f"{db}#{schema}.p_boundary")
    assert bnd["min_persons"].tolist() == [village_plan.params.get("min_persons", 200)]
    assert len(read_table(f"{db}#{schema}.p_barriers")) == len(village_plan.barriers)


def test_write_plan_in_a_new_schema_with_explicit_arguments(db, village_plan):
    name = f"mgt_new_{uuid.uuid4().hex[:8]}"
    try:
        write_plan(village_plan, db, prefix="x_", schema=name)
        assert _tables(name) == {"x_grids", "x_households", "x_boundary", "x_barriers", "x_plan_info"}
    finally:
        _drop_schema(name)


def test_write_to_public_schema_without_a_schema(db, village_plan):
    prefix = f"mgt_{uuid.uuid4().hex[:8]}_"
    try:
        village_plan.to_file(f"{db}#{prefix}")
        _plan = microgrid.read_plan(f"{db}#{prefix}")
        grids, households = _plan.grids, _plan.households
        _assert_same_plan(grids, households, village_plan)
    finally:
        for t in ("grids", "households", "boundary", "barriers", "plan_info"):
            _sql(f'DROP TABLE IF EXISTS public."{prefix}{t}"')


def test_overwrite_is_refused_without_overwrite(db, schema, village_plan):
    target = f"{db}#{schema}.p_"
    village_plan.to_file(target)
    with pytest.raises(InputError, match=rf"{schema}\.p_grids, .*exist.*overwrite=True \(CLI: --overwrite\)"):
        village_plan.to_file(target)
    with pytest.raises(InputError, match="overwrite=True"):
        write_plan(village_plan, target)
    # overwrite=True replaces the tables; a plan without barriers drops the stale barriers table
    smaller = dataclasses.replace(village_plan, barriers=None)
    smaller.to_file(target, overwrite=True)
    assert _tables(schema) == {"p_grids", "p_households", "p_boundary", "p_plan_info"}
    _plan = microgrid.read_plan(target)
    grids, households = _plan.grids, _plan.households
    _assert_same_plan(grids, households, village_plan)


def _changed(plan):
    """The same plan with other numbers, to tell old tables from new."""
    grids = plan.grids.copy()
    grids["persons"] = grids["persons"] + 1000
    return dataclasses.replace(plan, grids=grids, barriers=None)


def test_failed_write_leaves_the_old_tables_intact(db, schema, village_plan, monkeypatch):
    target = f"{db}#{schema}.p_"
    village_plan.to_file(target)
    before = {t: len(read_table(f"{db}#{schema}.{t}")) for t in _tables(schema) - {"p_plan_info"}}

    real = gpd.GeoDataFrame.to_postgis

    def failing(self, name, con, *args, **kw):
        if name.endswith("households"):
            raise RuntimeError("simulated crash while writing households")
        return real(self, name, con, *args, **kw)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_postgis", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _changed(village_plan).to_file(target, overwrite=True)
    monkeypatch.undo()
    # grids were replaced inside the transaction before the crash: the rollback restored them
    assert _tables(schema) == set(before) | {"p_plan_info"}
    assert {t: len(read_table(f"{db}#{schema}.{t}")) for t in before} == before
    _plan = microgrid.read_plan(target)
    grids, households = _plan.grids, _plan.households
    _assert_same_plan(grids, households, village_plan)


def test_database_error_mid_write_is_an_input_error_and_rolls_back(db, schema, village_plan, monkeypatch):
    import sqlalchemy as sa

    target = f"{db}#{schema}.p_"
    village_plan.to_file(target)
    real = gpd.GeoDataFrame.to_postgis

    def failing(self, name, con, *args, **kw):
        if name.endswith("households"):
            con.execute(sa.text("SELECT 1 / 0"))
        return real(self, name, con, *args, **kw)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_postgis", failing)
    with pytest.raises(InputError, match=rf"writing the plan to schema {schema} in .* failed: DivisionByZero"):
        _changed(village_plan).to_file(target, overwrite=True)
    monkeypatch.undo()
    _plan = microgrid.read_plan(target)
    grids, households = _plan.grids, _plan.households
    _assert_same_plan(grids, households, village_plan)
    assert "p_barriers" in _tables(schema)


def test_failed_write_to_a_new_schema_leaves_nothing(db, village_plan, monkeypatch):
    name = f"mgt_gone_{uuid.uuid4().hex[:8]}"

    def failing(self, *args, **kw):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(gpd.GeoDataFrame, "to_postgis", failing)
    try:
        with pytest.raises(RuntimeError):
            village_plan.to_file(f"{db}#{name}.p_")
        assert not _sql("SELECT 1 FROM pg_namespace WHERE nspname = :s", s=name)
    finally:
        _drop_schema(name)


def test_write_to_unreachable_server_is_an_input_error(village_plan):
    with pytest.raises(InputError, match="cannot connect to the database") as e:
        village_plan.to_file(UNREACHABLE + "#p_")
    assert "s3cr3t" not in str(e.value)


def test_plan_without_epsg_crs_is_refused_before_connecting(village_plan):
    pytest.importorskip("sqlalchemy")
    custom = "+proj=tmerc +lat_0=0 +lon_0=116.3 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs"
    plan = dataclasses.replace(village_plan, grids=village_plan.grids.to_crs(custom))
    with pytest.raises(InputError, match="without an EPSG code"):
        plan.to_file(UNREACHABLE + "#p_")


# ---------------------------------------------------------------- command line


def test_cli_round_trip(db, schema, village_db, capsys):
    out = f"{db}#{schema}.p_"
    args = [
        "partition",
        "--households",
        village_db + "households",
        "--boundary",
        village_db + "boundary",
        "--barriers",
        village_db + "barriers",
        "--out",
        out,
    ]
    assert main(args) == 0
    assert _tables(schema) == {"p_grids", "p_households", "p_boundary", "p_barriers", "p_plan_info"}
    printed = capsys.readouterr().out
    assert f"{schema}.p_grids" in printed
    _plan = microgrid.read_plan(out)
    grids, households = _plan.grids, _plan.households
    assert int(grids["persons"].sum()) == int(households["persons"].sum())
    assert len(households) == len(read_table(village_db + "households"))
    assert np.isin(households["grid_id"], grids["grid_id"]).all()

    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and f"{schema}.p_grids" in err and "Traceback" not in err
    assert main([*args, "--overwrite"]) == 0


def test_cli_missing_table_and_unreachable_server_exit_2(db, village_db, capsys):
    base = ["partition", "--boundary", village_db + "boundary", "--out", UNREACHABLE + "#p_"]
    assert main([*base, "--households", f"{db}#no_such_households"]) == 2
    assert "table no_such_households not found" in capsys.readouterr().err
    assert main([*base, "--households", village_db + "households"]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the database" in err and "s3cr3t" not in err
