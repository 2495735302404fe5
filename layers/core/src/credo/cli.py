"""The `credo` command line."""

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def cmd_world(args: argparse.Namespace) -> int:
    from credo.synthetic import WorldConfig, generate_world

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


def cmd_demo(args: argparse.Namespace) -> int:
    from credo.demo import run_demo

    run_demo(Path(args.workdir), customers=args.customers, seed=args.seed)
    return 0


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "months", 24) < 13:
        parser.error("--months must be at least 13 (6 months of history and a 6-month label window)")
    func: Command = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
