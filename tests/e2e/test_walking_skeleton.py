"""The walking skeleton end to end on a small world: what `make demo` runs, asserted."""

import sqlite3
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from credo.cli import main
from credo.constants import TARGET_BUYING, TARGET_CREDIT
from credo.demo import UNKNOWN_CUSTOMER, DemoResult, run_demo
from credo.features import FEATURE_NAMES
from credo.labels import LABEL_OF_TARGET, labelled_rows
from credo.warehouse import FEATURE_TABLE_COLUMNS, build_features
from credo.warehouse.duckdb import DuckDBWarehouse

TABLE_SOURCES = ("registrations", "orders", "payments")
PII_COLUMNS = {"customer_id", "full_name", "email", "phone", "street_address", "date_of_birth", "pincode"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), customers=2_500, seed=5, echo=False, search_seconds=3.0)


def test_given_a_small_world_when_the_demo_runs_then_every_source_row_reaches_the_warehouse(
    demo: DemoResult,
) -> None:
    with sqlite3.connect(demo.workdir / "world" / "operational.sqlite") as conn:
        source_rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLE_SOURCES}
    ad_events = demo.world["counts"]["ad_events"]
    customers = source_rows["registrations"]
    expected = {**source_rows, "marketing": ad_events, "reference": 2 * customers, "bureau": customers}
    for source, summary in demo.mined.items():
        assert summary["good"] == expected[source], source
        assert summary["quarantined"] == 0
        assert summary["runs"] == demo.world["config"]["months"]  # one run per month, as scheduled
    assert demo.warehouse_rows == {
        "registrations": customers,  # one version each: the source keeps only the current row
        "orders": source_rows["orders"],
        "payments": source_rows["payments"],
        "ad_events": ad_events,
        "reference_matches": 2 * customers,
        "bureau_reports": customers,
    }


def test_given_the_warehouse_then_no_pii_and_no_raw_customer_id_reached_it(demo: DemoResult) -> None:
    with sqlite3.connect(demo.workdir / "world" / "operational.sqlite") as conn:
        email, phone, raw_id = conn.execute(
            "SELECT email, phone, customer_id FROM registrations LIMIT 1"
        ).fetchone()
    warehouse = DuckDBWarehouse(demo.workdir / "warehouse.duckdb")
    try:
        for table in demo.warehouse_rows:
            columns = set(warehouse.query(f"SELECT * FROM {table} LIMIT 1").column_names)
            assert not columns & PII_COLUMNS, (table, columns & PII_COLUMNS)
            assert "token" in columns
    finally:
        warehouse.close()
    stored = (demo.workdir / "warehouse.duckdb").read_bytes()
    for secret in (email, phone, raw_id):
        assert secret.encode() not in stored


def test_given_the_warehouse_then_its_labels_agree_with_the_worlds_own_truth(demo: DemoResult) -> None:
    """Point-in-time features and labels from SQL reproduce the simulator's populations and bad rates."""
    snapshot = demo.world["snapshots"][-1]
    warehouse = DuckDBWarehouse(demo.workdir / "warehouse.duckdb")
    try:
        table = build_features(warehouse, date.fromisoformat(snapshot)).to_pandas()
    finally:
        warehouse.close()
    realism = demo.world["realism"]
    keys = {TARGET_CREDIT: "credit_bad_90dpd_6m", TARGET_BUYING: "buying_bad_per_cod_order_6m"}
    for target, key in keys.items():
        rows = labelled_rows(table, target)  # customers for credit, COD orders for buying
        truth = realism[key][snapshot]
        assert len(rows) == truth["population"]
        assert round(float(rows[LABEL_OF_TARGET[target]].mean()), 4) == truth["bad_rate"]
    buyers = table[table["in_buying_population"].fillna(False).astype(bool)]
    per_customer = realism["buying_bad_cod_failure_6m"][snapshot]
    assert len(buyers) == per_customer["population"]
    assert round(float((buyers["label_buying_failed_orders"] > 0).mean()), 4) == per_customer["bad_rate"]


def test_given_trained_models_then_they_beat_chance_out_of_time_but_not_the_oracle(demo: DemoResult) -> None:
    assert set(demo.models) == {"credit", "buying"}
    for model in demo.models.values():
        assert model.model_key.startswith("s3://") and model.model_key.endswith("model.onnx")
        assert (demo.workdir / "models" / model.target / "model.onnx").stat().st_size > 0
        assert 0.55 < model.holdout_auc <= model.oracle_auc + 0.05, model


