"""Training job entrypoint with SageMaker conventions; the same script runs as a local process.

Reads the labelled feature table (Parquet or CSV files) from SM_CHANNEL_TRAIN (default ./data/train),
hyperparameters from /opt/ml/input/config/hyperparameters.json when present (SageMaker passes every
value as a string: targets, models, seed, n_threads, search_seconds, policy), and writes
<SM_MODEL_DIR>/<target>/model.onnx and model_card.json per target.

When the table holds several snapshot dates, every zoo model (or those named by the `models`
hyperparameter) is fitted on the earlier snapshots and compared on the latest one, out of time;
the best within the serving budget ships, and <SM_MODEL_DIR>/report.html and report.json show them
all; <SM_MODEL_DIR>/<target>/holdout.npz keeps a sample of the out-of-time holdout, on which the
pipeline's evaluate step compares the new model with the champion. A single-snapshot table trains
one gradient-boosting model on a stratified split (and leaves no holdout sample).
Registering and promoting the models is the next step of the pipeline, not this job's.
"""

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pandas as pd
from threadpoolctl import threadpool_limits

from credo.constants import TARGETS
from credo.features import LABEL_HORIZON_MONTHS
from credo.labels import LABEL_OF_TARGET, ROW_UNIT, ROW_WEIGHT, labelled_rows
from credo.policy import DEFAULT_POLICY, Policy, parse_policy
from credo.training import train_target, write_model_artifacts
from credo.training.compare import DEFAULT_SEARCH_SECONDS, compare_zoo, with_float32_features
from credo.training.report import build_report, write_report
from credo.training.train import write_holdout_sample

HYPERPARAMETERS_FILE: Final = Path("/opt/ml/input/config/hyperparameters.json")
DEFAULT_TRAIN_DIR: Final = "./data/train"
DEFAULT_MODEL_DIR: Final = "./model"
SNAPSHOT_COLUMN: Final = "snapshot_date"
# Hyperparameters that reach the estimator, with the type SageMaker's strings are parsed into.
ESTIMATOR_HYPERPARAMETERS: Final[dict[str, Callable[[Any], Any]]] = {
    "max_iter": int,
    "learning_rate": float,
    "max_leaf_nodes": int,
    "min_samples_leaf": int,
    "l2_regularization": float,
    "class_weight": lambda value: None if str(value).strip().lower() in {"", "none", "null"} else str(value),
}


def read_training_table(directory: Path) -> pd.DataFrame:
    """Concatenate every Parquet and CSV file of the channel directory (searched recursively)."""
    files = sorted(p for p in directory.rglob("*") if p.suffix in {".parquet", ".csv"})
    if not files:
        raise FileNotFoundError(f"no .parquet or .csv files in {directory}")
    frames = [pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p) for p in files]
    return with_float32_features(pd.concat(frames, ignore_index=True))


def read_hyperparameters(path: Path = HYPERPARAMETERS_FILE) -> dict[str, Any]:
    return dict(json.loads(path.read_text())) if path.exists() else {}


@dataclass(frozen=True)
class JobConfig:
    targets: list[str]
    seed: int
    params: dict[str, Any]  # estimator hyperparameters
    n_threads: int | None  # OpenMP/BLAS threads of the fit; None = all cores
    models: list[str] = field(default_factory=list)  # zoo models to compare; empty = all
    search_seconds: float = DEFAULT_SEARCH_SECONDS  # hyperparameter search budget per target
    policy: Policy = DEFAULT_POLICY  # its economics price the threshold proposals


