"""`locator coverage` on the Beijing sample: the summary table and every export file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from locator.cli import app


@pytest.mark.slow
def test_coverage_command_prints_and_exports(
    sample_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "LOCATOR_DATABASE_URL", sample_engine.url.render_as_string(hide_password=False)
    )
    out = tmp_path / "cov"
    result = CliRunner().invoke(
        app,
        ["coverage", "--radius", "800", "--level", "district", "--level", "subdistrict",
         "--gap-threshold", "30", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "110108 海淀区 Haidian" in result.output and "all" in result.output
    districts = pd.read_csv(out / "areas_district.csv")
    assert len(districts) == 16 and districts["workers"].sum() == 400_022
    assert {"covered_800", "share_800", "access_2sfca", "suppressed"} <= set(districts.columns)
    layers = set(pyogrio.list_layers(out / "coverage.gpkg")[:, 0])
    assert layers == {"areas_district", "areas_subdistrict", "gaps", "gap_cells"}
    gaps = gpd.read_file(out / "gaps.geojson")
    assert (gaps["uncovered_workers"] >= 30).all() and gaps.crs.to_epsg() == 4326
    totals = json.loads((out / "totals.json").read_text())
    assert totals["totals"]["workers"] == 400_022
    assert (pd.read_csv(out / "heat.csv")["workers"] >= 10).all()
    bad = CliRunner().invoke(app, ["coverage", "--radius", "-1", "--out", str(out)])
    assert bad.exit_code != 0
    assert "radii_m -1.0" in str(bad.exception)
