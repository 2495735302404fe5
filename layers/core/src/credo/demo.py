"""`credo demo`: the whole path on embedded stand-ins, in its simplest honest form.

world → miners write pseudonymised Parquet to S3 → DuckDB warehouse → features as of a date and
labels after it → a model per target, exported to ONNX, in the S3 registry → features
materialised to DynamoDB → the real scoring handler answers API Gateway events.
"""

import io
import json
import os
import shutil
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from credo import constants as c
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.adapters.ssm import ParameterStore
from credo.features import FEATURE_NAMES
from credo.labels import LABEL_OF_TARGET, ROW_UNIT, labelled_rows
from credo.local import (
    LocalLambdaContext,
    bootstrap,
    drop_world_files,
    load_handler,
    local_aws,
    local_bureau,
    local_settings_env,
    rest_event,
    save_bucket_to_directory,
    save_local_state,
    scheduled_event,
    upload_drops,
)
from credo.miners import MINERS
from credo.online_store import OnlineFeatureStore
from credo.pipeline.runs import out_of_time_snapshots
from credo.policy import Policy
from credo.privacy import load_hmac_key, tokenize
from credo.registry import ModelRegistry
from credo.scoring.model import ScoringModel
from credo.scoring.scale import scores_from_bad_probabilities
from credo.settings import CredoSettings
from credo.synthetic import WorldConfig, generate_world, roc_auc
from credo.warehouse import build_features, load_lake
from credo.warehouse.duckdb import DuckDBWarehouse

SHOWN_DETAILS = ("reference_matches", "bureau_hits", "bureau_no_hits", "bureau_retries", "bureau_unavailable")
MINING_TIME = dt_time(2, 0)  # the schedules fire at 02:00 UTC on the 1st of each month
REALISM_KEYS = {c.TARGET_CREDIT: "credit_bad_90dpd_6m", c.TARGET_BUYING: "buying_bad_per_cod_order_6m"}
# Hyperparameter search per target: enough on 20k customers for a few settings of each model,
# short enough that the demo stays a few minutes (the training job's default is a minute).
DEMO_SEARCH_SECONDS = 20.0
# The demo policy offers EMI / COD to the customers whose score is above this share of the
# training population: a starting point that is printed, never a recommendation (that is the
# training report's cut-off table).
DEMO_APPROVAL_SHARE = 0.75
UNKNOWN_CUSTOMER = "CUST99999999"


@dataclass
class ModelSummary:
    target: str
    version: str
    model_key: str
    training_rows: int
    holdout_snapshot: str
    holdout_rows: int
    holdout_auc: float
    oracle_auc: float
    estimator: str
    promotion: str


@dataclass
class DemoResult:
    workdir: Path
    world: dict[str, Any]
    mined: dict[str, dict[str, Any]]
    warehouse_rows: dict[str, int]
    models: dict[str, ModelSummary]
    policy: Policy
    materialised: int
    decisions: list[dict[str, Any]] = field(default_factory=list)


class _Steps:
    """Numbered, timed progress lines."""

    def __init__(self, total: int, *, echo: bool) -> None:
        self.total, self.done, self.echo = total, 0, echo

    @contextmanager
    def step(self, title: str) -> Iterator[list[str]]:
        self.done += 1
        notes: list[str] = []
        if self.echo:
            print(f"[{self.done}/{self.total}] {title} …", flush=True)
        started = time.perf_counter()
        yield notes
        if self.echo:
            for note in notes:
                print(f"      {note}")
            print(f"      done in {time.perf_counter() - started:.1f} s", flush=True)


