"""A text column of many values in your own table: what one bad-rate-ordered input gives each model.

Run: .venv/bin/python bench/bench_text_columns.py [--rows 30000] [--values 150 1000]

`credo train --table` one-hot encodes a text column of up to zoo.MAX_ONE_HOT_VALUES values for the
linear models and the network; a column of more values reaches every model as one input, its
values ordered by bad rate in the fitting rows (credo.training.encoding). This bench measures that
choice on a synthetic table: a few numbers, and a "branch" column whose branches carry risk in no
order of their names (a tenth of them risky), with gaps. Per number of branches and per zoo model,
on fresh rows (not cross-validated: fitted once, scored on a second table drawn the same way):

- AUC without the column, with it as one ordered input (what the table path does), and, for the
  linear models and the network, with it one-hot encoded as the cap would otherwise allow;
- the one-hot model's ONNX size and one-row onnxruntime latency beside the ordered input's, the
  cost that caps one-hot.
"""

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record

from credo.training import zoo

NUMERIC = ["income", "late_payments"]
TEXT = ["branch"]
SEED = 11
RISKY_SHARE = 10  # one branch in this many is risky


def loan_book(rows: int, branches: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Two numbers and a branch whose risk follows no order in its name; about 5 % of branches missing."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, rows)
    late = rng.poisson(1.0, rows).astype(float)
    branch = rng.integers(0, branches, rows)
    risky = (branch * 7919) % RISKY_SHARE == 0  # a fixed, scattered tenth of the branches
    logit = -2.0 + 1.5 * risky + 0.6 * late - 0.02 * (income - 50)
    names = np.array([f"branch {b:05d}" for b in branch], dtype=object)
    names[rng.random(rows) < 0.05] = None
    frame = pd.DataFrame({"income": income, "late_payments": late, "branch": names})
    return frame, (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)


def measure(spec: zoo.ModelSpec, fit: pd.DataFrame, y: np.ndarray, fresh: pd.DataFrame, y_fresh: np.ndarray,
            text: Sequence[str]) -> dict[str, float]:  # fmt: skip
    pipeline = zoo.fit_zoo_model(spec, fit, y, NUMERIC, text, seed=SEED)
    onnx_bytes = zoo.export_zoo_model(pipeline, NUMERIC, text, {"model": spec.name})
    p = zoo.predict_onnx(onnx_bytes, fresh, NUMERIC, text)
    cost = zoo.serving_cost(onnx_bytes, fresh.head(1_000), NUMERIC, text)
    return {
        "auc": float(roc_auc_score(y_fresh, p)),
        "onnx_kb": cost["onnx_bytes"] / 1024,
        "latency_ms": cost["one_row_latency_p50_ms"],
    }


@contextmanager
def one_hot_any_size() -> Iterator[None]:
    """While open, the linear models and the network one-hot encode a text column of any size."""
    cap = zoo.MAX_ONE_HOT_VALUES
    zoo.MAX_ONE_HOT_VALUES = sys.maxsize  # type: ignore[misc]  # read when the columns are picked
    try:
        yield
    finally:
        zoo.MAX_ONE_HOT_VALUES = cap  # type: ignore[misc]


def _row(rows: int, branches: int, name: str, without: dict[str, float], ordered: dict[str, float],
         one_hot: dict[str, float] | None) -> str:  # fmt: skip
    cells = [f"{rows:,}", f"{branches:,}", name, f"{without['auc']:.4f}", f"{ordered['auc']:.4f}"]
    cells.append("—" if one_hot is None else f"{one_hot['auc']:.4f}")
    for figures in (ordered, one_hot):
        cells.append("—" if figures is None else f"{figures['onnx_kb']:,.0f} / {figures['latency_ms']:.3f}")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=30_000, help="rows fitted on (and as many fresh rows scored)"
    )
    parser.add_argument("--values", type=int, nargs="+", default=[150, 1_000], help="numbers of branches")
    args = parser.parse_args()
    lines = []
    for branches in args.values:
        fit, y = loan_book(args.rows, branches, SEED)
        fresh, y_fresh = loan_book(args.rows, branches, SEED + 1)
        print(f"{args.rows:,} rows, {branches:,} branches (about {args.rows // branches} rows each):")
        for spec in zoo.ZOO:
            without = measure(spec, fit, y, fresh, y_fresh, [])
            ordered = measure(spec, fit, y, fresh, y_fresh, TEXT)
            one_hot = None
            if spec.name not in {"decision_tree", "extra_trees", "random_forest", "hist_gradient_boosting"}:
                with one_hot_any_size():
                    one_hot = measure(spec, fit, y, fresh, y_fresh, TEXT)
            shown = "—" if one_hot is None else f"{one_hot['auc']:.4f}"
            print(f"  {spec.name}: AUC without {without['auc']:.4f}, ordered input {ordered['auc']:.4f}, "
                  f"one-hot {shown}")  # fmt: skip
            lines.append(_row(args.rows, branches, spec.name, without, ordered, one_hot))
    record(
        "Your own table: a text column of many values",
        "`.venv/bin/python bench/bench_text_columns.py` — a synthetic table of two numbers and a branch "
        "column whose branches carry risk in no order of their names (one in ten risky, 5 % missing). "
        "Each zoo model fitted once and scored on as many fresh rows drawn the same way: AUC without the "
        "column, with it as one input ordered by bad rate (what `credo train --table` does above "
        f"{zoo.MAX_ONE_HOT_VALUES} values), and, for the linear models and the network, one-hot encoded "
        "(what the cap rules out), with each ONNX model's size and one-row onnxruntime latency.\n\n"
        "| rows | branches | model | AUC without | AUC ordered input | AUC one-hot | ordered: ONNX KB / "
        "one-row ms | one-hot: ONNX KB / one-row ms |\n"
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n" + "\n".join(lines),
    )


if __name__ == "__main__":
    main()
