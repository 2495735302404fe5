"""What is the gap to the oracle made of, and how much of it could any model of the shop's records close?

Run: .venv/bin/python bench/bench_oracle_gap.py [--sizes 100000] [--months 24 36]

The oracle knows each customer's hidden traits (credo.synthetic.people). The selected models sit
within 0.003 AUC of the feature ceiling (bench_training.py), a regression of the oracle's
probability on Credo's features. This bench asks two questions on the same training snapshots and
holdout (it reuses bench_training.py's cached warehouse and features):

1. Which hidden trait is the gap made of? The feature ceiling is fitted again with each trait's
   true value added as one more input.
2. How much of that trait do the records reveal? The trait's posterior given what the shop could
   have seen by the snapshot, computed on a grid from the world's own equations, is added to the
   ceiling (and, for credit, turned into a predictor of its own):
   - buying, COD reliability: every order outcome known at the snapshot (delivered, cancelled,
     refused, returned), by `outcome_logits` itself — exact;
   - credit, discipline and capacity jointly: every bill paid by the snapshot (late or not), the
     months survived without distress, phone verification, auto-billing, device, email, city tier,
     postpaid limit, every order's value, and the bureau's file. It leaves out channels that
     carry little of discipline (premium membership, the postpaid flag, payment methods, age).

Buying is measured on both labels: per customer (any COD order in the 6 months fails, the label
the design first had) and per COD order (the training job's rows, credo.labels, whose oracle is the
customer's true probability that one COD order fails).

A posterior from the world's own equations is a model any lender could in principle have built,
so its AUC is within reach; it knows the world's coefficients, which a lender would have to
estimate. Its calibration error on the holdout checks the restated equations below.
"""

import json
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_history_ceiling import measure_each_world
from bench_mining import ROOT, world_for, world_name
from bench_training import (
    PER_CUSTOMER_TARGETS,
    TRUTH,
    feature_ceiling,
    features_for,
    split_at,
    training_and_holdout,
)
from record import marked

from credo.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from credo.labels import LABEL_OF_TARGET, labelled_rows
from credo.synthetic import commerce as com
from credo.synthetic import credit as cr
from credo.synthetic.people import TRAIT_CORRELATION, TRAITS, sigmoid

HIDDEN = [*TRAITS, "log_order_rate"]
DECISIVE = {"credit": "discipline", "buying": "cod_reliability"}  # what the first question finds
PER_ORDER = "buying per COD order"  # the training job's buying rows, beside the per-customer label's
GRID = np.linspace(-4.0, 4.0, 49)  # one trait, in standard deviations of its prior
GRID_2D = np.linspace(-4.0, 4.0, 33)  # discipline × capacity


def customer_index(world: Path, key: bytes) -> pd.DataFrame:
    """Every customer's id, token, registration time and city."""
    from credo.privacy import tokenize

    with sqlite3.connect(world / "operational.sqlite") as connection:
        people = pd.read_sql("select customer_id, registered_at, city from registrations", connection)
    people["token"] = [tokenize(customer, key) for customer in people["customer_id"]]
    return people


def with_traits(table: pd.DataFrame, world: Path, people: pd.DataFrame) -> pd.DataFrame:
    traits = pd.read_parquet(world / "evaluation" / "traits.parquet")
    traits["log_order_rate"] = np.log(traits["order_rate"])
    traits = traits.merge(people[["customer_id", "token"]], on="customer_id")
    return table.merge(traits[["token", *HIDDEN]], on="token", how="left")


def read_orders(world: Path) -> pd.DataFrame:
    """The world's orders, as both posteriors read them."""
    with sqlite3.connect(world / "operational.sqlite") as connection:
        orders = pd.read_sql(
            "select customer_id, placed_at, updated_at, category, amount, payment_method, status from orders",
            connection,
        )
    orders["placed"] = pd.to_datetime(orders["placed_at"])
    orders["known_at"] = pd.to_datetime(orders["updated_at"])  # the final status, when final
    return orders