def run_demo(
    workdir: Path,
    *,
    customers: int = 20_000,
    seed: int = 7,
    echo: bool = True,
    search_seconds: float = DEMO_SEARCH_SECONDS,
) -> DemoResult:
    """Run the walking skeleton end to end under `workdir` and return what it produced."""
    if echo:
        _quiet_lambda_logs()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    steps = _Steps(7, echo=echo)
    config = WorldConfig(customers=customers, seed=seed)
    with steps.step(f"synthetic world: {customers:,} customers, seed {seed}") as notes:
        world = generate_world(config, workdir / "world", progress=echo)
        counts = world["counts"]
        notes.append(f"{counts['orders']:,} orders, {counts['bills']:,} bills → {workdir / 'world'}")
    env = local_settings_env(source_db=workdir / "world" / "operational.sqlite")
    with local_aws(env) as endpoint:
        settings = CredoSettings()
        bootstrap(settings)
        with (
            steps.step(
                f"mining {', '.join(MINERS)} on a monthly schedule into s3://{settings.lake_bucket}/raw/"
                f" (moto at {endpoint}, fake bureau on loopback)"
            ) as notes,
            local_bureau(workdir / "world", settings) as bureau,
        ):
            mined = _replay_schedule(workdir / "world", config, settings, echo)
            for source, total in mined.items():
                extra = ", ".join(
                    f"{name.replace('_', ' ')} {total[name]:,}" for name in SHOWN_DETAILS if name in total
                )
                notes.append(
                    f"{source}: {total['good']:,} rows, {total['quarantined']:,} quarantined in"
                    f" {total['runs']} runs ({total['seconds']} s){', ' + extra if extra else ''}"
                )
            served = bureau.stats()
            notes.append(f"fake bureau: {served.requests:,} requests, {served.unavailable:,} made to fail")
        with steps.step(f"loading the lake into DuckDB ({workdir / 'warehouse.duckdb'})") as notes:
            warehouse = DuckDBWarehouse(workdir / "warehouse.duckdb", s3=S3Store.create())
            loaded = {
                r.table: r.rows_in_table for r in load_lake(warehouse, lake_bucket=settings.lake_bucket)
            }
            notes.append(", ".join(f"{table}: {rows:,} rows" for table, rows in loaded.items()))
        snapshots = [date.fromisoformat(s) for s in world["snapshots"]]
        # Out of time: train on snapshots whose 6-month label windows end before the holdout starts.
        plan = out_of_time_snapshots(snapshots)
        holdout, training = plan.holdout, list(plan.training)
        with steps.step(
            f"features and labels as of {', '.join(map(str, training))} (train)"
            f" and {holdout} (out-of-time holdout)"
        ) as notes:
            train_table = pd.concat([build_features(warehouse, s).to_pandas() for s in training])
            holdout_table = build_features(warehouse, holdout).to_pandas()
            notes.append(f"{len(train_table):,} training rows, {len(holdout_table):,} holdout rows")
        with steps.step(
            f"comparing the seven-model zoo per target (settings searched for {search_seconds:g} s each,"
            f" cross-validated on the training snapshots) → ONNX → s3://{settings.model_bucket}/"
        ) as notes:
            models, policy = _train_and_register(
                settings, train_table, holdout_table, world, holdout, workdir, echo, search_seconds
            )
            notes.append(
                f"report with every model, curves and cut-off tables: {workdir / 'models' / 'report.html'}"
            )
            # The moto bucket ends with the demo; the copy is what `credo models list / promote` read.
            save_bucket_to_directory(settings.model_bucket, workdir / "registry")
            for m in models.values():
                notes.append(
                    f"{m.target}: selected {m.estimator} ({m.version}), out-of-time AUC {m.holdout_auc:.3f}"
                    f" on {m.holdout_rows:,} {ROW_UNIT[m.target]}s "
                    f"(the oracle that knows the hidden traits: {m.oracle_auc:.3f})"
                )
                notes.append(f"{' ' * len(m.target)}  {m.promotion}")
            notes.append(
                f"demo policy {policy.version}: EMI from credit score {policy.credit_threshold}, "
                f"COD from buying score {policy.buying_threshold}"
            )
        end = config.calendar().end
        with steps.step(
            f"materialising features as of {end} to DynamoDB table {settings.feature_table}"
        ) as notes:
            latest = build_features(warehouse, end).to_pandas()
            materialised = OnlineFeatureStore.for_table(settings.feature_table).materialise(latest, as_of=end)
            notes.append(f"{materialised:,} customers")
            # `credo serve` needs what the moto server held: the key the tokens were made with (a
            # random local secret, kept in the git-ignored workdir), the policy and this date.
            save_local_state(workdir, settings, as_of=end)
        warehouse.close()
        with steps.step("scoring a few customers through the real scoring Lambda handler"):
            decisions = _score_examples(workdir / "world" / "operational.sqlite")
    result = DemoResult(workdir, world, mined, loaded, models, policy, materialised, decisions)
    (workdir / "demo.json").write_text(json.dumps(_jsonable(result), indent=2, default=str))
    if echo:
        _print_summary(result, settings)
    return result


