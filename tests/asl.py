"""A small interpreter of the Amazon States Language subset the training state machine uses.

Covers JSONPath states: Task whose Resource ends in `:states:::lambda:invoke` (the function gets the
Payload; its result comes back as {"Payload": …, "StatusCode": 200, …}) or in
`:states:::sagemaker:createTrainingJob.sync` (the callable gets the CreateTrainingJob request and
returns a DescribeTrainingJob response; a status other than Completed is States.TaskFailed); Succeed;
Fail (Error/Cause, ErrorPath/CausePath); Parameters and ResultSelector `key.$` values: paths ($,
$.a.b), context paths ($$.Execution.Name, $$.State.Name) and the intrinsics States.Format,
States.JsonMerge (shallow) and States.StringToJson; ResultPath ($, $.a.b, null); Catch on States.ALL
or exact error names → ResultPath → Next.

Ignored on purpose: Retry (the fakes never raise the transient Lambda.* errors it retries) and
TimeoutSeconds. Any other state type, field (InputPath, OutputPath, QueryLanguage, …), resource,
intrinsic, path syntax (indexes, filters) or Catch wildcard raises NotImplementedError naming it.
A path or intrinsic that fails on the data is States.Runtime, which, as in AWS, no Catch handles.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

LambdaFunction = Callable[[Any], Any]  # the Payload → what the function returns
TrainingJob = Callable[[dict[str, Any]], dict[str, Any]]  # CreateTrainingJob → DescribeTrainingJob

LAMBDA_INVOKE = ":states:::lambda:invoke"
TRAINING_JOB_SYNC = ":states:::sagemaker:createTrainingJob.sync"
RUNTIME_ERROR = "States.Runtime"
_TOP_LEVEL_FIELDS = {"StartAt", "States", "Comment", "TimeoutSeconds"}
_TASK_FIELDS = {"Resource", "Parameters", "ResultSelector", "ResultPath", "Next", "End", "Catch", "Retry"}
_STATE_FIELDS = {
    "Task": {"Type", "Comment", *_TASK_FIELDS},
    "Succeed": {"Type", "Comment"},
    "Fail": {"Type", "Comment", "Error", "Cause", "ErrorPath", "CausePath"},
}
_PATH = re.compile(r"\$((?:\.[A-Za-z0-9_-]+)*)")
# An intrinsic's tokens: a 'literal', a call's start, a separator, or a path or JSON scalar.
_TOKEN = re.compile(r"\s*(?:('(?:\\.|[^'\\])*')|States\.(\w+)\(|([,)])|(\$\$?[^,)\s]*|[-\w.]+))")
# A literal's pieces: an escape, a Format placeholder, a reserved character left unescaped, text.
_PIECE = re.compile(r"\\([{}'\\])|(\{\})|([{}\\])|([^{}\\]+)")


class StatesError(Exception):
    """A Step Functions error: its name (States.TaskFailed, ValueError, …) and its cause."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


@dataclass
class Execution:
    name: str
    status: str = "RUNNING"  # then SUCCEEDED or FAILED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    states: list[str] = field(default_factory=list)  # the states entered, in order


