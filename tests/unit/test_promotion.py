"""Champion / challenger on the same out-of-time holdout, through the serving code."""

import numpy as np
import pandas as pd

from credo.features import FEATURE_NAMES, LABEL_CREDIT
from credo.registry import ModelRegistry
from credo.training import train_target
from credo.training.promotion import challenge
from tests.fakes import MemoryStore


def table(n_rows: int, seed: int, *, signal: float) -> pd.DataFrame:
    """Rows whose credit label depends on late bills with the given strength (0: pure noise)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURE_NAMES))), columns=list(FEATURE_NAMES))
    frame["bills_late_in_12months"] = rng.poisson(1.0, n_rows).astype(float)
    logit = -1.5 + signal * (frame["bills_late_in_12months"] - 1.0)
    frame[LABEL_CREDIT] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(float)
    return frame


def test_given_a_weaker_challenger_then_the_champion_stays_and_a_stronger_one_replaces_it() -> None:
    registry = ModelRegistry(MemoryStore())
    holdout = table(2_000, 9, signal=1.5)
    x = holdout[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
    y = holdout[LABEL_CREDIT].to_numpy(dtype=np.int64)
    strong = train_target(table(3_000, 1, signal=1.5), "credit", LABEL_CREDIT, seed=1, n_threads=1)
    weak = train_target(table(3_000, 2, signal=0.0), "credit", LABEL_CREDIT, seed=2, n_threads=1)

    _, first = challenge(registry, strong, x, y)
    _, second = challenge(registry, weak, x, y)
    champion_after_weak = registry.champion("credit")

    assert first.promote and "no comparable champion" in first.reason
    assert (
        not second.promote and second.champion_auc is not None and second.champion_auc > second.challenger_auc
    )
    assert champion_after_weak is not None and champion_after_weak.model_version == strong.model_version
    assert [v["model_version"] for v in registry.versions("credit")] == sorted(
        [strong.model_version, weak.model_version]
    )  # the loser is still registered: a promote can bring it back
