"""The training state machine as CDK synthesises it, run by tests/asl.py over the real handlers.

The dev app's Training stack is synthesised once. Its DefinitionString's tokens are resolved (each
function's ARN becomes the name of the handler it runs, the model bucket the moto one), and the
definition's Parameters, intrinsics, ResultSelectors, ResultPaths and Catches move the handlers' real
outputs from state to state. The handlers run in process, on the world, fixtures and in-process
SageMaker job of tests/integration/test_pipeline_handlers.py; the Train state calls a fake SageMaker
that checks the request the state machine built, then runs training/train.py with it.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import CfnElement, Stack
from aws_cdk.assertions import Template
from constructs import Construct

import tests.integration.test_pipeline_handlers as hand_chained
from credo.adapters.s3 import S3Store
from credo.adapters.ssm import ParameterStore
from credo.local import LocalLambdaContext, load_handler, scheduled_event
from credo.online_store import OnlineFeatureStore
from credo.pipeline.events import FeaturesInput
from credo.pipeline.runs import run_id_for
from credo.policy import Policy
from credo.registry import ModelRegistry
from credo.warehouse import count_rows
from credo.warehouse.duckdb import DuckDBWarehouse
from infra.credo_app import add_all_stacks, create_app, serving_stack_id, training_stack_id
from infra.credo_stack import ServingStack, TrainingStack
from infra.training_bundle import ENTRY_POINT
from infra.training_pipeline_states import PIPELINE_FUNCTIONS
from tests.asl import Execution, LambdaFunction, StateMachine, StatesError, TrainingJob, intrinsic
from tests.infrastructure.templates import NO_ASSET_STAGING, only

Aws = Any  # tests/integration/conftest.py

# The hand-chained test's module-scoped world and the fixtures that mine it, under the same names.
world = hand_chained.world
pipeline_env = hand_chained.pipeline_env
mined_lake = hand_chained.mined_lake

ENVIRONMENT = "dev"
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "123456789012",
    "AWS::Region": "ap-south-1",
    "AWS::URLSuffix": "amazonaws.com",
}
EXECUTION = hand_chained.EXECUTION  # EventBridge names executions with a UUID
MODEL_BUCKET = hand_chained.MODEL_BUCKET
TARGETS = ("credit", "buying")
# The fake job fits one zoo model without a search, on one thread: quick, whatever it was asked.
# What the state machine asked for is recorded as it came.
QUICK_TRAINING = {"models": "logistic_regression", "search_seconds": "0", "n_threads": "1"}
JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # CreateTrainingJob's pattern
MAX_HYPERPARAMETER_VALUE = 2_500
TRAINING_SOURCE = hand_chained.ROOT / "training"


@dataclass(frozen=True)
class Synthesised:
    """What the test needs of the app: the definition, the job's source bundle, the schedule's target."""

    definition: dict[str, Any]
    source_bundle_url: str
    schedule_target: dict[str, Any]


class Resolver:
    """CloudFormation's tokens in a stack's template, resolved for the test.

    `substitutions` maps (stack name, logical id, attribute, or "Ref" for a Ref) to a value; other
    references become readable placeholder ARNs; an unknown function raises.
    """

    def __init__(
        self, templates: Mapping[str, Any], substitutions: Mapping[tuple[str, str, str], str]
    ) -> None:
        self._templates, self._substitutions = templates, substitutions

    def resolve(self, node: Any, stack: str) -> Any:
        if isinstance(node, list):
            return [self.resolve(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or not (next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
            return {key: self.resolve(value, stack) for key, value in node.items()}
        [(function, argument)] = node.items()
        if function == "Ref":
            return self._reference(stack, argument, "Ref")
        if function == "Fn::GetAtt":
            return self._reference(stack, *argument)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part, stack)) for part in parts)
        if function == "Fn::Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda m: self._substituted(stack, m.group(1)), argument)
        if function == "Fn::GetStackOutput":
            source = argument["StackName"]
            return self.resolve(self._templates[source]["Outputs"][argument["OutputName"]]["Value"], source)
        raise NotImplementedError(f"CloudFormation function {function}")

    def _substituted(self, stack: str, name: str) -> str:
        logical_id, _, attribute = name.partition(".")
        return self._reference(stack, logical_id, attribute or "Ref")

    def _reference(self, stack: str, logical_id: str, attribute: str) -> str:
        if logical_id in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[logical_id]
        value = self._substitutions.get((stack, logical_id, attribute))
        return value or f"arn:aws:placeholder:::{stack}/{logical_id}/{attribute}"


def logical_id(construct: Construct) -> str:
    element = construct.node.default_child
    assert isinstance(element, CfnElement)
    return str(Stack.of(construct).resolve(element.logical_id))


@pytest.fixture(scope="module")
def synthesised() -> Synthesised:
    stacks = add_all_stacks(create_app(context={"env": ENVIRONMENT, **NO_ASSET_STAGING}))
    training, serving = stacks[training_stack_id(ENVIRONMENT)], stacks[serving_stack_id(ENVIRONMENT)]
    assert isinstance(training, TrainingStack) and isinstance(serving, ServingStack)
    training_template = Template.from_stack(training)
    templates = {
        training.stack_name: training_template.to_json(),
        serving.stack_name: Template.from_stack(serving).to_json(),
    }
    # Each function's ARN becomes the name of the handler it runs: the FunctionName the Lambda
    # integration passes is then the key of the callable to run.
    substitutions = {
        (training.stack_name, logical_id(training.pipeline.functions[name]), "Arn"): name
        for name in PIPELINE_FUNCTIONS
    }
    substitutions[(serving.stack_name, logical_id(serving.models.bucket), "Ref")] = MODEL_BUCKET
    resolver = Resolver(templates, substitutions)
    state_machine_id, state_machine = only(training_template, "AWS::StepFunctions::StateMachine")
    definition = resolver.resolve(state_machine["Properties"]["DefinitionString"], training.stack_name)
    [target] = [
        target
        for rule in training_template.find_resources("AWS::Events::Rule").values()
        for target in rule["Properties"]["Targets"]
        if target["Arn"] == {"Ref": state_machine_id}
    ]
    bundle = training.resolve(training.pipeline.source_bundle.s3_object_url)
    return Synthesised(
        definition=json.loads(definition),
        source_bundle_url=resolver.resolve(bundle, training.stack_name),
        schedule_target=target,
    )


def scheduled_input(target: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    """What the rule's input transformer makes of a scheduled event: `<name>` unquoted is JSON."""
    transformer = target["InputTransformer"]
    text = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        text = text.replace(f"<{name}>", json.dumps(event[path.removeprefix("$.")]))
    return json.loads(text)