class StateMachine:
    """A definition and the callables its Task states run (Lambda functions by FunctionName)."""

    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        lambdas: Mapping[str, LambdaFunction],
        training_job: TrainingJob,
    ) -> None:
        _refuse("top-level fields", set(definition) - _TOP_LEVEL_FIELDS)
        for name, state in definition["States"].items():
            _refuse(f"state {name}'s Type", {state["Type"]} - set(_STATE_FIELDS))
            _refuse(f"state {name}'s fields", set(state) - _STATE_FIELDS[state["Type"]])
            for catcher in state.get("Catch", []):
                _refuse(f"state {name}'s Catch fields", set(catcher) - {"ErrorEquals", "ResultPath", "Next"})
                _refuse(
                    "Catch wildcards",
                    {e for e in catcher["ErrorEquals"] if e.startswith("States.")} - {"States.ALL"},
                )
        self._definition, self._lambdas, self._training_job = definition, lambdas, training_job

    def start_execution(self, execution_input: Any, *, name: str) -> Execution:
        """Run to the end; a failure ends the execution, it is not raised."""
        execution = Execution(name)
        context: dict[str, Any] = {"Execution": {"Name": name, "Input": execution_input}}
        state_name: str | None = self._definition["StartAt"]
        data = execution_input
        try:
            while state_name is not None:
                state = self._definition["States"][state_name]
                execution.states.append(state_name)
                context["State"] = {"Name": state_name}
                if state["Type"] == "Fail":
                    error, cause = (_field(state, key, data, context) for key in ("Error", "Cause"))
                    raise StatesError(error, cause)
                state_name, data = self._run(state, data, context)
        except StatesError as error:
            execution.status, execution.error, execution.cause = "FAILED", error.error, error.cause
            return execution
        execution.status, execution.output = "SUCCEEDED", data
        return execution

    def _run(self, state: Mapping[str, Any], data: Any, context: Mapping[str, Any]) -> tuple[str | None, Any]:
        """One Succeed or Task state: the next state's name (None at the end) and its input."""
        if state["Type"] == "Succeed":
            return None, data
        try:
            parameters = _resolve(state.get("Parameters", {}), data, context)
            result = self._call(state["Resource"], parameters)
            if "ResultSelector" in state:
                result = _resolve(state["ResultSelector"], result, context)
            data = _put(data, result, state.get("ResultPath", "$"))
        except StatesError as error:
            if error.error == RUNTIME_ERROR:
                raise
            for catcher in state.get("Catch", []):
                if {"States.ALL", error.error} & set(catcher["ErrorEquals"]):
                    caught = {"Error": error.error, "Cause": error.cause}
                    return catcher["Next"], _put(data, caught, catcher.get("ResultPath", "$"))
            raise
        return (None if state.get("End") else state["Next"]), data

    def _call(self, resource: str, parameters: dict[str, Any]) -> Any:
        if resource.endswith(TRAINING_JOB_SYNC):
            described = self._training_job(parameters)
            if described.get("TrainingJobStatus") != "Completed":
                raise StatesError("States.TaskFailed", json.dumps(described))
            return described
        if not resource.endswith(LAMBDA_INVOKE):
            raise NotImplementedError(f"Task resource {resource}")
        _refuse("lambda:invoke parameters", set(parameters) - {"FunctionName", "Payload"})
        function = self._lambdas[parameters["FunctionName"]]
        try:  # Lambda's payloads travel as JSON both ways
            returned = json.loads(json.dumps(function(json.loads(json.dumps(parameters["Payload"])))))
        except Exception as error:  # what the integration reports of a function's unhandled error
            kind, stack = type(error).__name__, traceback.format_tb(error.__traceback__)
            cause = {"errorMessage": str(error), "errorType": kind, "stackTrace": stack}
            raise StatesError(kind, json.dumps(cause)) from error
        return {"ExecutedVersion": "$LATEST", "Payload": returned, "StatusCode": 200}


def intrinsic(expression: str, data: Any, context: Mapping[str, Any] | None = None) -> Any:
    """The value of an intrinsic function call, as a `key.$` field computes it."""
    tokens = _tokens(expression)
    value = _argument(next(tokens, _END), tokens, data, context or {})
    if next(tokens, None) is not None:
        raise ValueError(f"trailing text after the call in {expression!r}")
    return _text(value)


def _refuse(what: str, names: set[str]) -> None:
    if names:
        raise NotImplementedError(f"{what}: {', '.join(sorted(names))}")


def _field(state: Mapping[str, Any], name: str, data: Any, context: Mapping[str, Any]) -> Any:
    path = state.get(f"{name}Path")
    return state.get(name) if path is None else _evaluate(path, data, context)


def _resolve(template: Any, data: Any, context: Mapping[str, Any]) -> Any:
    """Parameters or ResultSelector over `data`: every `key.$` replaced by `key` and its value."""
    if isinstance(template, dict):
        return {
            key.removesuffix(".$"): _evaluate(value, data, context)
            if key.endswith(".$")
            else _resolve(value, data, context)
            for key, value in template.items()
        }
    if isinstance(template, list):
        return [_resolve(value, data, context) for value in template]
    return template


def _evaluate(expression: str, data: Any, context: Mapping[str, Any]) -> Any:
    if expression.startswith("$$"):
        return _get(context, expression[1:])
    if expression.startswith("$"):
        return _get(data, expression)
    if expression.startswith("States."):
        return intrinsic(expression, data, context)
    raise ValueError(f"{expression!r} is neither a path nor an intrinsic function")


def _names(path: str) -> list[str]:
    if (match := _PATH.fullmatch(path)) is None:
        raise NotImplementedError(f"JSONPath {path!r}: only $ and $.dotted.names")
    return match.group(1).split(".")[1:]


def _get(document: Any, path: str) -> Any:
    value = document
    for name in _names(path):
        if not isinstance(value, dict) or name not in value:
            raise StatesError(
                RUNTIME_ERROR, f"The JSONPath {path!r} could not be found in {json.dumps(document)}"
            )
        value = value[name]
    return value


