"""partition_many on Dask: a real scheduler and workers, a worker killed mid-run, reruns, failures, bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import microgrid
from conftest import run_cli, write_layers
from microgrid.cli import main

pytest.importorskip("distributed")
pytest.importorskip("tqdm")

# distributed's own shutdown may leave a socket or event loop for the collector to find
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")

N_AREAS, PER_AREA = 5, 700


@pytest.fixture(scope="module")
def district():
    return microgrid.samples.make_district(N_AREAS, PER_AREA, seed=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A real ``dask scheduler`` and two ``dask worker`` processes (one thread each) on localhost."""
    from distributed import Client

    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask-logs")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                stdout=open(logs / "scheduler.log", "w"),
                stderr=subprocess.STDOUT,
                env=env,
            )
        )
        for k in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        addr,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{k}",
                    ],
                    stdout=open(logs / f"worker{k}.log", "w"),
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(addr, timeout=5) as c:
                    c.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"the dask scheduler did not start; logs in {logs}") from None
                time.sleep(0.3)
        yield addr
    finally:
        _stop(procs)


@pytest.fixture
def client(scheduler):
    from distributed import Client

    with Client(scheduler, timeout=30) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


def _check_areas(result, district, *, lo=200, hi=300):
    """Every area's plan is valid: coverage, bounds, households in = out, each household once."""
    hh, areas, _ = district
    grids, out_hh, status = result.read("grids"), result.read("households"), result.read("areas_status")
    assert status["area_id"].is_unique and sorted(status["area_id"]) == sorted(areas["area_id"])
    assert (status["status"] == "ok").all(), status[["area_id", "status", "reason"]]
    assert out_hh["household_id"].is_unique
    assert sorted(out_hh["household_id"]) == sorted(hh["household_id"])
    assert grids["grid_id"].is_unique
    assert int(out_hh["persons"].sum()) == int(hh["persons"].sum())
    for aid, poly in zip(areas["area_id"], areas.geometry):
        g = grids[grids["area_id"] == aid]
        h = out_hh[out_hh["area_id"] == aid]
        n_in = int(shapely.covers(poly, hh.geometry.to_numpy()).sum())
        rep = microgrid.validate(g, h, poly, min_persons=lo, max_persons=hi, assignment_col="grid_id", crs=areas.crs)
        m = rep.metrics
        assert rep.ok, (aid, rep.summary())
        assert m["coverage_valid"], aid
        assert m["households_in"] == m["households_out"] == len(h) == n_in
        assert g["persons"].between(lo, hi).all()
        assert g["grid_id"].str.startswith(f"{aid}-").all()
        assert set(h["grid_id"]) <= set(g["grid_id"])
        assert (result.summary.loc[aid, "grids"], result.summary.loc[aid, "households"]) == (len(g), len(h))


# ---------------------------------------------------------------- the sample district


def test_make_district_is_seeded_and_tiles():
    a = microgrid.samples.make_district(6, 300, seed=2)
    b = microgrid.samples.make_district(6, 300, seed=2)
    for x, y in zip(a, b):
        assert x.geom_equals_exact(y, tolerance=0).all()
    hh, areas, roads = a
    geoms = areas.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    assert abs(union.area - shapely.area(geoms).sum()) < 1e-3
    n_in = np.array([shapely.covers(geoms, p).sum() for p in hh.geometry])
    assert (n_in == 1).all()
    assert hh["household_id"].is_unique and len(hh) == 6 * 300
    assert areas["code_prefix"].str.fullmatch(r"\d{12}").all()
    assert {"main", "lane", "river"} <= set(roads["kind"])


# ---------------------------------------------------------------- a real cluster


def test_real_scheduler_and_workers(tmp_path, district, scheduler):
    hh, areas, roads = district
    out = tmp_path / "district.gpkg"
    res = microgrid.partition_many(
        hh,
        areas,
        roads,
        area_id_col="area_id",
        out=out,
        client=scheduler,
        code_prefix_col="code_prefix",
        progress=False,
    )
    assert res.ok, res.summary_text()
    assert res.counts == {"ok": N_AREAS, "infeasible": 0, "error": 0}
    assert res.paths == [out]
    _check_areas(res, district)
    # both workers took part, and codes follow each area's own prefix
    assert res.summary["worker"].nunique() == 2
    grids = res.read("grids")
    prefix = dict(zip(areas["area_id"], areas["code_prefix"]))
    assert all(c.startswith(prefix[a]) for a, c in zip(grids["area_id"], grids["code"]))