@dataclass
class Steps:
    """What the Task states call: the handlers and a fake SageMaker; what each got and gave, in order."""

    s3: S3Store
    opt_ml: Path
    received: dict[str, list[Any]] = field(default_factory=dict)
    returned: dict[str, list[Any]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)  # CreateTrainingJob requests

    def lambdas(self) -> dict[str, LambdaFunction]:
        return {name: self._function(name) for name in PIPELINE_FUNCTIONS}

    def _function(self, name: str) -> LambdaFunction:
        module = load_handler(name)  # one execution environment per function, kept warm

        def invoke(payload: Any) -> Any:
            self.received.setdefault(name, []).append(payload)
            result = module.handler(payload, LocalLambdaContext(function_name=f"credo-{ENVIRONMENT}-{name}"))
            self.returned.setdefault(name, []).append(result)
            return result

        return invoke

    def training_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """As SageMaker: validate the request, run the job (training/train.py), describe it."""
        self.jobs.append(request)
        name, hyperparameters = request["TrainingJobName"], request["HyperParameters"]
        output = request["OutputDataConfig"]["S3OutputPath"]
        [channel] = request["InputDataConfig"]
        invalid = [
            f"hyperparameter {key} is not a string of at most {MAX_HYPERPARAMETER_VALUE} characters"
            for key, value in hyperparameters.items()
            if not isinstance(value, str) or len(value) > MAX_HYPERPARAMETER_VALUE
        ]
        invalid += [] if JOB_NAME.fullmatch(name) else [f"job name {name!r} breaks SageMaker's pattern"]
        invalid += [] if output.startswith("s3://") else [f"S3OutputPath {output!r} is not s3://"]
        if invalid:
            raise StatesError("SageMaker.AmazonSageMakerException", "; ".join(invalid))
        described = {**request, "TrainingJobArn": f"arn:aws:sagemaker:::training-job/{name}"}
        # The toolkit runs sagemaker_program from the bundle, and train.py reads SM_CHANNEL_TRAIN.
        program = hyperparameters.get("sagemaker_program", "")
        if channel["ChannelName"] != "train" or not (TRAINING_SOURCE / program).is_file():
            reason = f"no program {program!r} or no train channel"
            return {**described, "TrainingJobStatus": "Failed", "FailureReason": reason}
        artifacts = f"{output.rstrip('/')}/{name}/output/model.tar.gz"
        hand_chained.run_training_job(
            self.s3,
            channel["DataSource"]["S3DataSource"]["S3Uri"],
            {**hyperparameters, **QUICK_TRAINING},
            self.opt_ml / name,
            artifacts,
        )
        return {
            **described,
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": artifacts},
        }