def cod_reliability_posterior(
    orders: pd.DataFrame, people: pd.DataFrame, snapshots: list[date]
) -> pd.DataFrame:
    """Posterior mean and sd of COD reliability from every order outcome known at each snapshot."""
    outcomes = {name: i for i, name in enumerate(com.OUTCOMES)}
    orders = orders[orders["status"].isin(outcomes)]  # final outcomes only
    n = len(orders)
    equation = OutcomeEquation(orders, people)
    outcome = orders["status"].map(outcomes).to_numpy()
    loglik = np.empty((n, len(GRID)), np.float32)
    for j, value in enumerate(GRID):
        z = equation.logits(np.full(n, value))
        z -= z.max(axis=1, keepdims=True)
        loglik[:, j] = z[np.arange(n), outcome] - np.log(np.exp(z).sum(axis=1))
    codes, customers = pd.factorize(orders["customer_id"])
    known_at = orders["known_at"].to_numpy()
    parts = []
    for snapshot in snapshots:
        known = known_at < np.datetime64(pd.Timestamp(snapshot))
        total = np.stack(
            [
                np.bincount(codes[known], weights=loglik[known, j], minlength=len(customers))
                for j in range(len(GRID))
            ],
            axis=1,
        )
        weights = _normalised(total - 0.5 * GRID**2)
        mean = weights @ GRID
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": customers,
                    "snapshot_date": snapshot.isoformat(),
                    "cod_reliability_posterior": mean,
                    "cod_reliability_posterior_sd": np.sqrt(np.maximum(weights @ GRID**2 - mean**2, 0.0)),
                }
            )
        )
    posterior = pd.concat(parts).merge(people[["customer_id", "token"]], on="customer_id")
    return posterior.drop(columns="customer_id")


class OutcomeEquation:
    """The world's `outcome_logits` for each of these orders, at any COD reliability of its customer."""

    def __init__(self, orders: pd.DataFrame, people: pd.DataFrame) -> None:
        from credo.reference import CITY_TIER

        self.city_tier = (
            orders["customer_id"].map(people.set_index("customer_id")["city"].map(CITY_TIER)).to_numpy()
        )
        self.category = orders["category"].map({name: i for i, name in enumerate(com.CATEGORIES)}).to_numpy()
        self.amount = orders["amount"].to_numpy()
        self.is_cod = (orders["payment_method"] == "cod").to_numpy()

    def logits(self, cod_reliability: np.ndarray) -> np.ndarray:
        """One row per order, one column per outcome; `cod_reliability` holds one value per order."""
        traits = _Traits(cod_reliability=cod_reliability, city_tier=self.city_tier)
        rows = np.arange(len(self.amount))
        return com.outcome_logits(traits, rows, self.category, self.amount, self.is_cod)  # type: ignore[arg-type]


class _Traits:
    """The two attributes of People that `outcome_logits` reads, one row per order."""

    def __init__(self, cod_reliability: np.ndarray, city_tier: np.ndarray) -> None:
        self.cod_reliability = cod_reliability
        self.city_tier = city_tier


