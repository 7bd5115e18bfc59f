"""Household ledgers: CSV folder and XLSX workbook, from the library and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

import microgrid
from microgrid.cli import main


@pytest.fixture(scope="module")
def plan():
    hh, bnd, roads, marks = microgrid.samples.make_village(700, seed=8)
    hh["address"] = [f"{i}号" for i in range(len(hh))]  # a passthrough column
    return microgrid.partition(hh, bnd, roads, marks, code_prefix="110108001002")


def test_table_has_every_household_once_with_its_grid(plan):
    t = microgrid.ledger_table(plan.grids, plan.households)
    assert sorted(t["household_id"]) == sorted(plan.households["household_id"])
    assert "address" in t.columns
    merged = t.merge(plan.grids[["grid_id", "code"]], on="grid_id", suffixes=("", "_g"))
    assert (merged["code"] == merged["code_g"]).all()
    assert list(t["code"]) == sorted(t["code"])


def test_csv_folder(plan, tmp_path):
    paths = microgrid.write_ledger(plan.grids, plan.households, tmp_path / "ledger")
    assert len(paths) == 1 + plan.n_grids
    allrows = pd.read_csv(paths[0], encoding="utf-8-sig", dtype={"code": str})
    assert len(allrows) == len(plan.households)
    per = sum(len(pd.read_csv(p, encoding="utf-8-sig")) for p in paths[1:])
    assert per == len(plan.households)
    g1 = pd.read_csv(tmp_path / "ledger" / f"{plan.grids['code'].iloc[0]}.csv", encoding="utf-8-sig")
    assert g1["persons"].sum() == plan.grids["persons"].iloc[0]


def test_xlsx(plan, tmp_path):
    pytest.importorskip("openpyxl")
    (out,) = microgrid.write_ledger(plan.grids, plan.households, tmp_path / "l.xlsx")
    sheets = pd.read_excel(out, sheet_name=None, dtype={"code": str})
    assert len(sheets) == plan.n_grids + 1
    assert sheets["summary"]["persons"].sum() == plan.grids["persons"].sum()


def test_cli_ledger(plan, tmp_path, capsys):
    path = tmp_path / "p.gpkg"
    plan.to_file(path)
    assert main(["ledger", str(path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "ledger.csv").exists()
    assert main(["ledger", str(path), "--out", str(tmp_path / "x.txt")]) == 2
    assert "folder or an .xlsx" in capsys.readouterr().err