def execute(
    synthesised: Synthesised, execution_input: Any, lambdas: Mapping[str, LambdaFunction], job: TrainingJob
) -> Execution:
    machine = StateMachine(synthesised.definition, lambdas=lambdas, training_job=job)
    return machine.start_execution(execution_input, name=EXECUTION)


# --- the synthesised state machine over the real handlers ----------------------------------------


def test_given_a_mined_lake_when_the_schedule_starts_the_state_machine_then_each_state_feeds_the_next(
    aws: Aws, mined_lake: datetime, synthesised: Synthesised, tmp_path: Path
) -> None:
    policy = Policy(version="ops-3", credit_threshold=660, buying_threshold=540)
    ParameterStore.create().put(hand_chained.POLICY_PARAMETER, policy.model_dump_json())
    steps = Steps(s3=aws.s3, opt_ml=tmp_path / "opt" / "ml")
    scheduled = scheduled_input(synthesised.schedule_target, scheduled_event("credo-training", mined_lake))

    execution = execute(synthesised, scheduled, steps.lambdas(), steps.training_job)

    # then every state ran once, in order, and the execution succeeded
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    assert execution.states == [
        "Load",
        "Features",
        "Train",
        "Evaluate",
        "Promote",
        "Materialise",
        "Succeeded",
    ]
    assert all(len(calls) == 1 for calls in steps.received.values()) and len(steps.jobs) == 1
    # load got EventBridge's time and the execution's name; its run id names everything after it
    as_of, run_id = mined_lake.date().isoformat(), run_id_for(mined_lake.date(), EXECUTION)
    assert steps.received["pipeline_load"] == [
        {"as_of": mined_lake.strftime("%Y-%m-%dT%H:%M:%SZ"), "execution": EXECUTION}
    ]
    # features: load's output over the execution input (whose as_of was EventBridge's raw time)
    [load_output] = steps.returned["pipeline_load"]
    assert steps.received["pipeline_features"] == [
        {"as_of": as_of, "run_id": run_id, "loaded": load_output["loaded"]}
    ]
    [features] = steps.returned["pipeline_features"]
    assert features["hyperparameters"].keys() == {"targets", "seed", "search_seconds", "policy"}
    assert features["hyperparameters"]["targets"] == ",".join(TARGETS)
    assert Policy.model_validate_json(features["hyperparameters"]["policy"]) == policy
    # the job: named after the run, the features step's hyperparameters and the toolkit's, its data
    [job] = steps.jobs
    assert job["TrainingJobName"] == f"credo-{ENVIRONMENT}-{run_id}"
    assert job["HyperParameters"] == {
        **features["hyperparameters"],
        "sagemaker_program": ENTRY_POINT,
        "sagemaker_submit_directory": synthesised.source_bundle_url,
    }
    assert re.fullmatch(
        r"s3://cdk-\w+-assets-\d{12}-ap-south-1/[0-9a-f]{64}\.gz", synthesised.source_bundle_url
    )
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == features["training_data"]
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{MODEL_BUCKET}/training-jobs/"
    # evaluate got the job's model.tar.gz; promote evaluate's whole output; materialise the date
    artifacts = f"s3://{MODEL_BUCKET}/training-jobs/{job['TrainingJobName']}/output/model.tar.gz"
    assert steps.received["pipeline_evaluate"] == [
        {"run_id": run_id, "as_of": as_of, "model_artifacts": artifacts}
    ]
    assert steps.received["pipeline_promote"] == steps.returned["pipeline_evaluate"]
    assert steps.received["pipeline_materialize"] == [{"as_of": as_of}]

    # then each challenger is its target's champion, and DynamoDB holds the as-of features
    [evaluated] = steps.returned["pipeline_evaluate"]
    registry = ModelRegistry.for_bucket(MODEL_BUCKET, s3=aws.s3)
    for target in TARGETS:
        champion = registry.champion(target)
        assert champion is not None
        assert champion.model_version == evaluated["evaluation"][target]["challenger_version"]
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        registrations = count_rows(warehouse, "registrations")
        token = warehouse.query("SELECT MIN(token) AS t FROM registrations").column("t")[0].as_py()
    record = OnlineFeatureStore.for_table(hand_chained.FEATURE_TABLE).get(token)
    assert record is not None and record.as_of == as_of
    assert execution.output == {"as_of": as_of, "customers_written": registrations} and registrations > 0