def _quiet_lambda_logs() -> None:
    """On a console, the handlers' structured INFO logs and metric lines would bury the story.

    Warnings and errors still show; in Lambda the same lines go to CloudWatch as designed.
    """
    from credo.observability import logger

    logger.setLevel("WARNING")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    # Six miners share one process here (one Lambda each in AWS), so their dimensions meet.
    warnings.filterwarnings("ignore", message="Dimension .* has already been added")


def _replay_schedule(
    world_dir: Path, config: WorldConfig, settings: CredoSettings, echo: bool
) -> dict[str, Any]:
    """Run every miner's handler on a monthly schedule over the world's history, as EventBridge would.

    The registries are dropped once, before the first run; each month's ad file is dropped
    before the run that follows that month. Each miner is one handler module (one execution
    environment), kept across runs like a warm Lambda.
    """
    cal = config.calendar()
    drops = world_dir / "drops"
    drop_world_files(world_dir, settings, folders=["reference"])
    handlers = {source: load_handler(f"mine_{source}") for source in MINERS}
    context = LocalLambdaContext()
    totals: dict[str, dict[str, Any]] = {s: {"runs": 0, "good": 0, "quarantined": 0} for s in MINERS}
    timings = dict.fromkeys(MINERS, 0.0)
    runs = range(1, cal.months + 1)
    bar = tqdm(total=len(runs) * len(MINERS), unit="run", desc="mining", disable=not echo, leave=False)
    for month in runs:
        ads = drops / "ads" / f"ad_events_{cal.month_date(month - 1):%Y-%m}.csv"
        if ads.exists():
            upload_drops([ads], drops / "ads", settings, c.ADS_DROP_PREFIX)
        when = datetime.combine(cal.month_date(month), MINING_TIME, UTC)
        for source, module in handlers.items():
            bar.set_postfix_str(f"{when:%Y-%m} {source}")
            started = time.perf_counter()
            with redirect_stdout(io.StringIO()):  # the metric lines (EMF) go to CloudWatch in AWS
                summary = module.handler(scheduled_event(f"credo-mine-{source}", when), context)
            timings[source] += time.perf_counter() - started
            total = totals[source]
            total["runs"] += 1
            for name, value in (("good", summary["good"]), ("quarantined", summary["quarantined"])):
                total[name] += value
            for name, value in summary.get("details", {}).items():
                total[name] = total.get(name, 0) + value
            total["watermark"] = summary["watermark"]
            bar.update(1)
    bar.close()
    for source, seconds in timings.items():
        totals[source]["seconds"] = round(seconds, 1)
    return totals