def test_rerun_skips_finished_areas_and_redoes_changed_ones(tmp_path, district, client):
    hh, areas, roads = district
    out = tmp_path / "d.gpkg"
    first = microgrid.partition_many(hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
    assert first.ok and not first.summary["skipped"].any()
    again = microgrid.partition_many(hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
    assert again.summary["skipped"].all()
    assert again.counts["ok"] == N_AREAS
    # one household of V002 moves 1 m: that area alone is redone, its old rows replaced
    hh2 = hh.copy()
    j = int(np.flatnonzero(hh2["household_id"].str.startswith("V002-"))[0])
    p = hh2.geometry.iat[j]
    cand = shapely.Point(p.x + 1, p.y)
    assert areas.geometry[areas["area_id"] == "V002"].iat[0].contains(cand)
    hh2.loc[hh2.index[j], "geometry"] = cand
    third = microgrid.partition_many(hh2, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
    assert third.summary["skipped"].tolist() == [a != "V002" for a in areas["area_id"]]
    _check_areas(third, (hh2, areas, roads))
    # overwrite starts afresh
    fresh = microgrid.partition_many(
        hh2, areas, roads, area_id_col="area_id", out=out, client=client, progress=False, overwrite=True
    )
    assert not fresh.summary["skipped"].any()
    _check_areas(fresh, (hh2, areas, roads))


def test_interrupted_run_leaves_no_half_written_area(tmp_path, district, client):
    """Rows of an area without its status row (a crash between writes) are replaced on the rerun."""
    import sqlite3

    hh, areas, roads = district
    out = tmp_path / "d.gpkg"
    microgrid.partition_many(hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
    con = sqlite3.connect(out)
    with con:  # as if the run had stopped after writing V003's rows but before its status
        con.execute("DELETE FROM areas_status WHERE area_id = 'V003'")
    con.close()
    res = microgrid.partition_many(hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
    assert res.summary["skipped"].tolist() == [a != "V003" for a in areas["area_id"]]
    _check_areas(res, district)


def test_infeasible_area_is_reported_and_the_others_finish(tmp_path, district, client):
    hh, areas, roads = district
    # V004 keeps 40 households (about 100 persons < 200); V005 gets none at all
    keep = ~hh["household_id"].str.startswith("V005-")
    v4 = np.flatnonzero(hh["household_id"].str.startswith("V004-"))
    keep[v4[40:]] = False
    small = hh[keep]
    res = microgrid.partition_many(
        small, areas, roads, area_id_col="area_id", out=tmp_path / "d.parquet", client=client, progress=False
    )
    assert not res.ok
    assert res.counts == {"ok": N_AREAS - 2, "infeasible": 2, "error": 0}
    assert set(res.failed.index) == {"V004", "V005"}
    assert "fewer than min_persons" in res.summary.loc["V004", "reason"]
    assert "no households" in res.summary.loc["V005", "reason"]
    assert "V004" in res.summary_text()
    grids, out_hh = res.read("grids"), res.read("households")
    assert set(grids["area_id"]) == {"V001", "V002", "V003"}
    assert len(out_hh) == int(small["household_id"].str[:4].isin(["V001", "V002", "V003"]).sum())
    status = res.read("areas_status")
    assert dict(zip(status["area_id"], status["status"])) == res.summary["status"].to_dict()
    # GeoParquet: one dataset folder per layer, readable as a whole by geopandas
    assert [p.name for p in res.paths] == ["d_grids.parquet", "d_households.parquet", "d_areas_status.parquet"]
    assert len(gpd.read_parquet(tmp_path / "d_grids.parquet")) == len(grids)
    # a rerun redoes only the failed areas (they fail again) and skips the rest
    again = microgrid.partition_many(
        small, areas, roads, area_id_col="area_id", out=tmp_path / "d.parquet", client=client, progress=False
    )
    assert again.summary["skipped"].tolist() == [True, True, True, False, False]
    assert again.counts["infeasible"] == 2


# ---------------------------------------------------------------- bad input (raised before any work)


def test_bad_inputs_raise_input_error(district):
    hh, areas, roads = district
    with pytest.raises(microgrid.InputError, match="no column 'village'"):
        microgrid.partition_many(hh, areas, area_id_col="village", progress=False)
    dup = areas.copy()
    dup.loc[1, "area_id"] = "V001"
    with pytest.raises(microgrid.InputError, match="not unique: 'V001'"):
        microgrid.partition_many(hh, dup, area_id_col="area_id", progress=False)
    far = hh.copy()
    far.loc[far.index[7], "geometry"] = shapely.Point(0, 0)
    with pytest.raises(microgrid.InputError, match=f"1 households lie in no area: '{far['household_id'].iat[7]}'"):
        microgrid.partition_many(far, areas, area_id_col="area_id", progress=False)
    twice = hh.copy()  # a household exactly on the border of two areas
    g = areas.geometry.to_numpy()
    shared = next(s for s in (shapely.intersection(g[0], g[j]) for j in range(1, len(g))) if s.length > 1)
    twice.loc[twice.index[3], "geometry"] = shapely.Point(shapely.get_coordinates(shared)[0])
    with pytest.raises(microgrid.InputError, match="more than one area"):
        microgrid.partition_many(twice, areas, area_id_col="area_id", progress=False)
    hdup = hh.copy()
    hdup.loc[hdup.index[5], "household_id"] = hdup["household_id"].iat[900]
    with pytest.raises(microgrid.InputError, match="not unique across the district"):
        microgrid.partition_many(hdup, areas, area_id_col="area_id", progress=False)
    with pytest.raises(microgrid.InputError, match="clashes with an output column"):
        microgrid.partition_many(
            hh, areas.rename(columns={"area_id": "grid_id"}), area_id_col="grid_id", progress=False
        )
    with pytest.raises(microgrid.InputError, match="n_grids cannot be used"):
        microgrid.partition_many(hh, areas, area_id_col="area_id", n_grids=3, progress=False)
    with pytest.raises(microgrid.InputError, match="unknown batch output"):
        microgrid.partition_many(hh, areas, area_id_col="area_id", out="x.csv", progress=False)


@pytest.mark.parametrize("outside", ["error", "nearest"])
def test_overlapping_areas_are_refused(district, outside):
    # output grids used to overlap by as much as the areas did (37,974 m2 for 38,000), exit 0, nothing said
    hh, areas, roads = district
    g = areas.geometry.to_numpy()
    j = next(j for j in range(1, len(g)) if shapely.intersection(g[0], g[j]).length > 1)
    grown = areas.copy()
    grown.loc[0, "geometry"] = shapely.union(g[0], shapely.intersection(shapely.buffer(g[0], 30), g[j]))
    want = shapely.area(shapely.intersection(grown.geometry.iloc[0], g[j]))
    assert want > 1000
    with pytest.raises(
        microgrid.InputError,
        match=rf"areas overlap: 'V001' and '{areas['area_id'].iat[j]}' by "
        rf"{want:,.1f} m2.*repair",
    ) as exc:
        microgrid.partition_many(hh, grown, roads, area_id_col="area_id", outside=outside, progress=False)
    assert "more than one area" not in str(exc.value)  # refused for the areas, before any household is placed
    # in lon/lat the overlap is still measured in square metres
    with pytest.raises(microgrid.InputError, match=r"areas overlap: .* by [\d,]+\.\d m2"):
        microgrid.partition_many(
            hh.to_crs(4326), grown.to_crs(4326), area_id_col="area_id", outside=outside, progress=False
        )


def test_outside_drop_lists_the_households(tmp_path, district, client):
    hh, areas, roads = district
    far = hh.copy()
    far.loc[far.index[7], "geometry"] = shapely.Point(0, 0)
    res = microgrid.partition_many(
        far, areas, roads, area_id_col="area_id", outside="drop", client=client, progress=False
    )
    assert res.ok
    assert res.dropped == [far["household_id"].iat[7]]
    assert any("left out" in n for n in res.notes)
    assert len(res.read("households")) == len(hh) - 1


def test_existing_non_batch_file_is_not_touched(tmp_path, district, sample_plan):
    hh, areas, _ = district
    out = tmp_path / "plan.gpkg"
    sample_plan.to_file(out)
    with pytest.raises(microgrid.InputError, match="not a partition_many output"):
        microgrid.partition_many(hh, areas, area_id_col="area_id", out=out, progress=False)


# ---------------------------------------------------------------- command line


def _many_args(src, out, *more, roads: bool = True) -> list[str]:
    """``partition-many`` over the layers households, areas (and roads) of ``src``, then ``more``."""
    args = ["partition-many", "--households", f"{src}#households", "--areas", f"{src}#areas", "--area-id", "area_id"]
    if roads:
        args += ["--barriers", f"{src}#roads"]
    return [*args, "--out", str(out), *map(str, more)]


def test_cli_partition_many(tmp_path, district, scheduler, capsys):
    hh, areas, roads = district
    src = write_layers(tmp_path / "in.gpkg", households=hh, areas=areas, roads=roads)
    out = tmp_path / "out.gpkg"
    args = _many_args(src, out, "--scheduler", scheduler, "--no-progress")
    assert main(args) == 0
    txt = capsys.readouterr().out
    assert f"{N_AREAS} areas: {N_AREAS} ok" in txt
    assert main(args) == 0
    assert f"({N_AREAS} done earlier)" in capsys.readouterr().out
    # exit 2 on bad input, no traceback
    assert main([*args[:6], "nope", *args[7:]]) == 2
    err = capsys.readouterr().err
    assert "no column 'nope'" in err and "Traceback" not in err
    assert main([*args, "--workers", "2"]) == 2
    # exit 3 when areas are infeasible (and none failed otherwise)
    limits = ["--min-persons", "5000", "--max-persons", "6000", "--overwrite"]
    assert main([*args[:-3], *limits, "--scheduler", scheduler, "--no-progress"]) == 3
    assert "infeasible" in capsys.readouterr().out


def test_cli_local_cluster_subprocess(tmp_path):
    """The default: a LocalCluster sized by --workers, a progress bar on stderr."""
    hh, areas, roads = microgrid.samples.make_district(2, 400, seed=5)
    src = write_layers(tmp_path / "in.gpkg", households=hh, areas=areas)
    out = tmp_path / "out.gpkg"
    r = run_cli(*_many_args(src, out, "--workers", "1", roads=False), timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 areas: 2 ok" in r.stdout
    assert "areas" in r.stderr and "2/2" in r.stderr  # the tqdm bar
    g = gpd.read_file(out, layer="grids", engine="pyogrio")
    assert set(g["area_id"]) == {"V001", "V002"}


# ---------------------------------------------------------------- PostGIS (when a server is given)


def test_postgis_output(district, client):
    url = os.environ.get("MICROGRID_TEST_POSTGIS_URL")
    if not url:
        if os.environ.get("MICROGRID_REQUIRE_POSTGIS") == "1":
            pytest.fail("MICROGRID_REQUIRE_POSTGIS=1 but MICROGRID_TEST_POSTGIS_URL is not set")
        pytest.skip("set MICROGRID_TEST_POSTGIS_URL=postgresql://user:pw@host:port/db (with PostGIS) to run")
    pytest.importorskip("geoalchemy2")
    import sqlalchemy as sa

    hh, areas, roads = district
    prefix = f"batch_{os.getpid()}_{int(time.time() * 1000) % 10**8}_"
    out = f"{url}#{prefix}"
    try:
        res = microgrid.partition_many(hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False)
        assert res.ok, res.summary_text()
        assert [p.rsplit(".", 1)[1] for p in res.paths] == [
            f"{prefix}grids",
            f"{prefix}households",
            f"{prefix}areas_status",
        ]
        _check_areas(res, district)
        again = microgrid.partition_many(
            hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False
        )
        assert again.summary["skipped"].all()
        assert len(again.read("households")) == len(hh)
    finally:
        eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with eng.begin() as con:
            for t in ("grids", "households", "areas_status"):
                con.execute(sa.text(f'DROP TABLE IF EXISTS "{prefix}{t}"'))
        eng.dispose()


# ---------------------------------------------------------------- a worker dies mid-run (last: it kills one)


def _n_written(path) -> int:
    """Status rows written so far (read while the batch writes: a locked or half-made file counts 0)."""
    import sqlite3

    if not path.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
        try:
            return int(con.execute("SELECT count(*) FROM areas_status").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_killing_a_worker_mid_run_does_every_area_once(tmp_path, client):
    """SIGKILL the worker busy with an area: Dask reruns its task elsewhere, the output has each area once."""
    district = microgrid.samples.make_district(8, 700, seed=6)
    hh, areas, roads = district
    pids = client.run(os.getpid)  # worker address -> process id
    out = tmp_path / "d.gpkg"
    box: dict = {}

    def run():
        try:
            box["res"] = microgrid.partition_many(
                hh, areas, roads, area_id_col="area_id", out=out, client=client, progress=False, flush_seconds=0.0
            )
        except BaseException as exc:  # surfaced in the test thread below
            box["exc"] = exc

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and t.is_alive() and time.monotonic() < deadline:
        busy = {w: ts for w, ts in client.processing().items() if ts}
        if _n_written(out) >= 1 and busy:  # an area finished and another is running: kill the worker running it
            w = next(iter(busy))
            os.kill(pids[w], signal.SIGKILL)
            killed = (w, busy[w])
        time.sleep(0.02)
    t.join(timeout=120)
    assert not t.is_alive()
    if "exc" in box:
        raise box["exc"]
    assert killed is not None, "the run ended before a worker could be killed"
    res = box["res"]
    assert res.ok, res.summary_text()
    assert res.counts["ok"] == 8
    _check_areas(res, district)
    # the area that was running on the killed worker was finished by another process
    w, keys = killed
    victims = [areas["area_id"].iat[int(str(k).rsplit("-", 1)[1])] for k in keys]
    assert victims
    for aid in victims:
        assert not res.summary.loc[aid, "worker"].endswith(f":{pids[w]}"), (aid, res.summary.loc[aid, "worker"])
    status = res.read("areas_status")
    assert status["area_id"].value_counts().max() == 1
    grids = res.read("grids")
    assert not grids.duplicated(subset=["grid_id"]).any()
    cols = [c for c in grids.columns if c != "geometry"]
    assert not pd.DataFrame(grids[cols]).duplicated().any()


# ---------------------------------------------------------------- codes and logs of the command line


def test_cli_codes_unique_across_areas_and_no_dask_logs(tmp_path):
    """Without --code-prefix-col every area gets its own prefix; Dask's INFO lines only with -v."""
    hh, areas, roads = microgrid.samples.make_district(3, 250, seed=4)
    src = write_layers(tmp_path / "d.gpkg", households=hh, areas=areas.drop(columns=["code_prefix"]), roads=roads)
    out = tmp_path / "out.gpkg"
    r = run_cli(*_many_args(src, out, "--workers", "1", "--no-progress", "--code-prefix", "110108001000"))
    assert r.returncode == 0, r.stderr
    assert "distributed" not in r.stderr and "INFO" not in r.stderr, r.stderr
    grids = gpd.read_file(out, layer="grids")
    assert grids["code"].is_unique, grids["code"].tolist()
    first = {aid: g["code"].str[:12].unique().tolist() for aid, g in grids.groupby("area_id")}
    assert first == {"V001": ["110108001001"], "V002": ["110108001002"], "V003": ["110108001003"]}
    assert "prefix" in r.stdout


def test_shared_code_prefixes_refused(tmp_path):
    hh, areas, roads = microgrid.samples.make_district(3, 250, seed=4)
    areas = areas.assign(code_prefix="110108001001")
    with pytest.raises(microgrid.InputError, match="share a code_prefix"):
        microgrid.partition_many(
            hh,
            areas,
            roads,
            area_id_col="area_id",
            code_prefix_col="code_prefix",
            out=tmp_path / "x.gpkg",
            progress=False,
        )


def test_outside_snap_is_nearest(tmp_path):
    hh, areas, roads = microgrid.samples.make_district(3, 250, seed=4)
    with pytest.raises(microgrid.InputError, match="'nearest' \\(or its synonym 'snap'\\)"):
        microgrid.partition_many(hh, areas, roads, area_id_col="area_id", outside="closest", out=None)
