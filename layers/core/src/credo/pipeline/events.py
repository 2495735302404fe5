"""The events each pipeline step takes and returns: what the Step Functions state machine passes along.

Inputs ignore keys they do not know, because Step Functions may pass a whole state along; a key
they need that is missing or malformed is a ValidationError naming it. Outputs dump to JSON with
`model_dump(mode="json")`; evaluate's output parses as promote's input.
"""

from datetime import date
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from credo.constants import TARGETS
from credo.pipeline.runs import RUN_ID_PATTERN, parse_as_of

DEFAULT_SEED: Final = 42
DEFAULT_SEARCH_SECONDS: Final = 60.0  # training/train.py's own default


def _as_of(value: Any) -> Any:
    return parse_as_of(value) if isinstance(value, str | date) else value


def _known_target(value: str) -> str:
    if value not in TARGETS:
        raise ValueError(f"unknown target {value!r}; known: {', '.join(TARGETS)}")
    return value


AsOf = Annotated[date, BeforeValidator(_as_of)]
RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
Target = Annotated[str, AfterValidator(_known_target)]
ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ModelArtifacts = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,62}/\S+\.tar\.gz$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def as_event(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class LoadInput(_Input):
    as_of: AsOf = Field(
        default_factory=lambda: parse_as_of(None),
        description="YYYY-MM-DD or ISO datetime; missing = today UTC",
    )
    execution: str = Field(min_length=1, max_length=256, description="the Step Functions execution name")


class LoadOutput(_Output):
    as_of: date
    run_id: str
    loaded: dict[str, int] = Field(description="source → rows in its warehouse table after the load")
    staged: dict[str, int] = Field(description="source → raw rows read from the lake by this load")


class FeaturesInput(_Input):
    as_of: AsOf
    run_id: RunId
    seed: int = DEFAULT_SEED
    search_seconds: float = Field(default=DEFAULT_SEARCH_SECONDS, ge=0)
    models: tuple[ModelName, ...] = Field(default=(), description="zoo models to compare; empty = all")
    targets: tuple[Target, ...] = Field(default=TARGETS, min_length=1)


class PolicyUsed(_Output):
    version: str
    source: str = Field(description="where the policy came from: the SSM parameter, or the default")


class FeaturesOutput(_Output):
    as_of: date
    run_id: str
    training_data: str = Field(description="s3:// prefix of the labelled Parquet, the job's train channel")
    snapshots: list[date] = Field(
        description="every snapshot unloaded, oldest first; the last is the holdout"
    )
    holdout_snapshot: date
    rows: dict[str, int] = Field(description="snapshot → rows unloaded (one per customer registered by then)")
    hyperparameters: dict[str, str] = Field(description="SageMaker hyperparameters of training/train.py")
    policy: PolicyUsed


class EvaluateInput(_Input):
    run_id: RunId
    as_of: AsOf
    model_artifacts: ModelArtifacts


class TargetEvaluation(_Output):
    challenger_version: str
    challenger_auc: float
    champion_version: str | None
    champion_auc: float | None
    promote: bool
    reason: str
    holdout_rows: int = Field(ge=0, description="rows of the challenger's out-of-time holdout sample")


class EvaluateOutput(_Output):
    run_id: str
    as_of: date
    model_artifacts: str
    evaluation: dict[str, TargetEvaluation]


class PromoteInput(_Input):
    run_id: RunId
    as_of: AsOf
    model_artifacts: ModelArtifacts
    evaluation: dict[str, TargetEvaluation] = Field(min_length=1)


class Registration(_Output):
    version: str
    promoted: bool = Field(description="the challenger is its target's champion after this step")
    reason: str
    already_registered: bool = Field(description="an earlier run of this step registered it already")


class PromoteOutput(_Output):
    as_of: date
    run_id: str
    registered: dict[str, Registration]


class MaterializeInput(_Input):
    as_of: AsOf


class MaterializeOutput(_Output):
    as_of: date
    customers_written: int
