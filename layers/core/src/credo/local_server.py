"""`credo serve`: the scoring API on loopback, through the very handler API Gateway invokes.

Every HTTP request — any method, path, query string, headers and body — becomes an API Gateway REST
proxy event for functions/score/handler.py, and the handler's answer becomes the HTTP response.
Behind the handler stand the local stand-ins of the last `make demo`: a moto server holding its
HMAC key, policy and model registry, with its features materialised again into DynamoDB (the demo's
moto server ended with the demo; .demo/local-state.json and .demo/registry are what it left).
"""

import base64
import dataclasses
import ipaddress
import json
import signal
import socket
import threading
import time
import traceback
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from credo.local import LOCAL_STATE_FILE, LocalLambdaContext, LocalState, load_local_state

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8080
EXAMPLE_CUSTOMER: Final = "CUST00000022"
# API Gateway's ANY method stands for exactly these.
API_GATEWAY_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# What API Gateway answers when the Lambda itself fails (raises or times out).
LAMBDA_FAILURE_STATUS: Final = 502
LAMBDA_FAILURE_BODY: Final = b'{"message": "Internal server error"}'

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalServerError(Exception):
    """The server cannot start: no finished demo, or a host it refuses; the CLI exits with 2."""


@dataclass(frozen=True)
class LocalScoring:
    """The scoring handler on the demo's stand-ins, and what was set up for it."""

    handler: LambdaHandler
    state: LocalState
    feature_table: str
    materialised: int
    endpoint: str  # the moto server's URL


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False


def demo_state(workdir: Path) -> LocalState:
    """The finished demo's state in `workdir`, or a LocalServerError that says to run `make demo`."""
    needed = [workdir / LOCAL_STATE_FILE, workdir / "registry", workdir / "warehouse.duckdb"]
    missing = [path.name for path in needed if not path.exists()]
    if missing:
        raise LocalServerError(
            f"no finished demo in {workdir} ({', '.join(missing)} missing): run `make demo` first"
            " (a demo from before `credo serve` existed must be run again), or pass --workdir DIR"
        )
    try:
        return load_local_state(workdir)
    except ValueError as error:
        raise LocalServerError(f"{error}: run `make demo` again") from None


@contextmanager
def local_scoring(workdir: Path, *, echo: bool = False) -> Iterator[LocalScoring]:
    """Stand up the demo's AWS on a moto server again and load the scoring handler on it."""
    from credo.adapters.secrets import SecretStore
    from credo.adapters.ssm import ParameterStore
    from credo.local import bootstrap, load_handler, local_aws, local_settings_env, seed_bucket_from_directory
    from credo.materialize import materialize
    from credo.observability import logger
    from credo.settings import CredoSettings

    state = demo_state(workdir)
    say: Callable[[str], None] = print if echo else _silent
    env = {
        **local_settings_env(source_db=workdir / "world" / "operational.sqlite"),
        # One metrics line per request would bury the console; in Lambda they go to CloudWatch.
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    level = logger.log_level
    logger.setLevel("WARNING")  # the per-decision INFO log is for CloudWatch; warnings still show
    try:
        with local_aws(env) as endpoint:
            settings = CredoSettings()
            bootstrap(settings)
            SecretStore.create().put_string(settings.hmac_secret_name, state.hmac_key_secret)
            ParameterStore.create().put(settings.policy_parameter, json.dumps(state.policy))
            models = seed_bucket_from_directory(workdir / "registry", settings.model_bucket)
            say(f"moto server at {endpoint}: the demo's key and policy, {len(models)} registry files")
            say(
                f"materialising the demo's features as of {state.as_of} into DynamoDB "
                f"{settings.feature_table} (about 30 s for 20,000 customers) …"
            )
            started = time.perf_counter()
            materialised = materialize(workdir / "warehouse.duckdb", state.as_of, settings.feature_table)
            say(f"  {materialised:,} customers in {time.perf_counter() - started:.1f} s")
            # Only now: the handler builds its service (settings, key, models) when it is imported.
            module = load_handler("score")
            yield LocalScoring(module.handler, state, settings.feature_table, materialised, endpoint)
    finally:
        logger.setLevel(level)


def proxy_event(
    method: str, path: str, query: str, headers: Iterable[tuple[str, str]], body: bytes | None
) -> dict[str, Any]:
    """An API Gateway REST proxy event (`{proxy+}` resource) for one HTTP request."""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    text, is_base64 = _event_body(body)
    request_id = str(uuid.uuid4())
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": request_id,
            "accountId": "000000000000",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }


