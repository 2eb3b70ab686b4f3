"""The embedded cluster and the database commands, run as a user runs them."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from locator.cluster import EmbeddedCluster
from locator.errors import MissingBinariesError
from tests.conftest import TEST_STATE_DIR
from tests.helpers import station, write_geojson


def run_cli(*args, env_extra, check=True):
    env = {k: v for k, v in os.environ.items() if k != "LOCATOR_DATABASE_URL"}
    env.update(env_extra)
    result = subprocess.run(
        [sys.executable, "-m", "locator.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"locator {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def lifecycle_state_dir():
    state_dir = TEST_STATE_DIR / "lifecycle"
    yield state_dir
    EmbeddedCluster(state_dir).destroy()


def test_down_then_up_keeps_the_data(lifecycle_state_dir, tmp_path):
    env = {"LOCATOR_STATE_DIR": str(lifecycle_state_dir)}
    run_cli("db", "up", env_extra=env)
    run_cli("db", "up", env_extra=env)  # idempotent
    path = write_geojson(tmp_path / "s.geojson", [station("KEEP1", 116.4, 39.9)])
    run_cli("load", "stations", str(path), env_extra=env)
    run_cli("db", "down", env_extra=env)
    stopped = run_cli("db", "status", env_extra=env, check=False)
    assert stopped.returncode == 3 and "running: False" in stopped.stdout
    run_cli("db", "up", env_extra=env)
    assert "running: True" in run_cli("db", "status", env_extra=env).stdout
    url = EmbeddedCluster(lifecycle_state_dir).url()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM stations")).scalars().all() == ["KEEP1"]
    engine.dispose()


def test_up_twice_returns_the_same_url_quickly(cluster):
    assert cluster.up() == cluster.up()
    assert cluster.status().running


def test_missing_binaries_name_the_packages(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(MissingBinariesError, match="postgresql-15-postgis-3"):
        EmbeddedCluster(tmp_path / "state", bin_dir=empty).up()


def test_database_url_is_used_and_no_private_server_starts(cluster, tmp_path):
    cluster.drop_database("locator_second")
    url = cluster.create_database("locator_second")
    state_dir = tmp_path / "state"
    env = {"LOCATOR_DATABASE_URL": url, "LOCATOR_STATE_DIR": str(state_dir)}
    path = write_geojson(tmp_path / "s.geojson", [station("EXT1", 116.4, 39.9)])
    run_cli("load", "stations", str(path), env_extra=env)
    assert "external database" in run_cli("db", "status", env_extra=env).stdout
    assert not (state_dir / "pgdata").exists()
    refused = run_cli("db", "down", env_extra=env, check=False)
    assert refused.returncode == 1 and "LOCATOR_DATABASE_URL is set" in refused.stderr
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT code FROM stations")).scalars().all() == ["EXT1"]
    engine.dispose()
    cluster.drop_database("locator_second")


def test_cli_reports_every_bad_row_and_exits_1(cluster, tmp_path):
    cluster.drop_database("locator_cli")
    url = cluster.create_database("locator_cli")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name_zh,kind,opening_hours,lon,lat\n"
        "B1,好,smart_24h,24/7,116.4,39.9\n"
        "B2,坏,spaceship,24/7,116.4,39.9\n"
        "B3,坏,union_post,Mo-Fx 09:00,116.4,39.9\n"
        "B4,坏,union_post,24/7,116.4,95.0\n"
    )
    result = run_cli(
        "load",
        "stations",
        str(bad),
        "--crs",
        "wgs84",
        env_extra={"LOCATOR_DATABASE_URL": url},
        check=False,
    )
    assert result.returncode == 1
    assert "3 problems, nothing was stored" in result.stderr
    for needle in (
        "row 2, field 'kind'",
        "row 3, field 'opening_hours'",
        "row 4, field 'geometry'",
    ):
        assert needle in result.stderr
    assert "Traceback" not in result.stderr
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stations")).scalar_one() == 0
    engine.dispose()
    cluster.drop_database("locator_cli")
