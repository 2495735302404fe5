"""The `credo` command line."""

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from credo import constants as c

if TYPE_CHECKING:  # the commands import what they use, so `credo --help` stays quick
    from credo.settings import CredoSettings
    from credo.warehouse.protocol import Warehouse

Command = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"not a TCP port (0-65535): {text}")
    return value


def cmd_world(args: argparse.Namespace) -> int:
    from credo.synthetic import WorldConfig, generate_world

    if not _output_directory(Path(args.out), "world"):
        return 2
    summary = generate_world(
        WorldConfig(customers=args.customers, seed=args.seed, months=args.months),
        Path(args.out),
        progress=not args.quiet,
    )
    counts = summary["counts"]
    print(
        f"world written to {args.out}: {counts['customers']:,} customers, {counts['orders']:,} orders, "
        f"{counts['bills']:,} bills, {counts['ad_events']:,} ad events in {summary['seconds']} s"
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


def _output_directory(out: Path, command: str) -> bool:
    """Create --out before the work; False, having said why, when it cannot be a directory."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"credo {command}: cannot write to --out {out}: {error.strerror}", file=sys.stderr)
        return False
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    from credo.demo import run_demo

    run_demo(Path(args.workdir), customers=args.customers, seed=args.seed)
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    import os

    from credo.local_mining import mine_once, quarantine_reasons

    use_environment = args.aws or bool(os.environ.get("AWS_ENDPOINT_URL"))
    try:
        run = mine_once(
            args.source,
            from_file=Path(args.from_file) if args.from_file else None,
            world=Path(args.world),
            at=args.at,
            lake_copy=Path(args.lake),
            use_environment=use_environment,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"credo mine: {error}", file=sys.stderr)
        return 2
    summary = run.summary
    stopped = "" if summary.get("complete", True) else " (stopped early; the next run resumes)"
    print(
        f"{args.source}: {summary['good']:,} rows written, {summary['quarantined']:,} quarantined, "
        f"watermark {summary.get('watermark') or '-'}{stopped}"
    )
    for name, value in sorted(summary.get("details", {}).items()):
        print(f"  {name.replace('_', ' ')}: {value:,}")
    for reason in quarantine_reasons(run):
        print(f"  quarantined {reason}")
    if run.copied_to is not None:
        print(f"{len(run.objects)} lake objects copied to {run.copied_to}/ (raw/, quarantine/, manifests/)")
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from credo.features import LABEL_BUYING_COD_ORDERS, LABEL_BUYING_FAILED_ORDERS, LABEL_CREDIT
    from credo.settings import CredoSettings
    from credo.warehouse import export_features

    try:
        with _open_warehouse(args.warehouse, CredoSettings(), redshift_first=True) as (warehouse, where):
            table = export_features(warehouse, args.as_of, labels=args.labels)
    except _NoWarehouseError as error:
        print(f"credo features: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)
    snapshots = ", ".join(d.isoformat() for d in sorted(set(args.as_of)))
    print(f"{table.num_rows:,} rows ({table.num_columns} columns) as of {snapshots} from {where} → {out}")
    if args.labels:
        known = [v for v in table.column(LABEL_CREDIT).to_pylist() if v is not None]
        rate = f"{sum(known) / len(known):.1%} bad" if known else "no population"
        print(f"  {LABEL_CREDIT}: {len(known):,} customers labelled, {rate}")
        orders = [v for v in table.column(LABEL_BUYING_COD_ORDERS).to_pylist() if v is not None]
        failed = sum(v for v in table.column(LABEL_BUYING_FAILED_ORDERS).to_pylist() if v is not None)
        rate = f"{failed / sum(orders):.1%} failed" if orders else "no population"
        print(f"  buying, per COD order: {sum(orders):,} orders of {len(orders):,} customers, {rate}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import warnings

    from credo.training.byo import train_table
    from credo.training.table import TableError

    # Convergence chatter of single folds would bury the comparison; the report records the fits.
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", module="sklearn")
    out = Path(args.out)
    if not _output_directory(out, "train"):  # before the training, not after it: a run takes minutes
        return 2
    print(f"training the model zoo on {args.table} (label {args.label!r}) …", flush=True)
    try:
        report = train_table(
            Path(args.table),
            label=args.label,
            positive=args.positive,
            time_column=args.time_column,
            out=out,
            models=args.models,
            search_seconds=args.search_seconds,
        )
    except TableError as error:
        print(f"credo train: {error}", file=sys.stderr)
        return 2
    header = f"{'model':<24} {'ROC-AUC':>8} {'F1':>6} {'PR-AUC':>7} {'Brier':>6} {'KS':>6}"
    print(f"\n  {header}   ({report['validation']} cross-validation)")
    for name, figures in report["models"].items():
        cells = [figures.get(key) for key in ("roc_auc", "f1", "pr_auc", "brier", "ks")]
        text = " ".join(
            f"{'-' if v is None else format(v, '.3f'):>{w}}"
            for v, w in zip(cells, (8, 6, 7, 6, 6), strict=True)
        )
        print(f"  {name:<24} {text}{'   ← selected' if name == report['selected'] else ''}")
    print(f"\nselected {report['selected']}: {report['selection_reason']}")
    print(f"wrote {out / 'model.onnx'}, {out / 'report.json'}, {out / 'report.html'}")
    return 0


def _registry_location(args: argparse.Namespace) -> tuple[Path, bool]:
    """The local registry copy, and whether to use the environment's model bucket instead."""
    import os

    from credo.model_commands import DEFAULT_REGISTRY_DIR

    # Like `credo mine`: an endpoint in the environment means its resources, unless a copy is named.
    use_environment = args.aws or (args.registry is None and bool(os.environ.get("AWS_ENDPOINT_URL")))
    return (Path(args.registry) if args.registry else DEFAULT_REGISTRY_DIR), use_environment


def cmd_models_list(args: argparse.Namespace) -> int:
    from credo.model_commands import ModelCommandError, format_versions, list_versions, open_registry
    from credo.registry import RegistryError

    directory, use_environment = _registry_location(args)
    try:
        with open_registry(directory, use_environment=use_environment) as opened:
            rows = list_versions(opened.registry, args.target)
    except (ModelCommandError, RegistryError) as error:
        print(f"credo models list: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
    else:
        print(f"registry {opened.where}\n{format_versions(rows)}")
    return 0


def cmd_models_promote(args: argparse.Namespace) -> int:
    from credo.model_commands import ModelCommandError, open_registry, promote_version
    from credo.registry import RegistryError

    directory, use_environment = _registry_location(args)
    try:
        with open_registry(directory, use_environment=use_environment, save=True) as opened:
            promotion = promote_version(opened.registry, args.target, args.version)
    except (ModelCommandError, RegistryError) as error:
        print(f"credo models promote: {error}", file=sys.stderr)
        return 2
    print(f"{promotion.message} in {opened.where}")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    import os

    from credo.adapters.s3 import S3Store
    from credo.materialize import (
        NoOrdersError,
        latest_snapshot,
        materialize_features,
        materialize_through_s3,
    )
    from credo.online_store import OnlineFeatureStore
    from credo.pipeline.materialize import online_features_uri
    from credo.settings import CredoSettings

    if not (args.aws or os.environ.get("AWS_ENDPOINT_URL")):
        print(
            "credo materialize: no online store to write to. The local DynamoDB (a moto server) exists only"
            " while `credo serve` or `make demo` runs, and both materialise the demo's features themselves."
            " Pass --aws to write to the table the environment names (CREDO_FEATURE_TABLE), or set"
            " AWS_ENDPOINT_URL to a running endpoint.",
            file=sys.stderr,
        )
        return 2
    settings = CredoSettings()
    try:
        # an explicit --warehouse file wins over a configured Redshift workgroup here
        with _open_warehouse(args.warehouse, settings, redshift_first=not args.warehouse) as (
            warehouse,
            where,
        ):
            as_of = args.as_of or latest_snapshot(warehouse)
            print(f"materialising features as of {as_of} from {where} …", flush=True)
            store = OnlineFeatureStore.for_table(settings.feature_table)
            if settings.redshift_workgroup and not args.warehouse:
                # Redshift: through Parquet in the lake, as the pipeline does (no Data API size limit)
                staging = online_features_uri(settings.lake_bucket, as_of)
                written = materialize_through_s3(
                    warehouse, as_of, store, s3=S3Store.create(), staging=staging
                )
            else:
                written = materialize_features(warehouse, as_of, store)
    except (_NoWarehouseError, NoOrdersError) as error:
        print(f"credo materialize: {error}", file=sys.stderr)
        return 2
    print(f"{written:,} customers written to DynamoDB {settings.feature_table} (as of {as_of})")
    return 0


class _NoWarehouseError(Exception):
    """No warehouse to read: the message says what to do."""


@contextmanager
def _open_warehouse(
    path_argument: str | None, settings: "CredoSettings", *, redshift_first: bool
) -> Iterator[tuple["Warehouse", str]]:
    """The warehouse a command reads, and where it is: Redshift when a workgroup is configured (and
    `redshift_first`), otherwise a DuckDB file (--warehouse, the settings' path, or the demo's)."""
    if redshift_first and settings.redshift_workgroup:
        from credo.warehouse.redshift import RedshiftWarehouse

        yield (
            RedshiftWarehouse.create(
                settings.redshift_workgroup, settings.redshift_database, settings.redshift_role_arn
            ),
            f"Redshift workgroup {settings.redshift_workgroup}",
        )
        return
    from credo.warehouse.duckdb import DuckDBWarehouse

    path = Path(path_argument or settings.warehouse_path or ".demo/warehouse.duckdb")
    if not path.is_file():
        raise _NoWarehouseError(f"no warehouse at {path}: run `make demo` first or pass --warehouse")
    with DuckDBWarehouse(path) as warehouse:
        yield warehouse, str(path)


def cmd_serve(args: argparse.Namespace) -> int:
    from credo.local_server import DEFAULT_HOST, LocalServerError, serve

    host = args.host or DEFAULT_HOST
    try:
        # A host named on the command line is a choice (warned about); only the default is assumed.
        serve(Path(args.workdir), host, args.port, allow_remote=args.host is not None)
    except LocalServerError as error:
        print(f"credo serve: {error}", file=sys.stderr)
        return 2
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text}") from None


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or timestamp: {text}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="credo",
        description="Credo: EMI and Cash-on-Delivery eligibility from privacy-preserving profiles.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    world = sub.add_parser(
        "world",
        help="write a synthetic e-commerce world (the sources Credo mines)",
        description="Write a deterministic synthetic world: an SQLite operational database "
        "(registrations, orders, payments), ad and registry drops, a bureau fixture, and "
        "evaluation-only truth. See docs/data-contracts.md.",
    )
    world.add_argument(
        "--customers", type=_positive_int, default=20_000, help="number of customers (default 20000)"
    )
    world.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same world")
    world.add_argument(
        "--months", type=_positive_int, default=24, help="months of history (default 24, minimum 13)"
    )
    world.add_argument("--out", required=True, help="output directory")
    world.add_argument("--quiet", action="store_true", help="no progress bar")
    world.add_argument("--json", action="store_true", help="also print the world summary as JSON")
    world.set_defaults(func=cmd_world)

    demo = sub.add_parser(
        "demo",
        help="run the whole pipeline end to end on a synthetic world (what `make demo` runs)",
        description="world → miners → S3 lake → DuckDB warehouse → features and labels → models → "
        "ONNX in the S3 registry → DynamoDB online store → the scoring Lambda handler, all on "
        "embedded stand-ins (a moto server and DuckDB). Prints each decision and where artefacts are.",
    )
    demo.add_argument("--customers", type=_positive_int, default=20_000, help="world size (default 20000)")
    demo.add_argument("--seed", type=int, default=7, help="world seed (default 7)")
    demo.add_argument("--workdir", default=".demo", help="where the demo writes (default .demo; replaced)")
    demo.set_defaults(func=cmd_demo)

    from credo.miners import FILE_MINERS, MINERS

    mine = sub.add_parser(
        "mine",
        help="run one miner's Lambda handler once (or import your own file)",
        description="Build the event an EventBridge schedule sends and call the miner's real handler. "
        "With AWS_ENDPOINT_URL set (or --aws) it mines the resources the environment names; otherwise it "
        "starts local stand-ins seeded from a synthetic world (a moto server, a fake bureau), mines from "
        "an empty watermark and copies the lake objects it wrote to --lake. --from FILE ingests a CSV or "
        "Parquet file that follows the source's data contract (docs/data-contracts.md) with the same "
        "validation and pseudonymisation.",
    )
    mine.add_argument("--source", required=True, choices=MINERS, help="which miner to run")
    mine.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help=f"a .csv or .parquet file to ingest instead (sources: {', '.join(FILE_MINERS)})",
    )
    mine.add_argument(
        "--world", default=".demo/world", help="synthetic world for local runs (default .demo/world)"
    )
    mine.add_argument(
        "--lake", default=".demo/lake", help="where local runs copy the lake objects (default .demo/lake)"
    )
    mine.add_argument(
        "--at",
        type=_timestamp,
        help="the schedule's time (ISO; default: the world's end locally, now in AWS)",
    )
    mine.add_argument("--aws", action="store_true", help="use the AWS resources the environment names")
    mine.add_argument("--json", action="store_true", help="also print the handler's result as JSON")
    mine.set_defaults(func=cmd_mine)

    features = sub.add_parser(
        "features",
        help="export point-in-time features (and labels) from the warehouse to Parquet",
        description="Features of every customer registered before each snapshot date, computed only from "
        "data before it (docs/features.md); --labels adds the labels from the 6 months after it. Reads the "
        "Redshift workgroup named by CREDO_REDSHIFT_WORKGROUP, else a DuckDB warehouse file.",
    )
    features.add_argument(
        "--as-of", type=_date, nargs="+", required=True, metavar="DATE", help="snapshot date(s), YYYY-MM-DD"
    )
    features.add_argument("--out", required=True, help="the Parquet file to write")
    features.add_argument("--labels", action="store_true", help="add the labels and their populations")
    features.add_argument("--warehouse", help="DuckDB warehouse file (default .demo/warehouse.duckdb)")
    features.set_defaults(func=cmd_features)

    from credo.training.zoo import ZOO

    train = sub.add_parser(
        "train",
        help="train the model zoo on your own labelled table (CSV or Parquet) and pick the best",
        description="Cross-validate every zoo model (decision tree, SVM, logistic regression, MLP, extra "
        "trees, random forest, gradient boosting) on any labelled table — numeric and text columns, missing "
        "values, any column names — out of time when --time-column is given; export the best to ONNX and "
        "write DIR/model.onnx, DIR/report.json and DIR/report.html.",
    )
    train.add_argument("--table", required=True, metavar="FILE", help="a .csv or .parquet table")
    train.add_argument("--label", required=True, metavar="COLUMN", help="the outcome column")
    train.add_argument(
        "--positive",
        metavar="VALUE",
        help="the label value that is the bad outcome (default: 1 / true / yes)",
    )
    train.add_argument("--time-column", metavar="COL", help="validate out of time, ordered by this column")
    train.add_argument("--out", required=True, metavar="DIR", help="where to write the model and the report")
    train.add_argument(
        "--models",
        nargs="+",
        choices=[spec.name for spec in ZOO],
        help="only these zoo models (default: all)",
    )
    train.add_argument(
        "--search-seconds",
        type=_non_negative_seconds,
        default=c.TABLE_SEARCH_SECONDS,
        metavar="S",
        help=f"time to search the models' settings, shared by the zoo (default {c.TABLE_SEARCH_SECONDS:g};"
        " 0 keeps the zoo's own settings)",
    )
    train.set_defaults(func=cmd_train)

    models = sub.add_parser(
        "models",
        help="list the registered model versions, or promote one to champion (rollback included)",
        description="The S3 model registry (<target>/<version>/{model.onnx, model_card.json, report.html, "
        "report.json} and <target>/champion.json) on the command line. Locally it reads a copy of a "
        "registry in a directory (default .demo/registry, written by `make demo`) through a moto server "
        "and writes a promotion back to it; with --aws (or AWS_ENDPOINT_URL set) it uses the model bucket "
        "the environment names.",
    )
    actions = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_list = actions.add_parser(
        "list",
        help="every version per target: estimator, created, out-of-time AUC, the champion marked",
        description="List every registered version, oldest first per target, with its estimator, creation "
        "time and out-of-time ROC-AUC from its model card; the champion is marked with when it was promoted.",
    )
    models_list.add_argument("--target", help="only this target (credit or buying)")
    models_list.add_argument("--json", action="store_true", help="print the versions as JSON instead")
    _add_registry_location(models_list)
    models_list.set_defaults(func=cmd_models_list)
    models_promote = actions.add_parser(
        "promote",
        help="make a registered version the target's champion (promote an older one to roll back)",
        description="Point <target>/champion.json at a registered version. The scoring Lambda serves it "
        "from its next cold start. Promoting an older version is a rollback.",
    )
    models_promote.add_argument("target", metavar="TARGET", help="the target (credit or buying)")
    models_promote.add_argument("version", metavar="VERSION", help="a registered version of it")
    _add_registry_location(models_promote)
    models_promote.set_defaults(func=cmd_models_promote)

    materialize = sub.add_parser(
        "materialize",
        help="write the features as of a snapshot from the warehouse to the DynamoDB online store",
        description="Build every customer's point-in-time features (docs/features.md) and write one item per "
        "customer token to the online store the scoring Lambda reads, with batch writes. Reads the Redshift "
        "workgroup named by CREDO_REDSHIFT_WORKGROUP, else a DuckDB warehouse file. Writes to the table the "
        "environment names (--aws, or AWS_ENDPOINT_URL set); the local DynamoDB exists only while "
        "`credo serve` or `make demo` runs, and both materialise the demo's features themselves.",
    )
    materialize.add_argument(
        "--as-of",
        type=_date,
        metavar="DATE",
        help="snapshot date, YYYY-MM-DD (default: the first of the month after the latest order)",
    )
    materialize.add_argument(
        "--warehouse", metavar="FILE", help="DuckDB warehouse file (default .demo/warehouse.duckdb)"
    )
    materialize.add_argument(
        "--aws", action="store_true", help="write to the table the environment names (CREDO_FEATURE_TABLE)"
    )
    materialize.set_defaults(func=cmd_materialize)

    serve = sub.add_parser(
        "serve",
        help="serve the scoring API on loopback, on the models and features of the last `make demo`",
        description="Turn every HTTP request into an API Gateway REST proxy event for the real scoring "
        "Lambda handler and its answer into the HTTP response, with a moto server behind it holding the last "
        "demo's key, policy, model registry and features (from .demo/local-state.json, .demo/registry and "
        ".demo/warehouse.duckdb). Ctrl-C stops it.",
    )
    serve.add_argument("--port", type=_port, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    serve.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1; another address is served with a warning)",
    )
    serve.add_argument("--workdir", default=".demo", help="the finished demo to serve (default .demo)")
    serve.set_defaults(func=cmd_serve)
    return parser


def _add_registry_location(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--aws", action="store_true", help="use the model bucket the environment names (CREDO_MODEL_BUCKET)"
    )
    where.add_argument(
        "--registry", metavar="DIR", help="a local copy of a registry (default .demo/registry)"
    )


def _file_miners() -> tuple[str, ...]:
    from credo.miners import FILE_MINERS

    return FILE_MINERS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "from_file", None) and args.source not in _file_miners():
        parser.error(f"--from works for {', '.join(_file_miners())}, not {args.source}")
    if getattr(args, "months", 24) < 13:
        parser.error("--months must be at least 13 (6 months of history and a 6-month label window)")
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
