"""The training pipeline's states: five Lambda steps around the SageMaker training job, in order.

Each Lambda state receives exactly its contract's event, built from the previous state's selected
output (a missing field fails the state); any failure ends the execution in a Fail state that
carries the error and its cause, so the execution counts as failed in CloudWatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as sfn_tasks
from constructs import Construct

from infra.training_job_construct import TrainingJob

LOAD: Final = "pipeline_load"
FEATURES: Final = "pipeline_features"
EVALUATE: Final = "pipeline_evaluate"
PROMOTE: Final = "pipeline_promote"
MATERIALIZE: Final = "pipeline_materialize"
PIPELINE_FUNCTIONS: Final = (LOAD, FEATURES, EVALUATE, PROMOTE, MATERIALIZE)

# Transient failures of the Lambda service, not of the function: retried with backoff.
TRANSIENT_LAMBDA_ERRORS: Final = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
RETRY_INTERVAL: Final = Duration.seconds(2)
RETRY_ATTEMPTS: Final = 6
RETRY_BACKOFF_RATE: Final = 2.0


def pipeline_definition(
    scope: Construct, functions: Mapping[str, lambda_.IFunction], training_job: TrainingJob
) -> sfn.IChainable:
    """load → features → train → evaluate → promote → materialise → Succeeded; any failure → Failed.

    The states are made in `scope` (the pipeline construct), so their ids stay the pipeline's.
    """
    failed = sfn.Fail(
        scope,
        "Failed",
        comment="A step failed; its error and cause are the execution's.",
        error_path="$.error.Error",
        cause_path="$.error.Cause",
    )
    load = _lambda_state(
        scope,
        functions,
        "Load",
        LOAD,
        # The execution input, whose as_of is optional, with the execution's name added; the
        # function derives the run id from it.
        payload=sfn.TaskInput.from_text(
            sfn.JsonPath.json_merge(
                sfn.JsonPath.entire_payload,
                sfn.JsonPath.string_to_json(
                    sfn.JsonPath.format('\\{"execution":"{}"\\}', sfn.JsonPath.execution_name)
                ),
            )
        ),
        result={
            "as_of": sfn.JsonPath.string_at("$.Payload.as_of"),
            "run_id": sfn.JsonPath.string_at("$.Payload.run_id"),
            "loaded": sfn.JsonPath.object_at("$.Payload.loaded"),
        },
    )
    features = _lambda_state(
        scope,
        functions,
        "Features",
        FEATURES,
        # Load's as_of and run_id over the execution input, so that a run started by hand may set
        # the job's options (seed, search_seconds, models, targets); the function ignores the rest.
        payload=sfn.TaskInput.from_text(
            sfn.JsonPath.json_merge(sfn.JsonPath.execution_input, sfn.JsonPath.entire_payload)
        ),
        result={
            "as_of": sfn.JsonPath.string_at("$.Payload.as_of"),
            "run_id": sfn.JsonPath.string_at("$.Payload.run_id"),
            "training_data": sfn.JsonPath.string_at("$.Payload.training_data"),
            "snapshots": sfn.JsonPath.list_at("$.Payload.snapshots"),
            "hyperparameters": sfn.JsonPath.object_at("$.Payload.hyperparameters"),
        },
    )
    train = training_job.task_state("Train")
    evaluate = _lambda_state(
        scope,
        functions,
        "Evaluate",
        EVALUATE,
        payload=sfn.TaskInput.from_object(
            {
                "run_id": sfn.JsonPath.string_at("$.run_id"),
                "as_of": sfn.JsonPath.string_at("$.as_of"),
                "model_artifacts": sfn.JsonPath.string_at("$.training.model_artifacts"),
            }
        ),
        result={
            "run_id": sfn.JsonPath.string_at("$.Payload.run_id"),
            "as_of": sfn.JsonPath.string_at("$.Payload.as_of"),
            "model_artifacts": sfn.JsonPath.string_at("$.Payload.model_artifacts"),
            "evaluation": sfn.JsonPath.object_at("$.Payload.evaluation"),
        },
    )
    promote = _lambda_state(
        scope,
        functions,
        "Promote",
        PROMOTE,
        payload=sfn.TaskInput.from_json_path_at("$"),  # evaluate's output, as it is
        result={
            "as_of": sfn.JsonPath.string_at("$.Payload.as_of"),
            "registered": sfn.JsonPath.object_at("$.Payload.registered"),
        },
    )
    materialize = _lambda_state(
        scope,
        functions,
        "Materialise",
        MATERIALIZE,
        payload=sfn.TaskInput.from_object({"as_of": sfn.JsonPath.string_at("$.as_of")}),
        result={
            "as_of": sfn.JsonPath.string_at("$.Payload.as_of"),
            "customers_written": sfn.JsonPath.string_at("$.Payload.customers_written"),
        },
    )
    states: list[sfn.TaskStateBase] = [load, features, train, evaluate, promote, materialize]
    for state in states:
        state.add_catch(failed, errors=[sfn.Errors.ALL], result_path="$.error")
    return (
        sfn.Chain.start(load)
        .next(features)
        .next(train)
        .next(evaluate)
        .next(promote)
        .next(materialize)
        .next(sfn.Succeed(scope, "Succeeded"))
    )


def _lambda_state(
    scope: Construct,
    functions: Mapping[str, lambda_.IFunction],
    state_name: str,
    function_name: str,
    *,
    payload: sfn.TaskInput,
    result: Mapping[str, Any],
) -> sfn_tasks.LambdaInvoke:
    state = sfn_tasks.LambdaInvoke(
        scope,
        state_name,
        lambda_function=functions[function_name],
        payload=payload,
        # The next state is built from the contract's fields alone; a missing field fails here.
        result_selector=dict(result),
        retry_on_service_exceptions=False,
    )
    state.add_retry(
        errors=list(TRANSIENT_LAMBDA_ERRORS),
        interval=RETRY_INTERVAL,
        max_attempts=RETRY_ATTEMPTS,
        backoff_rate=RETRY_BACKOFF_RATE,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return state
