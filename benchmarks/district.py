"""District batch on Dask: wall time, peak memory and speed-up of partition_many for 1 and 2 workers.

Run: python benchmarks/district.py [--areas 200] [--per-area 2000] [--workers 1 2] [--runs 1]

The district is ``microgrid.samples.make_district(areas, per_area, seed=1)``
(200 x 2,000 = 400,000 households by default). Each run starts a fresh
``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)``, runs
``partition_many`` into a new GeoPackage and checks the output (every area
ok, every household written once).

*batch s* is the wall time of ``partition_many`` (splitting the district,
partitioning on the workers, writing the GeoPackage); *cluster s* is the
start of the LocalCluster, reported apart. *peak RSS* is the largest sum of
the resident memory of the driver and all its child processes (nannies and
workers), sampled every 0.2 s with psutil; RSS counts shared pages (the
Python interpreter, libraries) once per process, so the sum overstates the
memory really used. *speed-up* is the median batch time of 1 worker over the
median of N workers. Targets (issue #7): 400,000 households in <= 300 s with
2 workers, peak <= 8 GB, speed-up 1 -> 2 workers >= 1.7x.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import machine

import microgrid


class Monitor:
    """Sampled in a thread: the largest sum of RSS over this process and its descendants, and CPU use.

    ``ours_cpu``: CPU seconds of this process and its descendants (the last
    reading of each process); ``driver_cpu``: of this process alone (it runs
    the Dask scheduler, gathers results and writes the output); ``others_cpu``: CPU seconds the whole machine
    was busy with anything else meanwhile (other users' work on a shared box).
    """

    def __init__(self, every: float = 0.2):
        import psutil

        self.psutil = psutil
        self.proc = psutil.Process()
        self.every = every
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    ct = p.cpu_times()
                    self.cpu[p.pid] = ct.user + ct.system
            except self.psutil.Error:  # a process that just ended
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    @staticmethod
    def _busy(ct) -> float:
        return sum(ct) - ct.idle - getattr(ct, "iowait", 0.0)

    def __enter__(self):
        self.cpu0 = sum(self.proc.cpu_times()[:2])
        self.sys0 = self._busy(self.psutil.cpu_times())
        self.t0 = time.perf_counter()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._sample())
        self.wall = time.perf_counter() - self.t0
        self.ours_cpu = sum(self.cpu.values()) - self.cpu0
        self.driver_cpu = sum(self.proc.cpu_times()[:2]) - self.cpu0
        self.others_cpu = max(0.0, self._busy(self.psutil.cpu_times()) - self.sys0 - self.ours_cpu)


#: how the benchmark calls partition_many (besides out and client)
BATCH = dict(area_id_col="area_id", code_prefix_col="code_prefix", progress=False)


def one_run(district, workers: int, out: Path) -> dict:
    from dask.distributed import Client

    from microgrid.batch import local_cluster

    with Monitor() as mem:
        t0 = time.perf_counter()
        cluster = local_cluster(workers)
        client = Client(cluster)
        client.wait_for_workers(workers)
        t1 = time.perf_counter()
        try:
            res = microgrid.partition_many(*district, out=out, client=client, overwrite=True, **BATCH)
        finally:
            t2 = time.perf_counter()
            client.close()
            cluster.close()
    con = sqlite3.connect(out)
    n_hh = con.execute("SELECT count(*), count(DISTINCT household_id) FROM households").fetchone()
    n_grids = con.execute("SELECT count(*) FROM grids").fetchone()[0]
    con.close()
    if not res.ok:  # reported in the table, not hidden
        print(res.summary_text(), flush=True)
    ok = res.summary["status"] == "ok"
    assert n_hh[0] == n_hh[1] == int(res.summary.loc[ok, "households"].sum()), n_hh
    return {
        "cluster": t1 - t0,
        "batch": t2 - t1,
        "peak_mb": mem.peak / 2**20,
        "grids": n_grids,
        "area_s": float(res.summary["seconds"].sum()),
        "ok": int(ok.sum()),
        "households": n_hh[0],
        "others": mem.others_cpu / mem.wall,
        "driver_cpu": mem.driver_cpu,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--areas", type=int, default=200)
    ap.add_argument("--per-area", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    t = time.perf_counter()
    district = microgrid.samples.make_district(a.areas, a.per_area, seed=1)
    t_make = time.perf_counter() - t
    n_hh = len(district[0])
    print(f"machine: {machine()}; load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"district: {a.areas} areas x {a.per_area} households = {n_hh:,} households, "
        f"{int(district[0]['persons'].sum()):,} persons (made in {t_make:.1f} s)"
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for w in a.workers:
            runs = []
            for r in range(a.runs):
                runs.append(one_run(district, w, Path(tmp) / f"district_{w}_{r}.gpkg"))
                print(
                    f"  {w} worker(s), run {r + 1}: batch {runs[-1]['batch']:.1f} s, cluster start "
                    f"{runs[-1]['cluster']:.1f} s, peak RSS {runs[-1]['peak_mb']:.0f} MB, other processes "
                    f"used {runs[-1]['others']:.2f} cores meanwhile",
                    flush=True,
                )
            results[w] = runs
    base = float(np.median([r["batch"] for r in results[a.workers[0]]]))
    print()
    print(
        "| workers | households | runs | batch s (median) | cluster start s | households/s | areas' own "
        "partition s (sum) | peak RSS MB (driver+workers) | areas ok | households written | grids | other load "
        "(cores) | driver CPU s | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w, runs in results.items():
        b = float(np.median([r["batch"] for r in runs]))
        others = ", ".join(f"{r['others']:.2f}" for r in runs)
        print(
            f"| {w} | {n_hh:,} | {len(runs)} | {b:.1f} | {np.median([r['cluster'] for r in runs]):.1f} | "
            f"{n_hh / b:,.0f} | {np.median([r['area_s'] for r in runs]):.1f} | "
            f"{max(r['peak_mb'] for r in runs):,.0f} | {min(r['ok'] for r in runs)}/{a.areas} | "
            f"{min(r['households'] for r in runs):,} | {runs[0]['grids']:,} | {others} | "
            f"{np.median([r['driver_cpu'] for r in runs]):.1f} | {base / b:.2f}x |"
        )
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