def _train_and_register(
    settings: CredoSettings,
    train_table: pd.DataFrame,
    holdout_table: pd.DataFrame,
    world: dict[str, Any],
    holdout: date,
    workdir: Path,
    echo: bool,
    search_seconds: float,
) -> tuple[dict[str, ModelSummary], Policy]:
    # sklearn: training only
    from credo.training import write_model_artifacts
    from credo.training.compare import compare_zoo
    from credo.training.promotion import challenge
    from credo.training.report import build_report, write_report

    registry = ModelRegistry.for_bucket(settings.model_bucket)
    summaries, thresholds, comparisons = {}, {}, []
    for target, label in LABEL_OF_TARGET.items():
        # measured per decision (a customer for credit, a COD order for buying); fitted on weighted rows
        rows = labelled_rows(train_table, target, weighted=True)
        test = labelled_rows(holdout_table, target)
        oracle = world["realism"][REALISM_KEYS[target]][holdout.isoformat()]["oracle_auc"]
        with threadpool_limits(limits=1):  # the forests' workers would oversubscribe two cores
            comparison = compare_zoo(
                rows,
                test,
                target,
                label,
                seed=7,
                oracle_auc=float(oracle),
                search_seconds=search_seconds,
            )
        comparisons.append(comparison)
        _print_comparison(target, comparison.table, echo)
        model = comparison.selected
        ref, decision = challenge(registry, model, _matrix(test), test[label].to_numpy(dtype=np.int64))
        write_model_artifacts(model, workdir / "models" / target)
        scorer = ScoringModel(registry.load_champion(target).onnx_bytes, expected_target=target)
        p_test = scorer.predict_bad_probability(_matrix(test))
        train_scores = scores_from_bad_probabilities(scorer.predict_bad_probability(_matrix(rows)))
        thresholds[target] = int(np.quantile(train_scores, 1 - DEMO_APPROVAL_SHARE))
        summaries[target] = ModelSummary(
            target=target,
            version=ref.model_version,
            model_key=f"s3://{settings.model_bucket}/{ref.model_key}",
            training_rows=len(rows),
            holdout_snapshot=holdout.isoformat(),
            holdout_rows=len(test),
            holdout_auc=roc_auc(p_test, test[label].to_numpy(dtype=bool)),
            oracle_auc=float(oracle),
            estimator=str(model.model_card["estimator"]),
            promotion=("promoted: " if decision.promote else "not promoted: ") + decision.reason,
        )
    report = build_report(
        [comparison.result for comparison in comparisons],
        metadata={"world": f"{world['config']['customers']:,} customers, seed {world['config']['seed']}",
                  "holdout": holdout.isoformat(), "validation": "out of time: later snapshot"},
    )  # fmt: skip
    written = write_report(report, workdir / "models")
    for summary in summaries.values():  # the comparison that selected a version travels with it
        for path in written:
            registry.attach(summary.target, summary.version, path.name, path.read_bytes())
    policy = Policy(
        version="demo-1",
        credit_threshold=thresholds[c.TARGET_CREDIT],
        buying_threshold=thresholds[c.TARGET_BUYING],
    )
    ParameterStore.create().put(settings.policy_parameter, policy.model_dump_json())
    return summaries, policy


def _print_comparison(target: str, table: list[dict[str, Any]], echo: bool) -> None:
    if not echo:
        return
    header = (
        f"{'model':<24} {'cv AUC':>6} {'AUC':>6} {'F1':>6} {'Brier':>6} {'fit s':>6} {'ONNX KB':>8}"
        f" {'1-row ms':>8}"
    )
    print(f"      {target}: {header}")
    for row in table:
        mark = "  ← selected" if row["selected"] else ""
        print(
            f"      {'':<{len(target) + 1}} {row['model']:<24} {row['cv_auc']:>6.3f} {row['roc_auc']:>6.3f}"
            f" {row['f1'] or 0:>6.3f}"
            f" {row['brier']:>6.3f} {row['fit_seconds']:>6.1f} {row['onnx_bytes'] / 1024:>8.0f}"
            f" {row['one_row_latency_p50_ms']:>8.3f}{mark}",
            flush=True,
        )


def _matrix(table: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float32]]:
    return table[list(FEATURE_NAMES)].astype("float64").to_numpy(dtype=np.float32, na_value=np.nan)


def _example_customers(source_db: Path) -> list[tuple[str, str]]:
    """A handful of customers the checkout might send, picked so the decisions differ."""
    picks = {
        "frequent COD refuser": "SELECT customer_id FROM orders "
        "WHERE status = 'rto' AND payment_method = 'cod' "
        "GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1",
        "postpaid, auto-billing": "SELECT customer_id FROM registrations WHERE is_postpaid = 1 "
        "AND is_auto_billing = 1 ORDER BY customer_id LIMIT 1",
        "postpaid, paid late": "SELECT customer_id FROM payments WHERE days_past_due > 30 "
        "GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1",
        "loyal shopper": "SELECT customer_id FROM orders WHERE status = 'delivered' "
        "GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1",
        "recent sign-up": "SELECT customer_id FROM registrations "
        "ORDER BY registered_at DESC, customer_id LIMIT 1",
    }
    with sqlite3.connect(source_db) as conn:
        chosen = [(label, conn.execute(sql).fetchone()) for label, sql in picks.items()]
    return [(label, row[0]) for label, row in chosen if row] + [("not a customer", UNKNOWN_CUSTOMER)]