def test_given_the_demos_registry_copy_when_an_older_version_is_promoted_then_the_list_shows_the_rollback(
    demo: DemoResult, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = str(demo.workdir / "registry")
    credit = demo.models["credit"].version

    assert main(["models", "list", "--registry", registry]) == 0
    listed = capsys.readouterr().out
    assert credit in listed and "champion" in listed
    assert "<svg" in (demo.workdir / "registry" / "credit" / credit / "report.html").read_text()
    assert main(["models", "promote", "credit", "credit-not-registered", "--registry", registry]) == 2


def test_given_materialised_features_when_customers_are_scored_then_each_gets_a_decision(
    demo: DemoResult,
) -> None:
    assert demo.materialised == 2_500
    assert len(demo.decisions) >= 5
    for decision in demo.decisions:
        assert decision["status"] == 200
        assert decision["degraded"] is False
        assert decision["policy_version"] == demo.policy.version
        assert set(decision["model_versions"]) == {"credit", "buying"}
        for part, flag in (("credit", "emi_eligible"), ("buying", "cod_eligible")):
            assert 300 <= decision[part]["score"] <= 900
            threshold = demo.policy.credit_threshold if part == "credit" else demo.policy.buying_threshold
            above = decision[part]["score"] >= threshold
            if decision[part][flag]:
                assert above and not decision["new_customer"]
            elif above:  # a policy rule (arrears, a cart over the band's limit) says why
                assert any(r["impact"] is None for r in decision[part]["reasons"]), decision[part]
    known = [d for d in demo.decisions if d["customer_id"] != UNKNOWN_CUSTOMER]
    assert all(not d["new_customer"] for d in known)
    # the features that cost each customer points, in plain words (credo.scoring.reasons)
    explained = [r for d in known for r in d["credit"]["reasons"] + d["buying"]["reasons"] if r.get("impact")]
    assert explained and all(r["code"] in FEATURE_NAMES and r["text"] for r in explained)
    unknown = next(d for d in demo.decisions if d["customer_id"] == UNKNOWN_CUSTOMER)
    assert unknown["new_customer"] is True
    assert not unknown["credit"]["emi_eligible"] and not unknown["buying"]["cod_eligible"]
    # the decisions differ between customers: the models and the policy decide, not a constant
    assert len({(d["credit"]["emi_eligible"], d["buying"]["cod_eligible"]) for d in known}) > 1


def test_given_the_demo_warehouse_when_features_are_exported_then_the_parquet_holds_them_point_in_time(
    demo: DemoResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshots = demo.world["snapshots"][-2:]
    out = tmp_path / "features.parquet"
    warehouse = str(demo.workdir / "warehouse.duckdb")

    code = main(["features", "--as-of", *snapshots, "--out", str(out), "--warehouse", warehouse])
    with_labels = tmp_path / "labelled.parquet"
    main(
        [
            "features",
            "--as-of",
            snapshots[-1],
            "--labels",
            "--out",
            str(with_labels),
            "--warehouse",
            warehouse,
        ]
    )

    table = pq.read_table(out)
    labelled = pq.read_table(with_labels)
    assert code == 0 and "rows" in capsys.readouterr().out
    assert table.column_names == ["token", "snapshot_date", *FEATURE_NAMES]
    assert sorted({d.isoformat() for d in table.column("snapshot_date").to_pylist()}) == snapshots
    assert labelled.column_names == list(FEATURE_TABLE_COLUMNS)
    assert labelled.num_rows == sum(
        1 for d in table.column("snapshot_date").to_pylist() if str(d) == snapshots[-1]
    )


def test_given_a_users_file_when_mined_from_the_command_line_then_good_rows_land_and_a_bad_one_is_quarantined(
    demo: DemoResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(demo.workdir / "world" / "operational.sqlite") as conn:
        header = [c[1] for c in conn.execute("PRAGMA table_info(payments)")]
        rows = conn.execute("SELECT * FROM payments ORDER BY bill_id LIMIT 20").fetchall()
    bad = list(rows[0])
    bad[header.index("days_past_due")] = -3
    lines = [",".join(header)] + [",".join("" if v is None else str(v) for v in row) for row in [*rows, bad]]
    path = tmp_path / "payments.csv"
    path.write_text("\n".join(lines) + "\n")

    code = main(
        ["mine", "--source", "payments", "--from", str(path), "--world", str(demo.workdir / "world"),
         "--lake", str(tmp_path / "lake")]
    )  # fmt: skip

    printed = capsys.readouterr().out
    assert code == 0
    assert "payments: 20 rows written, 1 quarantined" in printed
    assert "days_past_due" in printed
    parts = list((tmp_path / "lake" / "raw" / "payments").rglob("*.parquet"))
    assert sum(pq.read_table(p).num_rows for p in parts) == 20