def _put(data: Any, result: Any, path: str | None) -> Any:
    """ResultPath: the result in place of the input ($), inside a copy of it ($.a.b), or dropped (null)."""
    if path is None:
        return data
    if not (names := _names(path)):
        return result
    merged = target = json.loads(json.dumps(data))
    for name in names[:-1]:
        target = target.setdefault(name, {}) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        raise StatesError(RUNTIME_ERROR, f"ResultPath {path!r} does not fit the input {json.dumps(data)}")
    target[names[-1]] = result
    return merged


@dataclass(frozen=True)
class _Literal:
    """A string literal, split at its unescaped {} (States.Format's placeholders)."""

    parts: tuple[str, ...]


def _literal(quoted: str) -> _Literal:
    parts: list[str] = []
    current = ""
    for escaped, placeholder, reserved, text in _PIECE.findall(quoted[1:-1]):
        if reserved:
            raise ValueError(f"{reserved!r} is reserved in a literal and must be escaped: {quoted}")
        if placeholder:
            parts, current = [*parts, current], ""
        current += escaped or text
    return _Literal((*parts, current))


def _text(value: Any) -> Any:
    if isinstance(value, _Literal) and len(value.parts) > 1:
        raise ValueError(f"an unescaped {{}} outside States.Format's template: {value.parts}")
    return value.parts[0] if isinstance(value, _Literal) else value


def _format(template: Any, *values: Any) -> str:
    parts = template.parts if isinstance(template, _Literal) else tuple(str(template).split("{}"))
    if len(parts) - 1 != len(values):
        raise StatesError(
            RUNTIME_ERROR, f"States.Format: {len(parts) - 1} placeholders, {len(values)} values"
        )
    rendered = [parts[0]]
    for value, part in zip(map(_text, values), parts[1:], strict=True):
        if isinstance(value, dict | list):
            raise StatesError(RUNTIME_ERROR, "States.Format takes strings, numbers, booleans and null")
        rendered += [value if isinstance(value, str) else json.dumps(value), part]
    return "".join(rendered)


def _json_merge(left: Any, right: Any, deep: Any) -> dict[str, Any]:
    if deep is not False:
        raise ValueError(
            "States.JsonMerge: Step Functions merges shallowly only; its third argument is false"
        )
    left, right = _text(left), _text(right)
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise StatesError(RUNTIME_ERROR, "States.JsonMerge merges two objects")
    return {**left, **right}  # on a clash the right-hand object's value wins, whole


def _string_to_json(text: Any) -> Any:
    try:
        return json.loads(_text(text))
    except (TypeError, json.JSONDecodeError) as error:
        raise StatesError(RUNTIME_ERROR, f"States.StringToJson: {error}") from None


# name → (function, its number of arguments; None = one or more)
_INTRINSICS: dict[str, tuple[Callable[..., Any], int | None]] = {
    "Format": (_format, None),
    "JsonMerge": (_json_merge, 3),
    "StringToJson": (_string_to_json, 1),
}
_Token = tuple[str, ...]  # literal, call, separator, scalar: one of them is not empty
_END: _Token = ("", "", "", "")


def _tokens(expression: str) -> Iterator[_Token]:
    at = 0
    while expression[at:].strip():
        if (match := _TOKEN.match(expression, at)) is None:
            raise ValueError(f"cannot read {expression[at:]!r} in {expression!r}")
        yield match.groups("")
        at = match.end()


def _argument(token: _Token, tokens: Iterator[_Token], data: Any, context: Mapping[str, Any]) -> Any:
    """One argument's value (a call's evaluates its own arguments first), read from `tokens`."""
    literal, call, separator, scalar = token
    if literal:
        return _literal(literal)
    if scalar:
        return _evaluate(scalar, data, context) if scalar.startswith("$") else json.loads(scalar)
    if not call:
        raise ValueError(f"an argument expected, {separator or 'the end'!r} found")
    if call not in _INTRINSICS:
        raise NotImplementedError(f"intrinsic function States.{call}")
    function, arity = _INTRINSICS[call]
    arguments = []
    token = next(tokens, _END)
    while token[2] != ")":
        arguments.append(_argument(token, tokens, data, context))
        separator = next(tokens, _END)[2]
        token = next(tokens, _END) if separator == "," else ("", "", separator, "")
        if separator not in (",", ")"):
            raise ValueError(f"',' or ')' expected after an argument of States.{call}")
    if (arity is None and not arguments) or (arity is not None and len(arguments) != arity):
        raise ValueError(f"States.{call} takes {arity or 'one or more'} arguments, got {len(arguments)}")
    return function(*arguments)