def test_given_an_empty_lake_when_the_state_machine_runs_then_it_fails_with_the_features_error(
    aws: Aws, pipeline_env: None, synthesised: Synthesised, tmp_path: Path
) -> None:
    steps = Steps(s3=aws.s3, opt_ml=tmp_path / "opt" / "ml")

    execution = execute(synthesised, {"as_of": "2026-10-01T02:00:00Z"}, steps.lambdas(), steps.training_job)

    assert execution.status == "FAILED"
    assert execution.states == ["Load", "Features", "Failed"]
    assert execution.error == "NoTrainingDataError"
    assert execution.cause is not None
    cause = json.loads(execution.cause)
    assert cause["errorType"] == "NoTrainingDataError"
    assert "load the lake first" in cause["errorMessage"]
    assert steps.received.keys() == {"pipeline_load", "pipeline_features"} and steps.jobs == []
    assert list(aws.s3.list_keys(MODEL_BUCKET, "")) == []


def test_given_a_failed_training_job_when_the_state_machine_runs_then_it_fails_before_evaluate(
    synthesised: Synthesised,
) -> None:
    ran: list[str] = []

    def step(name: str, result: dict[str, Any]) -> LambdaFunction:
        def invoke(payload: Any) -> dict[str, Any]:
            ran.append(name)
            return result

        return invoke

    lambdas = {name: step(name, {}) for name in PIPELINE_FUNCTIONS}
    lambdas["pipeline_load"] = step("pipeline_load", {"as_of": "2026-10-01", "run_id": "r1", "loaded": {}})
    lambdas["pipeline_features"] = step(
        "pipeline_features",
        {"as_of": "2026-10-01", "run_id": "r1", "training_data": "s3://lake/features/training/r1/"}
        | {"snapshots": ["2025-04-01"], "hyperparameters": {"seed": "42"}},
    )
    described = {"TrainingJobName": "credo-dev-r1", "TrainingJobStatus": "Failed", "FailureReason": "OOM"}

    execution = execute(synthesised, {}, lambdas, lambda request: described)

    assert (execution.status, execution.error) == ("FAILED", "States.TaskFailed")
    assert execution.cause is not None and json.loads(execution.cause) == described
    assert execution.states == ["Load", "Features", "Train", "Failed"]
    assert ran == ["pipeline_load", "pipeline_features"]