def credit_posterior(
    table: pd.DataFrame,
    world: Path,
    orders: pd.DataFrame,
    people: pd.DataFrame,
    snapshots: list[date],
    start: date,
) -> pd.DataFrame:
    """Per credit-population row: the posterior's P(credit bad) and its means of discipline and capacity."""
    from scipy.stats import norm, poisson

    discipline, capacity = (a.ravel() for a in np.meshgrid(GRID_2D, GRID_2D, indexing="ij"))
    d, c = discipline[None, :], capacity[None, :]
    rho = TRAIT_CORRELATION[TRAITS.index("discipline"), TRAITS.index("capacity")]
    log_prior = -(discipline**2 - 2 * rho * discipline * capacity + capacity**2) / (2 * (1 - rho**2))
    hazard_logit = (
        cr.DISTRESS_INTERCEPT + cr.DISTRESS_DISCIPLINE * discipline + cr.DISTRESS_CAPACITY * capacity
    )
    hazard = _with_shock(hazard_logit, cr.SHOCK_LIFT)
    p_bad = 1 - (1 - hazard) ** cr.CREDIT_EXPOSURE_MONTHS

    with sqlite3.connect(world / "operational.sqlite") as connection:
        bills = pd.read_sql("select customer_id, due_date, paid_at from payments", connection)
    bills["due"], bills["paid"] = pd.to_datetime(bills["due_date"]), pd.to_datetime(bills["paid_at"])
    median = dict(zip(com.CATEGORIES, com.CATEGORY_MEDIAN, strict=True))
    orders = orders.assign(log_ratio=np.log(orders["amount"] / orders["category"].map(median)))
    customer_of = people.set_index("token")["customer_id"]
    registered = people.set_index("customer_id")["registered_at"].pipe(pd.to_datetime)

    def bernoulli(observed: np.ndarray, probability: np.ndarray) -> np.ndarray:
        return np.where(observed[:, None] > 0, np.log(probability), np.log1p(-probability))

    parts = []
    for snapshot in snapshots:
        when = pd.Timestamp(snapshot)
        rows = table[
            (table["snapshot_date"] == snapshot.isoformat())
            & table["in_credit_population"].fillna(False).astype(bool)
        ].reset_index(drop=True)
        ids = customer_of.loc[rows["token"]].to_numpy()
        position = pd.Series(np.arange(len(ids)), index=ids)
        loglik = np.tile(log_prior, (len(ids), 1))
        auto = rows["is_auto_billing"].fillna(0).to_numpy()
        # The world's equations (credo.synthetic.credit, people, commerce, registries), restated.
        # Bills: late (paid a day or more after the due date) with a shock mixed in.
        paid = bills[
            bills["customer_id"].isin(position.index) & (bills["due"] < when) & (bills["paid"] < when)
        ]
        late = ((paid["paid"] - paid["due"]) >= pd.Timedelta(days=1)).to_numpy()
        who = position.loc[paid["customer_id"]].to_numpy()
        late_count = np.bincount(who[late], minlength=len(ids))[:, None]
        on_time_count = np.bincount(who[~late], minlength=len(ids))[:, None]
        late_logit = cr.LATE_INTERCEPT - 1.1 * d - 1.5 * auto[:, None]
        p_late = _with_shock(late_logit, 1.6)
        loglik += late_count * np.log(p_late) + on_time_count * np.log1p(-p_late)
        # No distress in any of the world's months since registration.
        registered_month = np.array([p.ordinal for p in registered.loc[ids].dt.to_period("M")])
        watched_from = np.maximum(registered_month, pd.Period(start, "M").ordinal)
        survived = np.maximum(pd.Period(when, "M").ordinal - watched_from, 0)
        loglik += survived[:, None] * np.log1p(-hazard)[None, :]
        # Registration.
        loglik += bernoulli(rows["phone_verified"].fillna(0).to_numpy(), sigmoid(1.6 + 0.6 * d))
        loglik += bernoulli(auto, sigmoid(-0.9 + 1.1 * d + 0.2 * c))
        loglik += bernoulli(rows["device_ios"].fillna(0).to_numpy(), norm.cdf(0.9 * c - 1.5))
        loglik += bernoulli(rows["email_corporate"].fillna(0).to_numpy(), norm.cdf(0.8 * c - 1.6))
        tier = rows["city_tier"].to_numpy()
        cuts = [norm.cdf(0.8 * c - 0.45), norm.cdf(0.8 * c + 0.55)]
        for k, p in {1: cuts[0], 2: cuts[1] - cuts[0], 3: 1 - cuts[1]}.items():
            loglik[tier == k] += np.log(p)
        limit = rows["postpaid_limit"].fillna(0).to_numpy()
        has = limit > 0
        loglik[has] += norm.logpdf(np.log(limit[has] / 5000)[:, None], 0.5 * c, 0.3)
        # Order values: log(amount / category median) ~ N(0.35 capacity, VALUE_SPREAD²).
        placed = orders[orders["customer_id"].isin(position.index) & (orders["placed"] < when)]
        who = position.loc[placed["customer_id"]].to_numpy()
        x = placed["log_ratio"].to_numpy()
        count, total, squares = (np.bincount(who, w, minlength=len(ids))[:, None] for w in (None, x, x * x))
        loglik -= (squares - 2 * 0.35 * c * total + count * (0.35 * c) ** 2) / (2 * com.VALUE_SPREAD**2)
        # The bureau: a hit, then score, enquiries, tradelines and worst delinquency.
        hit = rows["bureau_hit"].fillna(0).to_numpy()
        loglik += bernoulli(hit, sigmoid(0.2 + 0.7 * c + 0.03 * (rows["age"].to_numpy()[:, None] - 30)))
        report = (hit > 0) & rows["bureau_score"].notna().to_numpy()
        score = rows["bureau_score"].to_numpy()[report, None]
        mean_score = 690 + 55 * d + 25 * c
        loglik[report] += np.where(
            score >= 900,
            norm.logsf(899.5, mean_score, 50),
            np.where(score <= 300, norm.logcdf(300.5, mean_score, 50), norm.logpdf(score, mean_score, 50)),
        )
        loglik[report] += poisson.logpmf(
            rows["bureau_enquiries_6m"].to_numpy()[report, None], np.exp(-0.3 - 0.3 * d)
        )
        loglik[report] += poisson.logpmf(
            rows["bureau_tradelines"].to_numpy()[report, None], np.exp(0.8 + 0.4 * c)
        )
        worst = rows["bureau_max_dpd_24m"].to_numpy()[report, None]
        p_worst = np.where(
            worst >= 90,
            0.7 * (d < -1.6),
            np.where(worst >= 30, 0.7 * ((d >= -1.6) & (d < -0.9)), 1 - 0.7 * (d < -0.9)),
        )
        loglik[report] += np.log(p_worst + 1e-12)
        weights = _normalised(loglik)
        parts.append(
            pd.DataFrame(
                {
                    "token": rows["token"],
                    "snapshot_date": snapshot.isoformat(),
                    "credit_posterior_p_bad": weights @ p_bad,
                    "discipline_posterior": weights @ discipline,
                    "capacity_posterior": weights @ capacity,
                }
            )
        )
    return pd.concat(parts)


