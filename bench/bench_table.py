"""`credo train --table` on a lender-sized table: wall time, time per model and peak memory, 100k and 1M rows.

Run: .venv/bin/python bench/bench_table.py [--sizes 100000 1000000] [--search-seconds 60] [--time-column]
                                           [--wide-text]

Each size is a lender's loan book written as CSV under .bench/table/ (built once, not timed): an
application id (a text identifier, which the table path must leave out), numbers with gaps, text
categories with gaps, a date and a yes/no label whose odds follow a few of the columns. Then, in a
fresh process per size (so that one size's peak memory is its own), the whole command as a lender
runs it: read, prepare, the settings search within its budget, every zoo model cross-validated on 3
folds, the selected model refitted on every row, exported to ONNX with its parity check, and the
report written.

--wide-text adds five text columns of 100 values each (branch, merchant category, occupation, product
code, district; the first three move the odds, value by value in no order), the widest text the
linear models and the network take one-hot: each text value is one of their inputs (a column of more
values reaches them as one input, see bench_text_columns.py).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mining import ROOT, peak_rss_mb
from record import marked, record

from credo.constants import TABLE_SEARCH_SECONDS

CITIES = np.array([f"city {i:02d}" for i in range(40)], dtype=object)
EMPLOYMENT = np.array(["salaried", "self-employed", "student", "retired", "unemployed"], dtype=object)
# --wide-text: (column, spread of its values' effect on the log-odds); 0 = noise
WIDE_TEXT = (("branch", 0.4), ("merchant category", 0.3), ("occupation", 0.3), ("product code", 0.0),
             ("district", 0.0))  # fmt: skip
WIDE_VALUES = 100


def loan_book(rows: int, seed: int, wide_text: bool = False) -> pd.DataFrame:
    """A lender's history: about 8 % defaults, driven by late payments, income, bureau score and city."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(3.8, 0.5, rows)
    bureau = np.where(rng.random(rows) < 0.2, np.nan, rng.normal(700, 60, rows).round())
    late = rng.poisson(0.8, rows).astype(float)
    city = rng.choice(CITIES, rows)
    city_risk = np.linspace(-0.5, 0.5, len(CITIES))[np.searchsorted(CITIES, city)]
    employment = rng.choice(EMPLOYMENT, rows, p=[0.55, 0.25, 0.08, 0.07, 0.05])
    amount = rng.lognormal(10.5, 0.7, rows).round(-2)
    logit = (
        -2.9
        + 0.55 * late
        - 0.6 * (np.log(income) - 3.8)
        - 0.012 * (np.nan_to_num(bureau, nan=660) - 700)
        + city_risk
        + 0.8 * (employment == "unemployed")
        + 0.2 * (np.log(amount) - 10.5)
    )
    wide = {}
    if wide_text:
        # Zipf-like frequencies, so that some values are rare, as real branch or merchant lists are
        weights = 1 / np.arange(1, WIDE_VALUES + 1) ** 0.8
        for column, spread in WIDE_TEXT:
            codes = rng.choice(WIDE_VALUES, rows, p=weights / weights.sum())
            logit = logit + rng.normal(0, spread, WIDE_VALUES)[codes]
            # names in no relation to frequency or effect, as a lender's codes are
            names = np.array([f"{column} {n:03d}" for n in rng.permutation(WIDE_VALUES)], dtype=object)
            wide[column] = names[codes]
            wide[column][rng.random(rows) < 0.03] = None
    bad = rng.random(rows) < 1 / (1 + np.exp(-logit))
    city[rng.random(rows) < 0.05] = None
    income[rng.random(rows) < 0.1] = np.nan
    start = np.datetime64("2022-01-01")
    applied = start + np.sort(rng.integers(0, 3 * 365 * 24, rows)).astype("timedelta64[h]")
    return pd.DataFrame(
        {
            "application id": [f"A{i:08d}" for i in range(rows)],
            "monthly income (k)": income.round(2),
            "bureau score": bureau,
            "late payments in 12 months": late,
            "loan amount": amount,
            "tenure (months)": rng.choice([3, 6, 9, 12, 18, 24], rows),
            "home city": city,
            "employment": employment,
            **wide,
            "applied on": applied,
            "defaulted": np.where(bad, "yes", "no"),
        }
    )


def table_for(rows: int, seed: int, wide_text: bool) -> Path:
    path = ROOT / ".bench" / "table" / f"loans{'-wide' if wide_text else ''}-{rows}-seed{seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"  writing {path.name} …", flush=True)
        loan_book(rows, seed, wide_text).to_csv(path, index=False)
    return path


