"""All six miners on a small synthetic world: moto for AWS, a fake bureau on loopback, DuckDB.

Each test mines through the real Lambda handlers with the event shape EventBridge sends.
"""

import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from credo import constants as c
from credo.fake_bureau import FIXTURE_PATH, FakeBureau
from credo.local import LocalLambdaContext, drop_world_files, load_handler, scheduled_event
from credo.miners import MINERS, PENDING_LOOKUPS_KEY
from credo.mining import backfill_slices, finish_backfill, mine, mine_drops, mine_file, mine_slice
from credo.privacy import tokenize_key
from credo.settings import CredoSettings
from credo.sources import open_source_database
from credo.synthetic import WorldConfig, generate_world
from credo.warehouse import count_rows, load_lake
from credo.warehouse.duckdb import DuckDBWarehouse

Aws = Any  # tests/integration/conftest.py

WORLD = WorldConfig(customers=600, seed=3, months=14)
DROPS_BUCKET = "credo-drops-test"
LINKAGE_SECRET = "credo/linkage-key-test"
BUREAU_SECRET = "credo/bureau-test"
PII_COLUMNS = ("full_name", "email", "phone", "street_address")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WORLD, out, progress=False)
    return out


@pytest.fixture(scope="module")
def world_end(world: Path) -> datetime:
    end = json.loads((world / "world.json").read_text())["config"]["end"]
    return datetime.fromisoformat(end).replace(tzinfo=UTC)


@pytest.fixture
def bureau_failure_rate() -> float:
    return 0.05


@pytest.fixture
def miners_env(
    aws: Aws, world: Path, monkeypatch: pytest.MonkeyPatch, bureau_failure_rate: float
) -> Iterator[FakeBureau]:
    """Everything the six handlers read: the SQLite source, the drops, both keys, a fake bureau."""
    monkeypatch.setenv(c.ENV_SOURCE_DB_URL, f"sqlite:///{world / 'operational.sqlite'}")
    monkeypatch.setenv(c.ENV_DROPS_BUCKET, DROPS_BUCKET)
    monkeypatch.setenv(c.ENV_LINKAGE_SECRET_NAME, LINKAGE_SECRET)
    monkeypatch.setenv(c.ENV_BUREAU_SECRET_NAME, BUREAU_SECRET)
    monkeypatch.setenv(c.ENV_BUREAU_BACKOFF, "0.001")
    monkeypatch.setenv(c.ENV_BUREAU_RATE_LIMIT, "1000")
    aws.s3.ensure_bucket(DROPS_BUCKET)
    aws.secrets.ensure_random_hex(LINKAGE_SECRET)
    settings = CredoSettings()
    drop_world_files(world, settings)
    with FakeBureau(
        world / FIXTURE_PATH,
        api_key="test",
        lookup_key=bytes(range(32)),
        failure_rate=bureau_failure_rate,
        seed=1,
    ) as bureau:
        aws.secrets.put_string(BUREAU_SECRET, bureau.secret_json())
        yield bureau


def run_all(when: datetime) -> dict[str, dict[str, Any]]:
    """Each miner's handler once, as its schedule would call it (a fresh execution environment each)."""
    return {
        source: load_handler(f"mine_{source}").handler(
            scheduled_event(f"credo-mine-{source}", when), LocalLambdaContext()
        )
        for source in MINERS
    }


def warehouse_counts(aws: Aws) -> dict[str, int]:
    with DuckDBWarehouse(s3=aws.s3) as warehouse:
        return {r.table: r.rows_in_table for r in load_lake(warehouse, lake_bucket=aws.lake_bucket)}


def source_count(world: Path, table: str) -> int:
    with sqlite3.connect(world / "operational.sqlite") as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def ad_events(world: Path) -> int:
    return sum(len(pq.read_table(p)) if p.suffix == ".parquet" else sum(1 for _ in p.open()) - 1
               for p in (world / "drops" / "ads").iterdir())  # fmt: skip


