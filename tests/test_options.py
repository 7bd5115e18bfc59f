"""One record of options: every face takes the same names with the same defaults; a plan replays from its record."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import microgrid
from microgrid.cli import _build_parser
from microgrid.options import Level, PartitionOptions

FIELDS = {f.name: f.default for f in dataclasses.fields(PartitionOptions) if f.name != "rng"}

#: options a face takes in another form, and why
CLI_FORMS = {"levels": "--level NAME:MIN:MAX, repeatable", "refine": "--no-refine"}


def _partition_parser(command: str = "partition"):
    sub = next(a for a in _build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices[command]


def test_library_signature_matches_the_record():
    params = inspect.signature(microgrid.partition).parameters
    for name, default in FIELDS.items():
        assert name in params, f"partition() lacks option {name}"
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        want = None if default is None else default
        assert params[name].default == want, (name, params[name].default, want)


def test_every_option_reachable_from_the_cli_with_the_same_default():
    acts = {a.dest: a for a in _partition_parser()._actions}
    for name, default in FIELDS.items():
        if name in CLI_FORMS:
            continue
        assert name in acts, f"CLI partition has no --{name.replace('_', '-')}"
        assert acts[name].default == default, (name, acts[name].default, default)
    assert acts["refine"].default is True and "--no-refine" in acts["refine"].option_strings
    assert "level" in acts


def test_partition_many_defaults_match():
    params = inspect.signature(microgrid.partition_many).parameters
    shared = [n for n in FIELDS if n in params]
    assert {"min_persons", "max_persons", "seed", "id_col", "persons_col", "outside", "code_prefix"} <= set(shared)
    for name in shared:
        if name == "outside":  # partition_many adds "nearest" for households between areas; same default
            assert params[name].default == FIELDS[name]
            continue
        assert params[name].default == FIELDS[name], name
    # the rest pass through **partition_kwargs to partition()
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_partition_many_cli_takes_every_batchable_option():
    """partition-many's flags: each option an area's partition takes, same default, passed through."""
    not_batched = {
        "levels": "one level per area; the areas are the parents",
        "n_grids": "every area gets its own grid count",
        "parent_id_col": "the areas are the parents",
        "input_crs": "GCJ-02/BD-09 input is converted first (microgrid.crs.to_wgs84)",
    }
    acts = {a.dest: a for a in _partition_parser("partition-many")._actions}
    for name, default in FIELDS.items():
        if name in not_batched:
            continue
        assert name in acts, f"CLI partition-many has no --{name.replace('_', '-')}"
        assert acts[name].default == default, (name, acts[name].default, default)


def test_partition_many_cli_passes_the_search_options(monkeypatch):
    import microgrid.batch as batch
    from microgrid.cli import main

    seen = {}

    class Called(Exception):
        pass

    def fake_partition_many(*layers, **kw):
        seen.update(kw)
        raise Called

    monkeypatch.setattr(batch, "partition_many", fake_partition_many)
    args = ["partition-many", "--households", "h.gpkg", "--areas", "a.gpkg", "--area-id", "id", "--out", "o.gpkg"]
    monkeypatch.setattr("microgrid.cli._read_input", lambda a, x, w: x)
    search = ["--compactness", "0.2", "--tries", "9", "--restarts", "1", "--no-refine", "--snap-tolerance", "3"]
    with pytest.raises(Called):
        main([*args, *search, "--default-persons", "3"])
    got = {k: seen[k] for k in ("compactness", "tries", "restarts", "refine", "snap_tolerance", "default_persons")}
    assert got == {
        "compactness": 0.2,
        "tries": 9,
        "restarts": 1,
        "refine": False,
        "snap_tolerance": 3.0,
        "default_persons": 3,
    }


def test_service_request_matches_the_record():
    pytest.importorskip("fastapi")
    from microgrid.service import PartitionRequest

    model = PartitionRequest.model_fields
    not_served = {
        "levels": "nested levels are a CLI/library feature; the service answers one level",
        "parent_id_col": "parents are not taken by the service",
    }
    for name, default in FIELDS.items():
        if name in not_served:
            continue
        assert name in model, f"the service's partition request lacks {name}"
        if name != "crs":  # the service's crs is the GeoJSON's, default WGS84
            assert model[name].default == default, (name, model[name].default, default)


def test_options_checked_in_one_place():
    with pytest.raises(microgrid.InputError) as ei:
        PartitionOptions(min_persons=-1, tries=0, compactness=float("nan"), divide_sites="often", outside="keep")
    text = str(ei.value)
    for word in ("min_persons", "tries", "compactness", "divide_sites", "outside"):
        assert word in text
    with pytest.raises(microgrid.InputError, match="unknown options: colour"):
        PartitionOptions.from_kwargs(colour="red")
    assert PartitionOptions.from_kwargs(oversize="flag").divide_sites == "never"
    assert PartitionOptions.from_kwargs(stack_col="dy").entrance_col == "dy"


def test_plan_replays_from_its_options(sample_village, tmp_path):
    plan = microgrid.partition(*sample_village, min_persons=180, max_persons=280, compactness=0.3, tries=4, seed=7)
    assert plan.options == PartitionOptions(min_persons=180, max_persons=280, compactness=0.3, tries=4, seed=7)
    again = microgrid.partition(*sample_village, options=plan.options)
    assert again.households["grid_id"].tolist() == plan.households["grid_id"].tolist()
    # through a file: the options, input digests and version are stored; read_plan gives a Plan back
    path = plan.to_file(tmp_path / "p.gpkg")[0]
    back = microgrid.read_plan(path)
    assert isinstance(back, microgrid.Plan) and back.options == plan.options
    assert back.params["inputs"] == plan.params["inputs"] and back.report.ok
    replay = microgrid.partition(*sample_village, options=back.options)
    assert replay.households["grid_id"].tolist() == plan.households["grid_id"].tolist()
    # keywords given with options (other than their defaults) override it
    assert microgrid.partition(*sample_village, options=plan.options, max_persons=320).options.max_persons == 320


def test_read_plan_round_trip_with_levels_and_divided_sites(tmp_path):
    hh, bnd, roads, marks = microgrid.samples.make_community(30, seed=4)
    plan = microgrid.partition(hh, bnd, roads, marks, levels=[Level("grid", 800, 1500), Level("micro", 200, 300)])
    path = plan.to_file(tmp_path / "p.gpkg")[0]
    back = microgrid.read_plan(path)
    assert set(back.layers) == set(plan.layers)
    assert back.options.levels == plan.options.levels
    assert len(back.divided_sites) == len(plan.divided_sites)
    assert back.report.ok
    back.to_file(tmp_path / "again.gpkg")
    assert microgrid.read_plan(tmp_path / "again.gpkg").n_grids == plan.n_grids


def test_real_extract_replays(osm_dir):
    f = osm_dir / "zju_hangzhou.gpkg"
    if not f.exists():
        pytest.skip(f"{f} not found")
    hh = microgrid.estimate_households(f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0)
    plan = microgrid.partition(hh, f"{f}#export_bbox", f"{f}#roads")
    again = microgrid.partition(hh, f"{f}#export_bbox", f"{f}#roads", options=plan.options)
    assert again.households["grid_id"].tolist() == plan.households["grid_id"].tolist()
