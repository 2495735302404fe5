"""Local stand-ins: a moto server for AWS, the resources Credo expects, and Lambda event shapes.

Used by `credo demo` (and later `credo serve`): the same handlers and adapters run against it
that run against AWS, only the endpoint differs.
"""

import importlib.util
import json
import logging
import os
import secrets as secrets_module
import socket
import sys
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from credo import constants as c
from credo.adapters.dynamodb import ensure_table
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.adapters.ssm import ParameterStore
from credo.online_store import TOKEN_ATTRIBUTE
from credo.settings import CredoSettings

if TYPE_CHECKING:
    from credo.fake_bureau import FakeBureau

LOCAL_REGION = "ap-south-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_aws(settings_env: dict[str, str]) -> Iterator[str]:
    """Run a moto server on loopback and point boto3 (and CredoSettings) at it; restore on exit."""
    from moto.server import ThreadedMotoServer  # a development dependency: local runs only

    # The server's access log would bury the demo's own output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its backends per process: start empty even if an earlier server in this process
    # (a test, a demo) left buckets and tables behind.
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "CredoLocal",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **settings_env,
    }
    saved = {name: os.environ.get(name) for name in (*env, "AWS_PROFILE", "AWS_REGION")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_REGION", None)
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_settings_env(*, source_db: Path) -> dict[str, str]:
    """Environment for CredoSettings on a laptop: demo resource names and the SQLite source."""
    return {
        c.ENV_LAKE_BUCKET: "credo-demo-lake",
        c.ENV_MODEL_BUCKET: "credo-demo-models",
        c.ENV_FEATURE_TABLE: "credo-demo-features",
        c.ENV_WATERMARK_TABLE: "credo-demo-watermarks",
        c.ENV_HMAC_SECRET_NAME: "credo/demo/hmac-key",
        c.ENV_POLICY_PARAMETER: "/credo/demo/policy",
        c.ENV_SOURCE_DB_URL: f"sqlite:///{source_db.resolve()}",
        c.ENV_ENVIRONMENT: "local",
        c.ENV_DROPS_BUCKET: "credo-demo-drops",
        c.ENV_LINKAGE_SECRET_NAME: "credo/demo/linkage-key",
        c.ENV_BUREAU_SECRET_NAME: "credo/demo/bureau",
    }


def bootstrap(settings: CredoSettings) -> None:
    """Create what the CDK stacks create in AWS: buckets, tables, the tokenisation and linkage keys."""
    s3 = S3Store.create()
    for bucket in (settings.lake_bucket, settings.model_bucket, settings.drops_bucket):
        s3.ensure_bucket(bucket)
    ensure_table(settings.watermark_table)
    ensure_table(settings.feature_table, hash_key=TOKEN_ATTRIBUTE)
    secrets = SecretStore.create()
    secrets.ensure_random_hex(settings.hmac_secret_name)
    secrets.ensure_random_hex(settings.linkage_secret_name)


@contextmanager
def local_bureau(
    world: Path, settings: CredoSettings, *, failure_rate: float = 0.05
) -> Iterator["FakeBureau"]:
    """Serve the world's bureau file from a fake bureau on loopback and point the bureau secret at it.

    The lookup key shared with the "bureau" is random for each run, as a real one would be
    agreed once and kept secret.
    """
    from credo.fake_bureau import FIXTURE_PATH, FakeBureau

    with FakeBureau(
        world / FIXTURE_PATH,
        api_key=secrets_module.token_hex(16),
        lookup_key=os.urandom(32),
        failure_rate=failure_rate,
        seed=7,
    ) as bureau:
        SecretStore.create().put_string(settings.bureau_secret_name, bureau.secret_json())
        yield bureau


# The world's drop folders and the drops-bucket prefix each one is dropped under.
WORLD_DROPS: Final = {"reference": c.REFERENCE_DROP_PREFIX, "ads": c.ADS_DROP_PREFIX}


def drop_world_files(
    world: Path, settings: CredoSettings, folders: Sequence[str] = tuple(WORLD_DROPS)
) -> None:
    """Drop a synthetic world's files (registries, ad files) into the drops bucket, folder by folder."""
    drops = world / "drops"
    for folder in folders:
        if (drops / folder).is_dir():
            upload_drops(sorted((drops / folder).iterdir()), drops / folder, settings, WORLD_DROPS[folder])


def upload_drops(files: list[Path], root: Path, settings: CredoSettings, prefix: str) -> list[str]:
    """Drop files into the drops bucket as the ad/sales and reference teams do; returns the keys."""
    s3 = S3Store.create()
    keys = []
    for path in files:
        key = prefix + path.relative_to(root).as_posix()
        s3.put_file(settings.drops_bucket, key, path)
        keys.append(key)
    return keys


def seed_bucket_from_directory(directory: Path, bucket: str) -> list[str]:
    """Create `bucket` and upload every file under `directory`, its relative path as the key."""
    s3 = S3Store.create()
    s3.ensure_bucket(bucket)
    keys = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        key = path.relative_to(directory).as_posix()
        s3.put_file(bucket, key, path)
        keys.append(key)
    return keys


def save_bucket_to_directory(bucket: str, directory: Path) -> list[str]:
    """Write every object of `bucket` to `directory`/<key> (a moto bucket outlives its server this way)."""
    s3 = S3Store.create()
    root = directory.resolve()
    keys = list(s3.list_keys(bucket, ""))
    for key in keys:
        path = (root / key).resolve()
        if not path.is_relative_to(root):  # a key like ../x must not write outside the copy
            raise ValueError(f"object key {key!r} escapes {directory}")
        s3.download(bucket, key, path)
    return keys


# What the demo's moto server held that outlives it: the HMAC key its tokens were made with, the
# policy and the date its features were materialised as of. `credo serve` puts them back.
LOCAL_STATE_FILE: Final = "local-state.json"


@dataclass(frozen=True)
class LocalState:
    hmac_key_secret: str  # the demo's random tokenisation key: a local secret, never logged
    policy: dict[str, Any]
    as_of: date


def save_local_state(workdir: Path, settings: CredoSettings, *, as_of: date) -> Path:
    """Write the local stand-ins' HMAC secret and policy, and the materialisation date, to the workdir.

    The file holds a (local, random) secret: it is readable by its owner only.
    """
    state = {
        "hmac_key_secret": SecretStore.create().get_string(settings.hmac_secret_name),
        "policy": json.loads(ParameterStore.create().get(settings.policy_parameter)),
        "as_of": as_of.isoformat(),
    }
    path = workdir / LOCAL_STATE_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(state, indent=2) + "\n")
    return path


