"""The synthetic world: deterministic for a seed, realistic enough that model comparisons mean something."""

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from credo.models.sources import (
    AdEventRecord,
    BureauRecord,
    OrderRecord,
    PaymentRecord,
    RegistrationRecord,
    RegistryRecord,
)
from credo.synthetic import WorldConfig, generate_world, roc_auc

REALISM_CUSTOMERS = 20_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("world")
    return out, generate_world(WorldConfig(customers=REALISM_CUSTOMERS, seed=11), out, progress=False)


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    with sqlite3.connect(out / "operational.sqlite") as conn:
        for table in ("registrations", "orders", "payments"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                h.update(repr(row).encode())
    for path in sorted((out / "drops").rglob("*")) + sorted((out / "bureau").rglob("*")):
        if path.suffix == ".csv":
            h.update(path.read_bytes())
        elif path.suffix == ".parquet":
            h.update(pd.read_parquet(path).to_csv().encode())
    return h.hexdigest()


def test_given_the_same_seed_when_generated_twice_then_every_source_is_identical(tmp_path: Path) -> None:
    config = WorldConfig(customers=1_500, seed=3)
    generate_world(config, tmp_path / "a", progress=False)
    generate_world(config, tmp_path / "b", progress=False)
    generate_world(WorldConfig(customers=1_500, seed=4), tmp_path / "c", progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_given_a_world_then_4_to_12_percent_of_credit_customers_go_90_dpd_within_6_months(world: Any) -> None:
    _, summary = world
    rates = [s["bad_rate"] for s in summary["realism"]["credit_bad_90dpd_6m"].values()]
    assert len(rates) == 12
    assert all(0.04 <= r <= 0.12 for r in rates), rates


def test_given_a_world_then_15_to_35_percent_of_cod_orders_fail(world: Any) -> None:
    _, summary = world
    assert 0.15 <= summary["realism"]["cod_order_failure_rate"] <= 0.35


def test_given_a_world_then_an_oracle_knowing_the_traits_reaches_auc_080_to_090_not_099(world: Any) -> None:
    _, summary = world
    for target in ("credit_bad_90dpd_6m", "buying_bad_cod_failure_6m"):
        aucs = [s["oracle_auc"] for s in summary["realism"][target].values()]
        assert 0.80 <= float(np.mean(aucs)) <= 0.90, (target, aucs)
        assert all(0.75 <= a <= 0.92 for a in aucs), (target, aucs)


def test_given_the_oracle_file_then_its_probabilities_are_calibrated_against_realised_outcomes(
    world: Any,
) -> None:
    out, _ = world
    oracle = pd.read_parquet(out / "evaluation" / "oracle.parquet")
    for target, tolerance in (("credit", 0.01), ("buying", 0.02)):
        pop = oracle[oracle[f"in_{target}_population"]]
        assert abs(pop[f"p_{target}_bad"].mean() - pop[f"{target}_bad"].mean()) < tolerance
        assert roc_auc(pop[f"p_{target}_bad"].to_numpy(), pop[f"{target}_bad"].to_numpy()) > 0.75


def test_given_the_oracle_file_then_its_per_order_probability_matches_each_cod_orders_outcome(
    world: Any,
) -> None:
    out, summary = world
    oracle = pd.read_parquet(out / "evaluation" / "oracle.parquet")
    pop = oracle[oracle["in_buying_population"]]
    expected = (pop["p_cod_order_failed"] * pop["buying_cod_orders"]).sum() / pop["buying_cod_orders"].sum()
    realised = pop["buying_failed_orders"].sum() / pop["buying_cod_orders"].sum()
    assert abs(expected - realised) < 0.01
    assert (pop["buying_failed_orders"] > 0).equals(pop["buying_bad"])
    per_order = summary["realism"]["buying_bad_per_cod_order_6m"]
    assert all(0.70 <= s["oracle_auc"] <= 0.85 for s in per_order.values()), per_order


def test_given_a_world_then_order_counts_and_values_are_heavy_tailed(world: Any) -> None:
    _, summary = world
    per_customer = summary["realism"]["orders_per_customer"]
    values = summary["realism"]["order_value_inr"]
    assert per_customer["p99"] / per_customer["p50"] > 5
    assert values["p99"] / values["p50"] > 20
    assert summary["counts"]["orders"] / summary["counts"]["customers"] > 10


def test_given_a_world_then_it_spans_18_months_and_every_method_and_outcome_occurs(world: Any) -> None:
    out, _ = world
    with sqlite3.connect(out / "operational.sqlite") as conn:
        first, last = conn.execute("SELECT min(placed_at), max(placed_at) FROM orders").fetchone()
        methods = {m for (m,) in conn.execute("SELECT DISTINCT payment_method FROM orders")}
        statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM orders")}
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert (pd.Timestamp(last) - pd.Timestamp(first)).days >= 18 * 30
    assert methods == {"cod", "card", "upi", "wallet", "emi", "postpaid"}
    assert {
        "delivered",
        "cancelled_before_dispatch",
        "cancelled_after_dispatch",
        "rto",
        "returned",
    } <= statuses
    # evaluation-only truth never sits where miners read
    assert tables == {"registrations", "orders", "payments"}


@pytest.mark.parametrize(
    ("table", "model"),
    [("registrations", RegistrationRecord), ("orders", OrderRecord), ("payments", PaymentRecord)],
)
def test_given_a_world_then_its_rows_satisfy_the_data_contracts(world: Any, table: str, model: Any) -> None:
    out, _ = world
    with sqlite3.connect(out / "operational.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        stride = max(count // 3000, 1)
        rows = conn.execute(f"SELECT * FROM {table} WHERE rowid % ? = 0", (stride,)).fetchall()
    assert len(rows) >= 2500
    for row in rows:
        model.model_validate(dict(row))


def test_given_the_registries_then_some_customers_appear_under_noisy_names(world: Any) -> None:
    out, _ = world
    links = pd.read_parquet(out / "evaluation" / "registry_links.parquet")
    business = pd.read_parquet(out / "drops" / "reference" / "business_registry.parquet")
    professional = pd.read_csv(out / "drops" / "reference" / "professional_registry.csv", dtype=str)
    registry = pd.concat([business, professional]).merge(links, on="record_id")
    with sqlite3.connect(out / "operational.sqlite") as conn:
        names = pd.read_sql("SELECT customer_id, full_name FROM registrations", conn)
    joined = registry.merge(names, on="customer_id")
    exact = (joined["registrant_name"] == joined["full_name"]).mean()
    assert len(joined) > 200
    assert 0.1 < exact < 0.9  # some copied exactly, many with typos, initials or upper case
    assert len(business) + len(professional) > len(links)  # unrelated entries too


def test_given_the_bureau_fixture_then_it_knows_a_score_for_some_customers_only(world: Any) -> None:
    out, summary = world
    bureau = pd.read_parquet(out / "bureau" / "bureau_fixture.parquet")
    assert 0.3 < len(bureau) / summary["counts"]["customers"] < 0.8
    assert bureau["bureau_score"].between(300, 900).all()
    assert not bureau["bureau_id"].str.contains("CUST").any()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as the miners will see them: empty CSV cells are nulls."""
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_given_the_drops_and_bureau_fixture_then_they_satisfy_their_data_contracts(world: Any) -> None:
    out, _ = world
    ads = pd.concat(pd.read_csv(p, dtype=str) for p in sorted((out / "drops" / "ads").glob("*.csv")))
    registries = pd.concat(
        [
            pd.read_parquet(out / "drops" / "reference" / "business_registry.parquet"),
            pd.read_csv(out / "drops" / "reference" / "professional_registry.csv", dtype=str),
        ]
    )
    bureau = pd.read_parquet(out / "bureau" / "bureau_fixture.parquet")
    for frame, model in ((ads, AdEventRecord), (registries, RegistryRecord), (bureau, BureauRecord)):
        sample = frame.iloc[:: max(len(frame) // 2000, 1)]
        for record in _records(sample):
            model.model_validate(record)
    assert ads["purchased_order_id"].notna().any() and ads["clicked_at"].notna().mean() < 0.5