def _with_shock(logit: np.ndarray, lift: float) -> np.ndarray:
    """A probability with the month's income shock (which adds `lift` to the log-odds) integrated out."""
    return cr.SHOCK_PROBABILITY * sigmoid(logit + lift) + (1 - cr.SHOCK_PROBABILITY) * sigmoid(logit)


def _normalised(log_weights: np.ndarray) -> np.ndarray:
    weights = np.exp(log_weights - log_weights.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def measure(customers: int, seed: int, months: int, workers: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score

    from credo.training.metrics import expected_calibration_error

    table, holdout_day, training = features_for(customers, seed, workers, months=months)
    world = world_for(customers, seed, months)
    start = date.fromisoformat(json.loads((world / "world.json").read_text())["config"]["start"])
    key_file = ROOT / ".bench" / "training" / world_name(customers, seed, months) / "warehouse.key"
    people = customer_index(world, bytes.fromhex(key_file.read_text()))
    snapshots = [*training, holdout_day]
    orders = read_orders(world)
    table = with_traits(table, world, people)
    table = table.merge(
        cod_reliability_posterior(orders, people, snapshots), on=["token", "snapshot_date"], how="left"
    )
    table = table.merge(
        credit_posterior(table, world, orders, people, snapshots, start),
        on=["token", "snapshot_date"],
        how="left",
    )
    posteriors = {
        "credit": ["credit_posterior_p_bad", "discipline_posterior", "capacity_posterior"],
        "buying": ["cod_reliability_posterior", "cod_reliability_posterior_sd"],
    }
    analyses = {
        target: (target, *training_and_holdout(table, population, label, holdout_day), label, truth)
        for target, (label, population, truth) in PER_CUSTOMER_TARGETS.items()
    }
    # the training job's buying rows: one per COD order, its oracle the customer's per-order probability
    analyses[PER_ORDER] = (
        "buying", *split_at(labelled_rows(table, "buying"), holdout_day), LABEL_OF_TARGET["buying"],
        TRUTH["buying"],
    )  # fmt: skip
    figures: dict[str, Any] = {
        "customers": customers,
        "months": months,
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "measured_on": date.today().isoformat(),
        "targets": {},
    }
    for name, (target, train, test, label, truth) in analyses.items():
        scored = test[test[truth].notna()]
        labels = scored[label].astype(int)
        row: dict[str, Any] = {"oracle_auc": round(float(roc_auc_score(labels, scored[truth])), 4)}
        row["ceiling_auc"] = round(feature_ceiling(train, test, truth, label)["auc"], 4)
        for trait in HIDDEN:
            ceiling = feature_ceiling(train, test, truth, label, [*FEATURE_NAMES, trait])
            row[f"with_true_{trait}_auc"] = round(ceiling["auc"], 4)
        with_posterior = feature_ceiling(train, test, truth, label, [*FEATURE_NAMES, *posteriors[target]])
        row["with_posterior_auc"] = round(with_posterior["auc"], 4)
        # A lender who knew every other trait exactly, and saw the decisive one only through the records.
        others = [trait for trait in HIDDEN if trait != DECISIVE[target]]
        knowing_others = feature_ceiling(train, test, truth, label, [*FEATURE_NAMES, *others])
        row["with_other_traits_auc"] = round(knowing_others["auc"], 4)
        knowing_others = feature_ceiling(
            train, test, truth, label, [*FEATURE_NAMES, *others, *posteriors[target]]
        )
        row["with_other_traits_and_posterior_auc"] = round(knowing_others["auc"], 4)
        if target == "credit":
            predictor = scored["credit_posterior_p_bad"]
            row["posterior_predictor_auc"] = round(float(roc_auc_score(labels, predictor)), 4)
            row["posterior_predictor_calibration_error"] = round(
                expected_calibration_error(labels, predictor), 4
            )
            row["trait_posterior_correlation"] = round(
                float(scored["discipline_posterior"].corr(scored["discipline"])), 3
            )
        else:
            row["trait_posterior_correlation"] = round(
                float(scored["cod_reliability_posterior"].fillna(0.0).corr(scored["cod_reliability"])), 3
            )
        figures["targets"][name] = row
        print(f"  {name}: {json.dumps(row)}", flush=True)
    return figures


def main() -> None:
    measure_each_world(
        __doc__.splitlines()[0],
        "oracle-gap",
        "Training: what the gap to the oracle is made of",
        measure,
        _markdown,
    )


def _markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "`.venv/bin/python bench/bench_oracle_gap.py --months 24 36` — holdout ROC-AUC of the feature "
        f"ceiling (a regression of the oracle's probability on the {len(FEATURE_NAMES)} features, fitted "
        "on the training snapshots), of the same with one hidden trait's true value added, and of the "
        "same with the trait's posterior given the shop's records (from the world's own equations) "
        "added. For credit, the posterior's own P(bad) is also a predictor; its calibration error checks "
        "the equations.",
        "",
        "| customers | world | target | oracle | ceiling | + true capacity | + true discipline "
        "| + true COD reliability | + true engagement | + true order rate | + posterior of the records "
        "| posterior alone (cal. error) | posterior ~ true trait (r) | + every other trait true "
        "| + every other trait true + posterior |",
        "| ---: | ---: | --- " + "| ---: " * 12 + "|",
    ]
    for r in sorted(results, key=lambda r: (r["months"], r["customers"])):
        for target, t in r["targets"].items():
            alone = (
                f"{t['posterior_predictor_auc']:.4f} ({t['posterior_predictor_calibration_error']:.4f})"
                if "posterior_predictor_auc" in t
                else "—"
            )
            traits = " | ".join(f"{t[f'with_true_{trait}_auc']:.4f}" for trait in HIDDEN)
            lines.append(
                f"| {r['customers']:,} | {r['months']} months | {target} | {t['oracle_auc']:.4f} "
                f"| {t['ceiling_auc']:.4f} | {traits} | {t['with_posterior_auc']:.4f} | {alone} "
                f"| {t['trait_posterior_correlation']:.3f} | {t['with_other_traits_auc']:.4f} "
                f"| {t['with_other_traits_and_posterior_auc']:.4f} |"
            )
    lines += marked((f"{r['customers']:,} customers, {r['months']} months", r.get("note")) for r in results)
    lines += [
        "",
        "Posterior of the records: buying, COD reliability from every order outcome known at the snapshot; "
        "credit, discipline and capacity from bills, survival, registration, order values and the bureau "
        "(the correlation column is with discipline). Every other trait: all hidden traits but the one "
        "the gap is made of (discipline for credit, COD reliability for buying), at their true values.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