def http_response(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the HTTP answer for a Lambda proxy response."""
    headers: dict[str, list[str]] = {
        name: [str(v) for v in values] for name, values in (response.get("multiValueHeaders") or {}).items()
    }
    for name, value in (response.get("headers") or {}).items():
        headers.setdefault(name, [str(value)])  # API Gateway: multiValueHeaders win on a clash
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    listed = [(name, value) for name, values in headers.items() for value in values]
    return int(response.get("statusCode", 200)), listed, raw


@contextmanager
def serving(
    workdir: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    allow_remote: bool = False,
    echo: bool = False,
) -> Iterator[str]:
    """Serve the scoring API on host:port (0: any free port) until the block ends; yields the base URL."""
    server = _listening(workdir, host, port, allow_remote=allow_remote, log_requests=echo)
    with server, local_scoring(workdir, echo=echo) as scoring, server.running(scoring.handler) as url:
        yield url


def serve(workdir: Path, host: str, port: int, *, allow_remote: bool) -> None:
    """`credo serve`: serve until Ctrl-C (or SIGTERM), printing the URL and how to try it."""
    if not is_loopback(host):
        print(
            f"warning: serving on {host}, not loopback: anyone who can reach this machine can query the"
            " demo's scores. Use --host 127.0.0.1 unless that is what you want.",
            flush=True,
        )
    # Routes that add no metric (health, OpenAPI) make Powertools warn on every cold path; not news here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    server = _listening(workdir, host, port, allow_remote=allow_remote, log_requests=True)
    try:
        with server, local_scoring(workdir, echo=True) as scoring:
            _print_banner(server.url, has_openapi=_answers(scoring.handler, "/v1/openapi.json"))
            server.lambda_handler = scoring.handler
            server.serve_forever()  # on this thread, where Ctrl-C arrives and ends it
    except KeyboardInterrupt:
        print("\nstopped", flush=True)


def _listening(
    workdir: Path, host: str, port: int, *, allow_remote: bool, log_requests: bool
) -> "LambdaProxyServer":
    """The bound server, once host and demo are known to be fine (before the half minute of setup)."""
    if not is_loopback(host) and not allow_remote:
        raise LocalServerError(f"refusing to serve on {host}, which is not loopback")
    demo_state(workdir)
    try:
        return LambdaProxyServer(host, port, log_requests=log_requests)  # a port in use fails fast, too
    except OSError as error:
        raise LocalServerError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def _print_banner(url: str, *, has_openapi: bool) -> None:
    print(f"\nCredo scoring API at {url} (the score Lambda handler; Ctrl-C stops it)\n")
    print(
        f"  curl -s -X POST {url}/v1/eligibility -H 'Content-Type: application/json'"
        f' -d \'{{"customer_id": "{EXAMPLE_CUSTOMER}", "cart": {{"amount": 18999, "currency": "INR"}}}}\''
    )
    if has_openapi:
        print(f"  GET {url}/v1/openapi.json  (the OpenAPI document, for Swagger UI or Schemathesis)")
    print(flush=True)


def _answers(handler: LambdaHandler, path: str) -> bool:
    """Whether the handler serves GET `path` (asked in process, so no request line is printed)."""
    response = handler(
        proxy_event("GET", path, "", [], None), LocalLambdaContext(function_name="credo-score")
    )
    return int(response.get("statusCode", 0)) == 200


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


# ---- the HTTP side -------------------------------------------------------------------------------------


class LambdaProxyServer(ThreadingHTTPServer):
    """An HTTP server in front of one Lambda execution environment (bound on creation)."""

    def __init__(self, host: str, port: int, *, log_requests: bool = False) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _ProxyRequestHandler)
        self.lambda_handler: LambdaHandler | None = None
        self.log_requests = log_requests
        # Lambda gives an execution environment one request at a time, and the handler relies on it
        # (Powertools' resolver keeps the current event on its app): concurrent clients queue here.
        self.environment_lock = threading.Lock()
        self.context = LocalLambdaContext(function_name="credo-score")

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @contextmanager
    def running(self, handler: LambdaHandler) -> Iterator[str]:
        """Answer requests with `handler` on background threads until the block ends; yields the URL."""
        self.lambda_handler = handler
        thread = threading.Thread(target=self.serve_forever, name="credo-serve", daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self.shutdown()
            thread.join()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.lambda_handler is None:
            raise RuntimeError("the scoring handler is not loaded yet")
        context = dataclasses.replace(self.context, aws_request_id=event["requestContext"]["requestId"])
        with self.environment_lock:
            return self.lambda_handler(event, context)


class _ProxyRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive for clients that reuse connections
    server: LambdaProxyServer

    def _proxy(self) -> None:
        started = time.perf_counter()
        parts = urllib.parse.urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:  # API Gateway answers a malformed request itself, before any Lambda
            self.send_error(400, "malformed Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else None
        event = proxy_event(self.command, parts.path or "/", parts.query, self.headers.items(), body)
        try:
            status, headers, payload = http_response(self.server.invoke(event))
        except Exception as error:
            # A crashing Lambda gives API Gateway's 502; the traceback names code, not the request.
            traceback.print_exception(type(error), error, error.__traceback__)
            status, payload = LAMBDA_FAILURE_STATUS, LAMBDA_FAILURE_BODY
            headers = [("Content-Type", "application/json")]
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if self.server.log_requests:
            elapsed_ms = (time.perf_counter() - started) * 1000
            print(f"{self.command} {_redacted(parts.path)} → {status} in {elapsed_ms:.1f} ms", flush=True)

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: its request line would carry customer ids (GET /v1/customers/<id>/…)."""


for _method in API_GATEWAY_METHODS:
    setattr(_ProxyRequestHandler, f"do_{_method}", _ProxyRequestHandler._proxy)


# ---- helpers --------------------------------------------------------------------------------------------


def _event_body(body: bytes | None) -> tuple[str | None, bool]:
    """API Gateway passes text bodies as they are and binary ones base64-encoded."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _redacted(path: str) -> str:
    """The path with the segment after `customers` replaced: a raw customer id is PII in a log."""
    segments = path.split("/")
    for i in range(1, len(segments)):
        if segments[i - 1] == "customers" and segments[i]:
            segments[i] = "{customer_id}"
    return "/".join(segments)


def _silent(_: str) -> None:
    return None
