"""Team assignment: optimal (checked against brute force), residents preferred, shortfalls reported."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import microgrid
from microgrid.teams import assign_teams

CRS = 32650


def _grids(n):
    return gpd.GeoDataFrame(
        {"grid_id": list(range(1, n + 1))},
        geometry=[shapely.box(100 * i, 0, 100 * i + 100, 100) for i in range(n)],
        crs=CRS,
    )


def _people(xy, roles):
    return gpd.GeoDataFrame(
        {"person_id": [f"p{i}" for i in range(len(xy))], "role": roles}, geometry=shapely.points(xy), crs=CRS
    )


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.integers(2, 3), st.lists(st.tuples(st.floats(-50, 350), st.floats(-80, 180)), min_size=1, max_size=6))
def test_optimal_against_brute_force(n_grids, xy):
    grids = _grids(n_grids)
    people = _people(xy, ["worker"] * len(xy))
    t = assign_teams(grids, people, composition={"worker": 2})
    # brute force over all ways to give slots to people
    slots = [g for g in range(n_grids) for _ in range(2)]
    d = shapely.distance(people.geometry.to_numpy()[:, None], grids.geometry.to_numpy()[None, :])
    k = min(len(xy), len(slots))
    best = min(
        sum(d[p, slots[s]] for p, s in zip(ps, ss))
        for ps in itertools.permutations(range(len(xy)), k)
        for ss in itertools.combinations(range(len(slots)), k)
    )
    assert t.total_distance_m == pytest.approx(best, abs=1e-6)
    assert len(t.members) == k
    assert t.shortfalls["missing"].sum() == len(slots) - k


def test_residents_preferred_and_shortfalls():
    grids = _grids(2)
    people = _people([(50, 50), (150, 50), (160, 50), (400, 50)], ["leader", "leader", "worker", "volunteer"])
    t = assign_teams(grids, people)
    leaders = dict(
        zip(
            t.members.loc[t.members.role == "leader", "grid_id"], t.members.loc[t.members.role == "leader", "person_id"]
        )
    )
    assert leaders == {1: "p0", 2: "p1"}
    assert (t.members.loc[t.members.role == "leader", "distance_m"] == 0).all()
    short = t.shortfalls.set_index(["grid_id", "role"])["missing"].to_dict()
    assert short[(1, "worker")] + short[(2, "worker")] == 5  # 6 worker slots, 1 worker
    assert short[(1, "volunteer")] + short[(2, "volunteer")] == 3


def test_bad_people_input():
    with pytest.raises(microgrid.InputError, match="role"):
        assign_teams(_grids(1), _people([(1, 1)], ["leader"]).drop(columns="role"))
    dup = _people([(1, 1), (2, 2)], ["leader", "leader"]).assign(person_id=["a", "a"])
    with pytest.raises(microgrid.InputError, match="duplicate person ids"):
        assign_teams(_grids(1), dup)
    with pytest.raises(microgrid.InputError, match="whole numbers"):
        assign_teams(_grids(1), _people([(1, 1)], ["leader"]), composition={"leader": -1})


def test_on_a_plan():
    hh, bnd, roads, marks = microgrid.samples.make_village(600, seed=2)
    plan = microgrid.partition(hh, bnd, roads, marks)
    rng = np.random.default_rng(0)
    homes = plan.households.sample(60, random_state=1)
    people = gpd.GeoDataFrame(
        {"person_id": range(60), "role": rng.choice(["leader", "worker", "volunteer"], 60)},
        geometry=homes.geometry.to_numpy(),
        crs=homes.crs,
    )
    t = assign_teams(plan.grids, people)
    assert set(t.members["grid_id"]) <= set(plan.grids["grid_id"])
    assert t.members["person_id"].is_unique
    per = t.members.groupby(["grid_id", "role"]).size()
    assert (per <= per.index.get_level_values("role").map({"leader": 1, "worker": 3, "volunteer": 2})).all()


def test_cli_staff(tmp_path, capsys):
    from microgrid.cli import main

    grids = _grids(2)
    plan_path = tmp_path / "p.gpkg"
    grids.to_file(plan_path, layer="grids")
    ppl = tmp_path / "people.gpkg"
    _people([(50, 50), (150, 50)], ["leader", "leader"]).to_file(ppl)
    out = tmp_path / "teams.csv"
    assert main(["staff", str(plan_path), "--people", str(ppl), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "2 people assigned" in text and "worker(s) missing" in text
    assert out.exists()
    assert main(["staff", str(plan_path), "--people", str(ppl), "--composition", "leader=1"]) == 2