def measure(path: Path, search_seconds: float, time_column: bool) -> dict[str, Any]:
    """The command's work in this process: wall time, each model's mean fit time, peak RSS."""
    import warnings

    from credo.training.byo import train_table

    warnings.filterwarnings("ignore", module="sklearn")  # as `credo train`: fold-level convergence chatter
    out = path.parent / f"out-{path.stem}"
    started = time.perf_counter()
    report = train_table(
        path,
        label="defaulted",
        out=out,
        time_column="applied on" if time_column else None,
        search_seconds=search_seconds,
        progress=lambda line: print(line, flush=True),
    )
    seconds = time.perf_counter() - started
    models = report["targets"]["table"]["models"]
    return {
        "rows": report["metadata"]["rows"],
        "seconds": round(seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "selected": report["selected"],
        "validation": report["validation"],
        "folds": report["folds"],
        "search_seconds": search_seconds,
        "onnx_kb": round((out / "model.onnx").stat().st_size / 1024),
        "notes": report["notes"],
        "models": {
            name: {"roc_auc": report["models"][name]["roc_auc"], "fit_seconds": m["fit_seconds"]}
            for name, m in models.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--search-seconds", type=float, default=TABLE_SEARCH_SECONDS)
    parser.add_argument("--time-column", action="store_true", help="validate out of time (applied on)")
    parser.add_argument("--wide-text", action="store_true", help="add five 100-value text columns")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # the child process measuring one table
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(measure(args.one, args.search_seconds, args.time_column)), flush=True)
        return
    results_dir = ROOT / ".bench" / "table"
    validation = ("time" if args.time_column else "stratified") + ("-wide" if args.wide_text else "")
    for rows in sorted(args.sizes):
        print(f"{rows:,} rows:", flush=True)
        path = table_for(rows, args.seed, args.wide_text)
        command = [sys.executable, __file__, "--one", str(path), "--search-seconds", str(args.search_seconds)]
        command += ["--time-column"] if args.time_column else []
        figures = _run_child(command)
        (results_dir / f"results-{rows}-{validation}.json").write_text(json.dumps(figures, indent=2))
        rss, selected = figures["peak_rss_mb"], figures["selected"]
        print(f"  {figures['seconds']:.0f} s, peak RSS {rss:,} MB, selected {selected}")
    found = [json.loads(p.read_text()) for p in results_dir.glob(f"results-*-{validation}.json")]
    folds = "out-of-time" if args.time_column else "stratified"
    record(
        f"Your own table: `credo train --table` ({folds} folds{', wide text' if args.wide_text else ''})",
        _markdown(sorted(found, key=lambda r: r["rows"]), args.time_column, args.wide_text),
    )


def _run_child(command: list[str]) -> dict[str, Any]:
    """Run one size in its own process, echoing its progress as it comes; its figures are the RESULT line."""
    result = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
            else:
                print(line, end="", flush=True)
    if child.returncode or result is None:
        raise SystemExit(f"the measuring process failed (exit {child.returncode})")
    return result


def _markdown(results: list[dict[str, Any]], time_column: bool, wide_text: bool) -> str:
    names = list(results[0]["models"])
    command = "bench/bench_table.py" + (" --time-column" if time_column else "")
    command += " --wide-text" if wide_text else ""
    columns = "10 columns: an application id, numbers and text categories"
    if wide_text:
        columns = "15 columns: an application id, numbers, text categories (five of 100 values)"
    lines = [
        f"`.venv/bin/python {command}` — a synthetic loan book ({columns} with gaps, a date, "
        "a yes/no label), the whole command in a fresh "
        "process per size: read, prepare, search, cross-validate every zoo model, refit the selected "
        "one, export it and write the report.",
        "",
        "| rows | wall time | peak RSS | search budget | selected | ONNX | folds |",
        "| ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['seconds']:,.0f} s | {r['peak_rss_mb'] / 1024:.1f} GB "
            f"| {r['search_seconds']:.0f} s | {r['selected']} | {r['onnx_kb']:,} KB | {r['folds']} |"
        )
    lines += marked((f"{r['rows']:,} rows", r.get("note")) for r in results)
    lines += ["", "Mean fit time per fold and mean cross-validated ROC-AUC, per model:", ""]
    lines.append("| model | " + " | ".join(f"{r['rows']:,} rows" for r in results) + " |")
    lines.append("| --- |" + " ---: |" * len(results))
    for name in names:
        cells = [
            f"{r['models'][name]['fit_seconds']:.1f} s, AUC {r['models'][name]['roc_auc']:.4f}"
            for r in results
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for r in results:
        lines += ["", f"Notes the command printed for {r['rows']:,} rows:", ""]
        lines += [f"- {note}" for note in r["notes"]] or ["- none"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
