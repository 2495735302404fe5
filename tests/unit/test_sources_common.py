"""Reading changed rows from SQLite and cutting them into deterministic batches."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from credo.sources import SqlDatabase, batches_by_cursor, open_source_database, source_spec
from credo.sources.common import parse_timestamp

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def rows_at(*stamps: str) -> list[dict[str, Any]]:
    return [{"order_id": f"O{n}", "updated_at": stamp} for n, stamp in enumerate(stamps)]


def test_given_rows_when_batched_then_batches_cut_only_where_updated_at_changes() -> None:
    rows = rows_at("2024-01-01 00:00:00", "2024-01-02 00:00:00", "2024-01-02 00:00:00", "2024-01-03 00:00:00")

    batches = list(batches_by_cursor(rows, after=None, now=NOW, batch_rows=2))

    assert [len(batch.rows) for batch in batches] == [3, 1]
    assert [(batch.after, batch.through) for batch in batches] == [
        (None, "2024-01-02 00:00:00"),
        ("2024-01-02 00:00:00", "2024-01-03 00:00:00"),
    ]


def test_given_rows_after_now_when_batched_then_they_are_left_for_a_later_run() -> None:
    rows = rows_at("2024-01-01 00:00:00", "2024-06-01 02:00:00", "2024-06-01 02:00:01")

    batches = list(
        batches_by_cursor(rows, after=None, now=datetime(2024, 6, 1, 2, tzinfo=UTC), batch_rows=10)
    )

    assert len(batches) == 1
    assert batches[0].through == "2024-06-01 02:00:00"


def test_given_same_rows_when_batched_twice_then_windows_are_identical() -> None:
    rows = rows_at(*(f"2024-01-{day:02d} 00:00:00" for day in range(1, 11)))

    first = [(b.after, b.through) for b in batches_by_cursor(rows, after="x", now=NOW, batch_rows=3)]
    second = [(b.after, b.through) for b in batches_by_cursor(rows, after="x", now=NOW, batch_rows=3)]

    assert first == second
    assert len(first) == 4


def test_given_rows_without_updated_at_then_they_are_batched_but_do_not_move_the_window() -> None:
    batches = list(batches_by_cursor([{"order_id": "O1", "updated_at": None}], after=None, now=NOW))

    assert len(batches) == 1
    assert batches[0].through is None


def test_given_zero_batch_size_then_it_is_refused() -> None:
    with pytest.raises(ValueError):
        list(batches_by_cursor([], after=None, now=NOW, batch_rows=0))


def test_given_sqlite_when_reading_changes_then_rows_after_watermark_come_in_cursor_order(
    operational_db: Callable[..., Any], make_order: Callable[..., dict[str, Any]]
) -> None:
    db = operational_db(
        orders=[
            make_order(order_id="O3", updated_at="2024-01-03 00:00:00"),
            make_order(order_id="O1", updated_at="2024-01-01 00:00:00"),
            make_order(order_id="O2b", updated_at="2024-01-02 00:00:00"),
            make_order(order_id="O2a", updated_at="2024-01-02 00:00:00"),
        ]
    )
    spec = source_spec("orders")
    source = open_source_database(db.url)

    everything = [
        r["order_id"] for r in source.read_changes("orders", spec.columns, key_column="order_id", after=None)
    ]
    since = [
        r["order_id"]
        for r in source.read_changes(
            "orders", spec.columns, key_column="order_id", after="2024-01-01 00:00:00"
        )
    ]
    source.close()

    assert everything == ["O1", "O2a", "O2b", "O3"]
    assert since == ["O2a", "O2b", "O3"]


def test_given_missing_file_or_unknown_scheme_then_opening_fails(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError):
        SqlDatabase(f"sqlite:///{tmp_path / 'absent.sqlite'}")
    with pytest.raises(ValueError, match="Secrets Manager"):
        open_source_database("postgresql://user:password@host/db")  # credentials never in the URL
    with pytest.raises(ValueError, match="needs Secrets Manager"):
        open_source_database("secret:credo/orders-db")


def test_given_unknown_source_name_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        source_spec("ledger")


def test_given_iso_text_when_parsed_then_zoned_values_become_naive_utc() -> None:
    assert parse_timestamp("2024-01-01T05:30:00+05:30") == datetime(2024, 1, 1, 0, 0)
    assert parse_timestamp("2024-01-01 00:00:00") == datetime(2024, 1, 1)
    assert parse_timestamp("yesterday") is None