def load_local_state(workdir: Path) -> LocalState:
    """The state `save_local_state` wrote; FileNotFoundError without one, ValueError if it is damaged."""
    text = (workdir / LOCAL_STATE_FILE).read_text()
    try:
        raw = json.loads(text)
        return LocalState(
            hmac_key_secret=str(raw["hmac_key_secret"]),
            policy=dict(raw["policy"]),
            as_of=date.fromisoformat(raw["as_of"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{workdir / LOCAL_STATE_FILE} is not a local state file: {error}") from None


def repo_root() -> Path:
    """The repository checkout (functions/ lives beside layers/); local runs need one."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "functions").is_dir() and (parent / "layers").is_dir():
            return parent
    raise RuntimeError("functions/ not found: run this from a Credo checkout (make demo)")


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py as a fresh module (a new execution environment)."""
    path = repo_root() / "functions" / function / "handler.py"
    name = f"credo_function_{function}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalLambdaContext:
    """What Lambda passes as `context`, enough for Powertools and the miners' time checks."""

    function_name: str = "credo-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{LOCAL_REGION}:000000000000:function:credo-local"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/credo-local"
    log_stream_name: str = "local/[$LATEST]0"
    timeout_millis: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_millis


def scheduled_event(rule: str, when: datetime) -> dict[str, Any]:
    """The event an EventBridge schedule sends to a Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:000000000000:rule/{rule}"],
        "detail": {},
    }


def rest_event(method: str, path: str, body: Any = None, *, raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway REST (proxy integration) event, as the checkout's request arrives at the Lambda."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/local{path}",
            "stage": "local",
            "requestId": str(uuid.uuid4()),
            "accountId": "000000000000",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": False,
    }