def test_given_a_run_started_by_hand_with_job_options_when_it_runs_then_the_features_step_receives_them(
    synthesised: Synthesised,
) -> None:
    received: list[Any] = []

    def load(payload: Any) -> dict[str, Any]:
        return {"as_of": "2026-10-01", "run_id": "r1", "loaded": {}}

    def features(payload: Any) -> dict[str, Any]:
        received.append(payload)
        raise RuntimeError("stop here")

    lambdas: dict[str, LambdaFunction] = {name: load for name in PIPELINE_FUNCTIONS}
    lambdas["pipeline_features"] = features
    options = {"search_seconds": 5, "models": ["logistic_regression"], "seed": 7}

    execute(synthesised, {"as_of": "2026-10-01", **options}, lambdas, lambda request: {})

    # load's as_of and run_id win over the execution input's; the job's options pass through
    assert received == [{"as_of": "2026-10-01", "run_id": "r1", "loaded": {}, **options}]
    assert FeaturesInput.model_validate(received[0]).search_seconds == 5


# --- tests/asl.py itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (r"""States.Format('\{"execution":"{}"\}', $$.Execution.Name)""", '{"execution":"run-1"}'),
        (r"States.Format('credo-dev-{}', $.run_id)", "credo-dev-r1"),
        (r"States.Format('it\'s {} \\ {} {}', $.n, $.flag, $.nothing)", "it's 3 \\ true null"),
        ("States.JsonMerge($.left, $.right, false)", {"a": {"y": 2}, "b": 1, "c": 3}),
        (r"""States.StringToJson('\{"k":[1,2]\}')""", {"k": [1, 2]}),
        ("States.StringToJson($.text)", {"k": [1, 2]}),
        (
            r"""States.JsonMerge($.right, States.StringToJson(States.Format('\{"c":"{}"\}', $.run_id)),"""
            " false)",
            {"a": {"y": 2}, "c": "r1"},
        ),
    ],
)
def test_given_an_intrinsic_call_when_evaluated_then_it_follows_the_asl_spec(
    expression: str, expected: Any
) -> None:
    data = {
        "run_id": "r1",
        "n": 3,
        "flag": True,
        "nothing": None,
        "text": '{"k":[1,2]}',
        "left": {"a": {"x": 1}, "b": 1},  # shallow: right's "a" replaces left's, it is not merged into it
        "right": {"a": {"y": 2}, "c": 3},
    }
    assert intrinsic(expression, data, {"Execution": {"Name": "run-1"}}) == expected


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("States.StringToJson('{\"a\":1}')", ValueError),  # braces are reserved in a literal
        ("States.Format('{} and {}', $.a)", StatesError),  # placeholders and values must pair up
        ("States.JsonMerge($.a, $.a, true)", ValueError),  # Step Functions has no deep merge
        ("States.StringToJson($.missing)", StatesError),
        ("States.ArrayLength($.a)", NotImplementedError),
        ("States.Format('{}', $.list[0])", NotImplementedError),
    ],
)
def test_given_a_bad_or_unsupported_intrinsic_when_evaluated_then_it_raises(
    expression: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        intrinsic(expression, {"a": {"x": 1}})


def test_given_a_path_that_is_missing_when_a_task_runs_then_no_catch_handles_the_runtime_error() -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f", "Payload": {"x.$": "$.missing"}},
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}],
                "End": True,
            },
            "F": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    machine = StateMachine(definition, lambdas={"f": lambda payload: payload}, training_job=dict)

    execution = machine.start_execution({}, name="e")

    assert (execution.status, execution.error, execution.states) == ("FAILED", "States.Runtime", ["T"])


@pytest.mark.parametrize(
    ("state", "named"),
    [
        ({"Type": "Map"}, "Map"),
        (
            {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True, "OutputPath": "$"},
            "OutputPath",
        ),
        (
            {
                "Type": "Task",
                "Resource": "x",
                "End": True,
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "S"}],
            },
            "States.TaskFailed",
        ),
    ],
)
def test_given_a_construct_outside_the_subset_when_loaded_then_it_is_named_not_ignored(
    state: dict[str, Any], named: str
) -> None:
    with pytest.raises(NotImplementedError, match=re.escape(named)):
        StateMachine({"StartAt": "S", "States": {"S": state}}, lambdas={}, training_job=dict)
