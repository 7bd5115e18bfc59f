"""Read inputs from and write plans to a PostgreSQL/PostGIS database.

Needs the ``postgis`` extra (``pip install "microgrid[postgis]"``: SQLAlchemy 2,
psycopg 3 and GeoAlchemy2); they are imported only when a database is used, so
``import microgrid`` stays light.

A database is named by a URL, ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``
(``postgres://`` and ``postgresql+psycopg://`` work too; any other
``postgresql+DRIVER`` is rejected because only psycopg 3 is installed). As for
files, the part after ``#`` names what to read or write:

* reading, a table: ``postgresql://u@host/db#households`` or
  ``...#schema.households``; its geometry column is found from PostGIS's
  ``geometry_columns``, so it need not be named.
* writing a plan, a table-name prefix and optionally a schema:
  ``...#plan_`` writes ``plan_grids``, ``plan_households``, ``plan_boundary``,
  ``plan_barriers`` (and ``plan_<layer>`` for each extra layer) in schema
  ``public``; ``...#plans.v1_`` writes ``plans.v1_grids`` and so on.

A plan is written in one transaction: a failed write leaves the tables that
were there before untouched.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from os import PathLike, fspath
from typing import TYPE_CHECKING, Any

from .. import _types
from ..errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from ..plan import Plan

__all__ = ["is_db_url", "read_table", "write_plan", "read_plan_tables", "db_url_of", "mask_password", "PLAN_TABLES"]

_SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")
#: The tables of a plan, each written as ``{prefix}{name}``.
PLAN_TABLES = ("grids", "households", "boundary", "barriers")
_MAX_IDENT = 63  # PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes)
_CONNECT_TIMEOUT_S = 10


def is_db_url(s: object) -> bool:
    """Whether ``s`` is a PostgreSQL URL rather than a file path.

    Parameters
    ----------
    s : object
        Anything; only a ``str`` starting with ``postgresql://``,
        ``postgresql+psycopg://`` or ``postgres://`` counts.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_db_url("postgresql://user@localhost:5432/gis#households")
    True
    >>> is_db_url("village.gpkg#households")
    False
    """
    return isinstance(s, str) and s.lower().startswith(_SCHEMES)


def db_url_of(path: _types.PathLike) -> str | None:
    """The database URL ``path`` stands for, or None for a file path.

    ``pathlib.Path("postgresql://u@h/db")`` collapses ``//`` to ``/``; such a
    path is turned back into its URL, so a URL that went through ``Path`` on
    the way (as a CLI ``--out`` may) still reaches the database.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str or None

    Examples
    --------
    >>> import pathlib
    >>> db_url_of(pathlib.Path("postgresql://me@dbhost/gis#plan_"))
    'postgresql://me@dbhost/gis#plan_'
    >>> db_url_of("plan.gpkg") is None
    True
    """
    if isinstance(path, str):
        return path if is_db_url(path) else None
    if isinstance(path, PathLike):
        s = fspath(path)
        if isinstance(s, str):
            m = re.match(r"(?i)(postgresql\+psycopg|postgresql|postgres):/(?!/)", s)
            if m:
                return f"{m.group(1)}://{s[m.end() :]}"
    return None


def mask_password(url: str) -> str:
    """``url`` with its password replaced by ``***``.

    Examples
    --------
    >>> mask_password("postgresql://me:secret@db.example.org:5432/gis#t")
    'postgresql://me:***@db.example.org:5432/gis#t'
    """
    url = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&#]*", r"\1***", url)


# ---------------------------------------------------------------- plumbing


def require_sqlalchemy():
    from .._compat import import_optional

    import_optional("geoalchemy2", "postgis", "PostGIS input/output")  # to_postgis needs it
    import_optional("psycopg", "postgis", "PostGIS input/output")
    return import_optional("sqlalchemy", "postgis", "PostGIS input/output")


def split_url(url: str) -> tuple[str, str]:
    """``(database URL, part after #)``."""
    base, _, frag = url.partition("#")
    return base, frag.strip()


def db_cause(exc: BaseException) -> str:
    """One line saying why a database call failed, without SQL or passwords."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(line.strip() for line in str(orig).strip().splitlines() if line.strip()) or "no detail"
    if len(text) > 300:
        text = text[:297] + "..."
    return mask_password(f"{type(orig).__name__}: {text}")


def make_engine(base: str):
    sa = require_sqlalchemy()
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    given, low = base, base.lower()
    for scheme in ("postgresql://", "postgres://"):
        if low.startswith(scheme):
            base = "postgresql+psycopg://" + base[len(scheme) :]
    try:
        url = make_url(base)
    except Exception as exc:  # ArgumentError, ValueError for a bad port, ...
        raise InputError(
            f"not a valid database URL: {mask_password(given)} ({db_cause(exc)}); "
            "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE#TABLE"
        ) from None
    if not url.database:
        raise InputError(
            f"the database URL {mask_password(given)} names no database; "
            "write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE#TABLE"
        )
    args = {} if "connect_timeout" in url.query else {"connect_timeout": _CONNECT_TIMEOUT_S}
    try:
        return sa.create_engine(url, poolclass=NullPool, connect_args=args)
    except Exception as exc:
        raise InputError(f"cannot use the database URL {mask_password(given)}: {db_cause(exc)}") from None


@contextmanager
def _connection(base: str):
    """An open connection to ``base``; connection problems become InputError."""
    engine = make_engine(base)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise InputError(
                f"cannot connect to the database {mask_password(base)}: {db_cause(exc)}; check that the server "
                "is running and the host, port, user, password and database name in the URL"
            ) from None
        with conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def db_errors(base: str, doing: str):
    """Turn SQLAlchemy/psycopg errors raised while ``doing`` into InputError."""
    import psycopg
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (SQLAlchemyError, psycopg.Error) as exc:
        raise InputError(f"{doing} in {mask_password(base)} failed: {db_cause(exc)}") from None


def quote_ident(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


def require_postgis(conn: Connection, base: str):
    from sqlalchemy import text

    if conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first() is None:
        raise InputError(
            f"the database {mask_password(base)} has no PostGIS; run CREATE EXTENSION postgis in it "
            "(as a superuser or the database owner)"
        )


def table_spec(spec: str) -> tuple[str | None, str]:
    schema, dot, table = spec.partition(".")
    return (schema or None, table) if dot else (None, spec)


# ---------------------------------------------------------------- reading


def read_table(src: str, *, table: str | None = None, what: str = "layer"):
    """Read one PostGIS table into a GeoDataFrame.

    Parameters
    ----------
    src : str
        ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE#TABLE`` or
        ``...#SCHEMA.TABLE``. Without a schema the table is looked up on the
        connection's ``search_path`` (usually ``public``). Names are matched
        exactly first, then in lower case (how PostgreSQL stores unquoted names).
    table : str, optional
        The table (``TABLE`` or ``SCHEMA.TABLE``); overrides the ``#`` part.
    what : str
        Name of the input, used in error messages.

    Returns
    -------
    GeoDataFrame
        Every column of the table; the geometry column is found from
        ``geometry_columns`` and the CRS from its SRID.

    Raises
    ------
    InputError
        When the URL is malformed, the server is unreachable, the database has
        no PostGIS, or the table is missing or has no geometry column.

    Examples
    --------
    >>> hh = read_table("postgresql://me:secret@dbhost:5432/gis#survey.households")  # doctest: +SKIP

    Without a server at hand the call fails with an :class:`InputError`
    naming the URL, password masked:

    >>> import microgrid
    >>> try:
    ...     read_table("postgresql://me:secret@127.0.0.1:9/gis#survey.households")
    ... except microgrid.InputError as exc:
    ...     print(str(exc).split(": ")[0])
    cannot connect to the database postgresql://me:***@127.0.0.1:9/gis
    """
    base, frag = split_url(src)
    spec = table or frag
    if not spec:
        raise InputError(
            f"{what}: {mask_password(base)} names no table; add it after #, e.g. {mask_password(base)}#SCHEMA.TABLE"
        )
    schema, name = table_spec(spec)
    if not name:
        raise InputError(f"{what}: no table name in {spec!r}; write #SCHEMA.TABLE or #TABLE")
    import geopandas as gpd

    sa = require_sqlalchemy()
    text = sa.text
    with _connection(base) as conn, db_errors(base, f"{what}: reading table {spec}"):
        require_postgis(conn, base)
        found = None
        lower = (schema.lower() if schema else None, name.lower())
        for cand_schema, cand in dict.fromkeys([(schema, name), lower]):
            q = quote_ident(cand_schema, cand) if cand_schema else quote_ident(cand)
            found = conn.execute(
                text(
                    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass(:q)"
                ),
                {"q": q},
            ).first()
            if found is not None:
                break
        if found is None:
            rows = conn.execute(
                text(
                    "SELECT f_table_schema, f_table_name FROM geometry_columns "
                    "WHERE f_table_schema NOT IN ('pg_catalog', 'information_schema', 'topology', 'tiger') "
                    "ORDER BY 1, 2 LIMIT 21"
                )
            ).all()
            have = [f"{s}.{t}" for s, t in rows]
            listing = (
                f"tables with geometry there: {', '.join(have[:20])}{', ...' if len(have) > 20 else ''}"
                if have
                else "it has no tables with geometry"
            )
            raise InputError(
                f"{what}: table {spec} not found in {mask_password(base)} ({listing}); "
                "check the name after # (SCHEMA.TABLE)"
            )
        schema, name = found
        cols = conn.execute(
            text(
                "SELECT f_geometry_column, srid FROM geometry_columns WHERE f_table_schema = :s AND f_table_name = :t "
                "ORDER BY (f_geometry_column NOT IN ('geometry', 'geom')), f_geometry_column"
            ),
            {"s": schema, "t": name},
        ).all()
        if not cols:
            raise InputError(
                f"{what}: table {schema}.{name} in {mask_password(base)} has no PostGIS geometry column; "
                "give a table with a geometry column (e.g. households as points)"
            )
        geom_col, srid = cols[0]
        crs = None
        if srid and srid > 0:
            ref = conn.execute(
                text("SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = :srid"), {"srid": srid}
            ).first()
            if ref is not None and ref[0] and ref[1]:
                crs = f"{ref[0]}:{ref[1]}"
            elif ref is not None and ref[2]:
                crs = ref[2]
            else:
                crs = f"EPSG:{srid}"
        # further geometry columns, if any, come back as EWKB hex text
        query = sa.select(sa.literal_column("*")).select_from(sa.table(name, schema=schema))
        return gpd.read_postgis(query, conn, geom_col=geom_col, crs=crs)


def read_plan_tables(url: str) -> tuple[dict, dict]:
    """Every table of a plan written by :func:`write_plan`, and its ``plan_info``.

    Returns ``({layer name: frame}, info)``: ``grids``, ``households`` and
    whatever else was written; ``info`` is the decoded ``plan_info`` table,
    empty for tables another tool wrote.

    Examples
    --------
    >>> frames, info = read_plan_tables("postgresql://me:secret@dbhost/gis#plans.v1_")  # doctest: +SKIP
    >>> sorted(frames), info["microgrid_version"]  # doctest: +SKIP
    (['barriers', 'boundary', 'grids', 'households'], '0.1.0')

    A database that cannot be reached fails as :func:`read_table` does.
    """
    import pandas as pd

    from .files import decode_info

    base, frag = split_url(url)
    schema, prefix = table_spec(frag)
    at = f"{schema}." if schema else ""
    out = {name: read_table(base, table=f"{at}{prefix}{name}", what=name) for name in ("grids", "households")}
    sa = require_sqlalchemy()
    info: dict = {}
    with _connection(base) as con, db_errors(base, "reading the plan's tables"):
        present = set(sa.inspect(con).get_table_names(schema=schema or "public"))
        if f"{prefix}plan_info" in present:
            t = pd.read_sql_table(f"{prefix}plan_info", con, schema=schema or "public")
            info = decode_info(zip(t["key"], t["value"]), mask_password(url))
    for t in sorted(present):
        name = t[len(prefix) :] if t.startswith(prefix) else ""
        if name and name not in out and (name in (*PLAN_TABLES, "divided_sites") or name.startswith("grids_")):
            out[name] = read_table(base, table=f"{at}{t}", what=name)
    return out, info


# ---------------------------------------------------------------- writing


def _srid(gdf, name: str) -> int:
    crs = gdf.crs
    if crs is None:
        raise InputError(f"plan layer {name} has no CRS; a PostGIS table needs one (set it with gdf.set_crs)")
    # the search geopandas.to_postgis makes, without its last, 25 %-confidence step, which can
    # name another CRS (a custom Transverse Mercator matches some EPSG zone there)
    for confidence in (100, 70):
        code = crs.to_epsg(min_confidence=confidence)
        if code is not None:
            return code
        auth = crs.to_authority(auth_name="ESRI", min_confidence=confidence)
        if auth is not None:
            return int(auth[1])
    raise InputError(
        f"plan layer {name} is in a CRS without an EPSG code ({crs.name}); PostGIS stores CRSs by SRID: "
        "reproject the inputs to an EPSG CRS (e.g. households.to_crs('EPSG:4326')) before partitioning"
    )


def _plan_tables(plan, prefix: str) -> list[tuple[str, Any]]:
    from .files import plan_layers

    out = [(f"{prefix}{name}", gdf) for name, gdf in plan_layers(plan).items()]
    names = [n for n, _ in out]
    long = [n for n in [*names, f"{prefix}plan_info"] if len(n.encode()) > _MAX_IDENT]
    if long:
        raise InputError(
            f"table names {', '.join(long)} are longer than PostgreSQL's {_MAX_IDENT} bytes; use a shorter prefix"
        )
    return out


def write_plan(
    plan: Plan, url: str, *, prefix: str = "", schema: str | None = None, overwrite: bool = False
) -> list[str]:
    """Write a plan to PostGIS tables, all in one transaction.

    Writes ``{prefix}grids``, ``{prefix}households``, ``{prefix}boundary``,
    ``{prefix}barriers`` (when the plan has barriers) and ``{prefix}<name>``
    for each extra layer of ``plan.layers``, each with its geometry in the
    plan's CRS (as SRID) and a spatial index. Either every table is written or,
    on any failure, none is changed.

    Parameters
    ----------
    plan : Plan
    url : str
        ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``, optionally with
        ``#PREFIX`` or ``#SCHEMA.PREFIX`` (used when ``prefix``/``schema`` are
        not given).
    prefix : str
        Prefix of every table name, e.g. ``"plan_"``.
    schema : str, optional
        Schema of the tables (created when missing); default ``public``.
    overwrite : bool
        Replace existing tables of the same names. With ``overwrite=True`` a
        stale ``{prefix}boundary`` or ``{prefix}barriers`` this plan does not
        have is dropped too, so the tables always describe one plan.

    Returns
    -------
    list of str
        ``URL#SCHEMA.TABLE`` of each table written (password masked).

    Raises
    ------
    InputError
        When a table exists and ``overwrite`` is False, the server is
        unreachable, or the database refuses the write.

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(300, seed=1))
    >>> write_plan(plan, "postgresql://me:secret@dbhost/gis", prefix="v1_", schema="plans")  # doctest: +SKIP
    ['postgresql://me:***@dbhost/gis#plans.v1_grids', 'postgresql://me:***@dbhost/gis#plans.v1_households', ...]

    Without a server at hand the call fails with an :class:`InputError`
    naming the URL, password masked, and writes nothing:

    >>> try:
    ...     write_plan(plan, "postgresql://me:secret@127.0.0.1:9/gis#plans.v1_")
    ... except microgrid.InputError as exc:
    ...     print(str(exc).split(": ")[0])
    cannot connect to the database postgresql://me:***@127.0.0.1:9/gis
    """
    base, frag = split_url(url)
    if frag and not prefix and schema is None:
        schema, prefix = table_spec(frag)
    schema = schema or "public"
    tables = _plan_tables(plan, prefix)
    srids = {name: _srid(gdf, name) for name, gdf in tables}
    targets = [n for n, _ in tables]
    stale = [f"{prefix}{t}" for t in PLAN_TABLES if f"{prefix}{t}" not in targets]
    info = plan.info_table()  # how the plan was made: read back by microgrid.read_plan
    sa = require_sqlalchemy()
    text = sa.text
    with _connection(base) as conn, db_errors(base, f"writing the plan to schema {schema}"), conn.begin():
        require_postgis(conn, base)
        present = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relname = ANY(:names)"
                ),
                {"s": schema, "names": targets + stale},
            )
        }
        clash = [n for n in targets if n in present]
        if clash and not overwrite:
            raise InputError(
                f"tables {', '.join(f'{schema}.{n}' for n in clash)} exist in {mask_password(base)}; "
                "pass overwrite=True (CLI: --overwrite) to replace them, or write with another prefix (URL#PREFIX)"
            )
        conn.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        for name, gdf in tables:
            gdf.to_postgis(name, conn, schema=schema, if_exists="replace", index=False)
            got = conn.execute(
                text("SELECT Find_SRID(:s, :t, :g)"), {"s": schema, "t": name, "g": gdf.geometry.name}
            ).scalar()
            if got != srids[name]:  # pragma: no cover - geopandas picks the SRID the same way
                raise InputError(f"table {schema}.{name} got SRID {got}, expected {srids[name]}")
        info.to_sql(f"{prefix}plan_info", conn, schema=schema, if_exists="replace", index=False)
        for name in stale:
            if name in present:
                conn.execute(sa.schema.DropTable(sa.Table(name, sa.MetaData(), schema=schema)))
    shown = mask_password(base)
    return [f"{shown}#{schema}.{n}" for n in targets]