def _score_examples(source_db: Path) -> list[dict[str, Any]]:
    handler = load_handler("score")
    context = LocalLambdaContext(function_name="credo-score")
    key = load_hmac_key(SecretStore.create(), CredoSettings().hmac_secret_name)
    decisions = []
    for label, customer_id in _example_customers(source_db):
        body = {"customer_id": customer_id, "cart": {"amount": 18_999.0, "currency": "INR"}}
        response = handler.handler(rest_event("POST", "/v1/eligibility", body), context)
        answer = json.loads(response["body"])
        decisions.append(
            {
                "who": label,
                "customer_id": customer_id,
                "token": tokenize(customer_id, key),
                "status": response["statusCode"],
                **answer,
            }
        )
    return decisions


def _print_summary(result: DemoResult, settings: CredoSettings) -> None:
    print("\nDecisions for a cart of ₹18,999 (the real handler, API Gateway events in, JSON out):\n")
    header = ("customer", "who", "credit", "band", "EMI", "buying", "band", "COD")
    print("  {:<14} {:<24} {:>6} {:>4} {:>4} {:>6} {:>4} {:>4}".format(*header))
    for d in result.decisions:
        credit, buying = d.get("credit") or {}, d.get("buying") or {}
        flags = ", ".join(n for n in ("new customer", "degraded") if d.get(n.replace(" ", "_")))
        cells = (
            d["customer_id"],
            d["who"],
            credit.get("score") or "-",
            credit.get("band") or "-",
            "yes" if credit.get("emi_eligible") else "no",
            buying.get("score") or "-",
            buying.get("band") or "-",
            "yes" if buying.get("cod_eligible") else "no",
        )
        print("  {:<14} {:<24} {:>6} {:>4} {:>4} {:>6} {:>4} {:>4}  ".format(*cells) + flags)
        # the first reason of each: the rule that decided, or the feature that cost the most points
        for part, label in ((credit, "EMI"), (buying, "COD")):
            reasons = part.get("reasons") or []
            if reasons:
                first = reasons[0]
                cost = f" (−{first['impact']} points)" if first.get("impact") else ""
                print(f"  {'':<14} {'':<24} {label}: {first['text']}{cost}")
    w = result.workdir
    print("\nWhere everything is:")
    print(f"  world (sources)      {w / 'world'}  (world.json: counts and realism figures)")
    print(
        f"  lake                 s3://{settings.lake_bucket}/raw/<source>/dt=…/"
        " (moto; gone when the demo ends)"
    )
    print(f"  warehouse            {w / 'warehouse.duckdb'}")
    for m in result.models.values():
        print(f"  {m.target + ' model':<20} {m.model_key}  (copy in {w / 'models' / m.target})")
    print(f"  {'registry copy':<20} {w / 'registry'}  (credo models list)")
    print(f"  online features      DynamoDB {settings.feature_table}: {result.materialised:,} items")
    policy = result.policy
    print(
        f"  policy               SSM {settings.policy_parameter}: version {policy.version}, EMI from"
        f" {policy.credit_threshold}, COD from {policy.buying_threshold}, bands and limits in"
        f" {w / 'demo.json'} (docs/api.md)"
    )
    print(f"  this run             {w / 'demo.json'}")
    print("\nNext: `.venv/bin/credo serve` answers the API on http://127.0.0.1:8080 (docs/api.md);")
    print(
        f"      `.venv/bin/credo models list` shows the registry; the report: {w / 'models' / 'report.html'}"
    )


def _jsonable(result: DemoResult) -> dict[str, Any]:
    return {
        "workdir": str(result.workdir),
        "world": {k: result.world[k] for k in ("config", "counts", "snapshots")},
        "mined": result.mined,
        "warehouse_rows": result.warehouse_rows,
        "models": {t: m.__dict__ for t, m in result.models.items()},
        "policy": result.policy.model_dump(),
        "materialised": result.materialised,
        "decisions": result.decisions,
    }