def parquet_rows(aws: Aws, prefix: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for key in aws.s3.list_keys(aws.lake_bucket, prefix):
        if key.endswith(".parquet"):
            rows.extend(pq.read_table(io.BytesIO(aws.s3.get_bytes(aws.lake_bucket, key))).to_pylist())
    return rows


def test_given_all_six_miners_when_run_then_every_good_source_row_is_mined_once(
    aws: Aws, world: Path, world_end: datetime, miners_env: FakeBureau
) -> None:
    results = run_all(world_end)

    customers = source_count(world, "registrations")
    assert all(r["complete"] and r["quarantined"] == 0 for r in results.values())
    assert results["registrations"]["good"] == customers
    assert results["orders"]["good"] == source_count(world, "orders")
    assert results["payments"]["good"] == source_count(world, "payments")
    assert results["marketing"]["good"] == ad_events(world)
    assert results["reference"]["good"] == 2 * customers  # one row per customer and registry
    assert results["bureau"]["good"] == customers
    assert results["bureau"]["details"]["bureau_hits"] > 0
    assert results["reference"]["details"]["reference_matches"] > 0


def test_given_a_finished_run_when_run_again_then_nothing_is_written_and_warehouse_counts_hold(
    aws: Aws, world_end: datetime, miners_env: FakeBureau
) -> None:
    run_all(world_end)
    first = warehouse_counts(aws)
    keys = set(aws.s3.list_keys(aws.lake_bucket, ""))

    again = run_all(world_end)

    assert {source: r["good"] + r["quarantined"] for source, r in again.items()} == dict.fromkeys(MINERS, 0)
    assert set(aws.s3.list_keys(aws.lake_bucket, "")) == keys
    assert warehouse_counts(aws) == first


def test_given_watermarks_reset_when_the_window_is_mined_again_then_same_objects_and_no_duplicates(
    aws: Aws, world_end: datetime, miners_env: FakeBureau
) -> None:
    run_all(world_end)
    first = warehouse_counts(aws)
    raw_keys = set(aws.s3.list_keys(aws.lake_bucket, c.RAW_PREFIX))
    for source in MINERS:
        aws.watermarks.delete(source)

    run_all(world_end)

    assert set(aws.s3.list_keys(aws.lake_bucket, c.RAW_PREFIX)) == raw_keys
    assert warehouse_counts(aws) == first


def test_given_a_crash_after_part_of_a_batch_is_written_when_rerun_then_nothing_is_lost_or_duplicated(
    aws: Aws, world: Path, world_end: datetime
) -> None:
    """The miner dies between a window's Parquet part and its manifest; the watermark has not moved."""

    class CrashingS3:
        def __init__(self, inner: Any, crash_on_put: int) -> None:
            self.inner, self.puts, self.crash_on_put = inner, 0, crash_on_put

        def put_bytes(self, bucket: str, key: str, data: bytes, content_type: str = "") -> None:
            self.puts += 1
            if self.puts == self.crash_on_put:
                raise ConnectionError("the execution environment died")
            self.inner.put_bytes(bucket, key, data, content_type)

    db = open_source_database(f"sqlite:///{world / 'operational.sqlite'}")
    options: dict[str, Any] = {
        "db": db, "watermarks": aws.watermarks, "key": aws.key, "now": world_end,
        "lake_bucket": aws.lake_bucket, "batch_rows": 2_000,
    }  # fmt: skip
    try:
        with pytest.raises(ConnectionError):
            mine("orders", s3=CrashingS3(aws.s3, crash_on_put=6), **options)  # 3rd window: part, no manifest
        watermark_after_crash = aws.watermarks.get("orders")
        rerun = mine("orders", s3=aws.s3, **options)
    finally:
        db.close()

    rows = parquet_rows(aws, f"{c.RAW_PREFIX}/orders/")
    orders = source_count(world, "orders")
    assert watermark_after_crash is not None  # the first two windows were finished
    assert rerun.complete
    assert len(rows) == orders == len({row["order_id"] for row in rows})
    assert warehouse_counts(aws)["orders"] == orders


@pytest.mark.parametrize("bureau_failure_rate", [1.0])
def test_given_the_bureau_fails_every_request_then_lookups_are_recorded_unavailable_and_the_run_completes(
    aws: Aws, world: Path, world_end: datetime, miners_env: FakeBureau
) -> None:
    handler = load_handler("mine_bureau")

    result = handler.handler(scheduled_event("credo-mine-bureau", world_end), LocalLambdaContext())

    customers = source_count(world, "registrations")
    rows = parquet_rows(aws, f"{c.RAW_PREFIX}/bureau/")
    assert result["complete"] and result["good"] == customers
    assert result["details"]["bureau_unavailable"] == customers
    assert result["details"]["bureau_retries"] >= 3 * result["details"]["bureau_requests"]  # retried first
    assert {row["status"] for row in rows} == {"unavailable"}
    assert all(row["bureau_score"] is None for row in rows)


def test_given_a_scheduled_run_when_it_ends_then_its_metrics_carry_source_and_environment_for_the_alarms(
    aws: Aws, world_end: datetime, miners_env: FakeBureau, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    load_handler("mine_orders").handler(scheduled_event("credo-mine-orders", world_end), LocalLambdaContext())

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [blob] = [blob for blob in emitted if "RowsQuarantined" in blob]
    # CloudWatch identifies a metric by its set of dimensions; their order in the blob does not matter.
    [dimensions] = blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    assert set(dimensions) == {"service", "source", "environment"}
    assert (blob["source"], blob["environment"]) == ("orders", CredoSettings().environment)


def test_given_registries_then_matches_carry_a_confidence_and_only_non_pii_attributes(
    aws: Aws, world: Path, world_end: datetime, miners_env: FakeBureau
) -> None:
    run_all(world_end)

    rows = parquet_rows(aws, f"{c.RAW_PREFIX}/reference/")
    matched = [row for row in rows if row["matched"]]
    assert set(rows[0]) == {
        "token", "registry", "matched", "match_confidence", "candidates", "category", "turnover_band",
        "registered_on", "updated_at",
    }  # fmt: skip
    assert matched and all(0 < row["match_confidence"] <= 1 for row in matched)
    assert all(row["category"] is None and row["match_confidence"] < 1 for row in rows if not row["matched"])
    links = pq.read_table(world / "evaluation" / "registry_links.parquet").num_rows
    assert 0.6 * links <= len(matched) <= 1.1 * links  # most true links found, few invented


def test_given_a_new_drop_after_the_watermark_then_only_it_is_mined_and_a_bad_row_is_quarantined(
    aws: Aws, world_end: datetime, miners_env: FakeBureau
) -> None:
    first = mine_drops(
        "marketing", s3=aws.s3, watermarks=aws.watermarks, key=aws.key, now=world_end,
        lake_bucket=aws.lake_bucket, drops_bucket=DROPS_BUCKET, prefix=c.ADS_DROP_PREFIX,
    )  # fmt: skip
    late = (
        "event_id,customer_id,campaign_id,channel,sent_at,clicked_at,purchased_order_id\n"
        "AD-LATE-1,CUST00000001,CMP-X,sms,2099-01-01T10:00:00,,\n"
        "AD-LATE-2,CUST00000002,CMP-X,pigeon,2099-01-01T10:00:00,,\n"
    )
    aws.s3.put_bytes(DROPS_BUCKET, f"{c.ADS_DROP_PREFIX}ad_events_2099-01.csv", late.encode())

    second = mine_drops(
        "marketing", s3=aws.s3, watermarks=aws.watermarks, key=aws.key, now=world_end,
        lake_bucket=aws.lake_bucket, drops_bucket=DROPS_BUCKET, prefix=c.ADS_DROP_PREFIX,
    )  # fmt: skip

    assert first.good > 0 and len(second.batches) == 1
    assert (second.good, second.quarantined) == (1, 1)
    assert second.watermark == f"{c.ADS_DROP_PREFIX}ad_events_2099-01.csv"
    quarantine = aws.s3.get_bytes(aws.lake_bucket, second.batches[0].quarantine_key).decode()
    assert "channel" in quarantine and "pigeon" not in quarantine and "CUST00000002" not in quarantine


def test_given_a_users_file_when_imported_twice_then_the_same_objects_are_written_and_no_watermark_moves(
    aws: Aws, world: Path, world_end: datetime, tmp_path: Path
) -> None:
    with sqlite3.connect(world / "operational.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(row) for row in conn.execute("SELECT * FROM orders ORDER BY order_id LIMIT 50")]
    path = tmp_path / "my_orders.csv"
    header = list(rows[0])
    path.write_text(
        ",".join(header) + "\n" + "".join(",".join("" if r[h] is None else str(r[h]) for h in header) + "\n"
                                          for r in rows)
    )  # fmt: skip
    options: dict[str, Any] = {"s3": aws.s3, "key": aws.key, "now": world_end, "lake_bucket": aws.lake_bucket}

    first = mine_file("orders", path, **options)
    keys = set(aws.s3.list_keys(aws.lake_bucket, ""))
    second = mine_file("orders", path, **options)

    assert (first.good, first.quarantined) == (50, 0) and second.good == 50
    assert set(aws.s3.list_keys(aws.lake_bucket, "")) == keys
    assert aws.watermarks.get("orders") is None
    mined = {row["order_id"] for row in parquet_rows(aws, c.RAW_PREFIX)}
    assert mined == {tokenize_key("order_id", r["order_id"], aws.key) for r in rows}


def test_given_every_miner_has_run_then_no_pii_is_in_the_lake_the_warehouse_or_the_logs(
    aws: Aws, world: Path, world_end: datetime, miners_env: FakeBureau, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(world / "operational.sqlite") as conn:
        people = conn.execute(f"SELECT customer_id, {', '.join(PII_COLUMNS)} FROM registrations").fetchall()
    secrets = {value for person in people for value in person}  # raw ids too: only tokens may leave

    run_all(world_end)
    logs = capsys.readouterr()
    lake_text = [json.dumps(parquet_rows(aws, prefix), default=str) for prefix in (c.RAW_PREFIX,)] + [
        aws.s3.get_bytes(aws.lake_bucket, key).decode()
        for key in aws.s3.list_keys(aws.lake_bucket, "")
        if not key.endswith(".parquet")
    ]
    with DuckDBWarehouse(s3=aws.s3) as warehouse:
        load_lake(warehouse, lake_bucket=aws.lake_bucket)
        listing = warehouse.query("SELECT table_name FROM information_schema.tables")
        tables = listing.column("table_name").to_pylist()
        warehouse_text = [
            json.dumps(warehouse.query(f"SELECT * FROM {t}").to_pylist(), default=str) for t in tables
        ]
        assert count_rows(warehouse, "registrations") >= len(people)

    haystacks = {"lake": "\n".join(lake_text), "warehouse": "\n".join(warehouse_text),
                 "logs": logs.out + logs.err}  # fmt: skip
    for where, text in haystacks.items():
        leaked = [value for value in secrets if value in text]
        assert leaked == [], f"{len(leaked)} PII values in the {where}"


def test_given_a_first_load_in_three_slices_then_every_row_lands_once_and_the_next_run_continues(
    aws: Aws, world: Path, world_end: datetime
) -> None:
    db = open_source_database(f"sqlite:///{world / 'operational.sqlite'}")
    options: dict[str, Any] = {
        "db": db, "s3": aws.s3, "key": aws.key, "now": world_end, "lake_bucket": aws.lake_bucket,
        "batch_rows": 1_500,
    }  # fmt: skip
    try:
        slices = backfill_slices("orders", db, parts=3)
        results = [mine_slice("orders", after=a, through=t, **options) for a, t in slices]
        keys = set(aws.s3.list_keys(aws.lake_bucket, c.RAW_PREFIX))
        again = [mine_slice("orders", after=a, through=t, **options) for a, t in slices]  # a retried slice
        through = finish_backfill("orders", results, watermarks=aws.watermarks, now=world_end)
        after_backfill = mine("orders", watermarks=aws.watermarks, **options)
    finally:
        db.close()

    orders = source_count(world, "orders")
    rows = parquet_rows(aws, f"{c.RAW_PREFIX}/orders/")
    assert len(slices) == 3 and all(r.good > 0 for r in results)
    assert sum(r.good for r in results) == orders == len(rows) == len({row["order_id"] for row in rows})
    assert (
        set(aws.s3.list_keys(aws.lake_bucket, c.RAW_PREFIX)) == keys and sum(r.good for r in again) == orders
    )
    watermark = aws.watermarks.get("orders")
    assert watermark is not None and watermark["updated_at"] == through == results[-1].watermark
    assert after_backfill.good == 0  # the watermark carries on where the slices ended


@pytest.mark.parametrize("bureau_failure_rate", [1.0])
def test_given_lookups_left_unavailable_when_the_bureau_is_back_then_the_next_run_asks_again(
    aws: Aws, world: Path, world_end: datetime, miners_env: FakeBureau
) -> None:
    first = load_handler("mine_bureau").handler(
        scheduled_event("credo-mine-bureau", world_end), LocalLambdaContext()
    )
    customers = source_count(world, "registrations")
    with FakeBureau(
        world / FIXTURE_PATH, api_key="test", lookup_key=bytes(range(32)), failure_rate=0.0
    ) as healthy:
        aws.secrets.put_string(BUREAU_SECRET, healthy.secret_json())
        later = world_end + timedelta(days=1)
        second = load_handler("mine_bureau").handler(
            scheduled_event("credo-mine-bureau", later), LocalLambdaContext()
        )

    pending = json.loads(aws.s3.get_bytes(aws.lake_bucket, PENDING_LOOKUPS_KEY))
    reports = parquet_rows(aws, f"{c.RAW_PREFIX}/bureau/")
    latest = {row["token"]: row for row in sorted(reports, key=lambda row: row["updated_at"])}
    assert first["details"]["bureau_unavailable"] == customers
    assert second["good"] == 0  # no registration changed: only the retry ran
    assert second["details"]["bureau_retried_from_earlier_runs"] == customers
    assert second["details"]["bureau_hits"] > 0 and second["details"]["bureau_unavailable"] == 0
    assert pending == {}
    assert len(latest) == customers and {row["status"] for row in latest.values()} == {"hit", "no_hit"}
    assert all(json.dumps(row, default=str).count("+91") == 0 for row in reports)  # no phone anywhere