def parse_hyperparameters(raw: Mapping[str, Any]) -> JobConfig:
    """The job's configuration from SageMaker's string-valued hyperparameters."""
    targets = [t.strip() for t in str(raw.get("targets", ",".join(TARGETS))).split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise ValueError(f"unknown targets {unknown}; known: {list(TARGETS)}")
    return JobConfig(
        targets=targets,
        seed=int(raw.get("seed", 42)),
        params={name: kind(raw[name]) for name, kind in ESTIMATOR_HYPERPARAMETERS.items() if name in raw},
        n_threads=int(raw["n_threads"]) if "n_threads" in raw else None,
        models=[m.strip() for m in str(raw.get("models", "")).split(",") if m.strip()],
        search_seconds=_non_negative(
            float(raw.get("search_seconds", DEFAULT_SEARCH_SECONDS)), "search_seconds"
        ),
        # the policy document in force (the pipeline reads it from SSM); its defaults otherwise
        policy=parse_policy(str(raw["policy"])) if raw.get("policy") else DEFAULT_POLICY,
    )


def _non_negative(value: float, name: str) -> float:
    if not value >= 0:
        raise ValueError(f"hyperparameter {name} must be a number of seconds ≥ 0, got {value}")
    return value


def out_of_time_split(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Training snapshots whose 6-month label windows close before the latest, and the latest; None if one."""
    if SNAPSHOT_COLUMN not in table.columns:
        return None
    snapshots = sorted({pd.Timestamp(value).date() for value in table[SNAPSHOT_COLUMN].dropna()})
    if len(snapshots) < 2:
        return None
    holdout = snapshots[-1]
    horizon = pd.DateOffset(months=LABEL_HORIZON_MONTHS)
    closed = [s for s in snapshots[:-1] if (pd.Timestamp(s) + horizon).date() <= holdout] or snapshots[:-1]
    dates = pd.to_datetime(table[SNAPSHOT_COLUMN]).dt.date
    return table[dates.isin(closed)], table[dates == holdout]


def compare_targets(train: pd.DataFrame, holdout: pd.DataFrame, config: JobConfig, model_dir: Path) -> None:
    """The zoo comparison per target: trained on `train`'s snapshots, measured on `holdout`'s."""
    results = []
    for target in config.targets:
        label = LABEL_OF_TARGET[target]
        # measured on one row per decision (a customer for credit, a COD order for buying); fitted on
        # weighted rows, one per outcome and customer snapshot, which stand for the same decisions
        print(f"{target}: building its rows, one per {ROW_UNIT[target]} …")
        target_train = labelled_rows(train, target, weighted=True)
        target_holdout = labelled_rows(holdout, target)
        stands_for = (
            f" standing for {round(target_train[ROW_WEIGHT].sum()):,} {ROW_UNIT[target]}s"
            if ROW_WEIGHT in target_train
            else ""
        )
        holdout_rows = f"{len(target_holdout):,} holdout rows"
        print(f"{target}: {len(target_train):,} training rows{stands_for}, {holdout_rows}")
        with threadpool_limits(limits=config.n_threads):
            comparison = compare_zoo(
                target_train,
                target_holdout,
                target,
                label,
                seed=config.seed,
                models=config.models or None,
                search_seconds=config.search_seconds,
                costs=config.policy.economics(target),
                progress=print,
            )
        write_model_artifacts(comparison.selected, model_dir / target)
        # the pipeline's evaluate step scores this model and the champion on the same holdout rows
        write_holdout_sample(target_holdout, label, model_dir / target, seed=config.seed)
        results.append(comparison.result)
        print(f"{target}: selected {comparison.result.selected} ({comparison.result.selection_reason})")
    write_report(
        build_report(results, metadata={"validation": "out of time: the latest snapshot"}), model_dir
    )


def main(argv: Sequence[str] | None = None) -> int:
    del argv  # SageMaker configures the job through the environment and files, not arguments
    train_dir = Path(os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_TRAIN_DIR))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    config = parse_hyperparameters(read_hyperparameters(HYPERPARAMETERS_FILE))
    table = read_training_table(train_dir)
    split = out_of_time_split(table)
    print(f"read {len(table):,} rows from {train_dir}")
    if split is not None:
        del table  # the split holds every row it needs; at a million customers the table is gigabytes
        compare_targets(*split, config, model_dir)
        return 0
    for target in config.targets:
        model = train_target(
            labelled_rows(table, target),
            target,
            LABEL_OF_TARGET[target],
            seed=config.seed,
            params=config.params,
            n_threads=config.n_threads,
        )
        write_model_artifacts(model, model_dir / target)
        print(
            f"{target}: {model.model_version} roc_auc={model.roc_auc:.4f} "
            f"parity={model.parity_max_abs_diff:.1e} -> {model_dir / target}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
