"""`credo mine`: run one miner's real Lambda handler (or a file import) from the command line.

Against AWS (or any endpoint in AWS_ENDPOINT_URL) it uses the environment as it is. Without one,
it stands up the local stand-ins for the run — a moto server seeded from a synthetic world's
drops and a fake bureau — and copies what the miner wrote to a local directory, since the
moto server goes away when the command ends (so each local run starts from an empty watermark).
"""

import io
import json
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from credo import constants as c
from credo.adapters.s3 import S3Store
from credo.adapters.secrets import SecretStore
from credo.local import (
    LocalLambdaContext,
    bootstrap,
    drop_world_files,
    load_handler,
    local_aws,
    local_bureau,
    local_settings_env,
    scheduled_event,
)
from credo.mining import mine_file
from credo.privacy import load_hmac_key
from credo.settings import CredoSettings

LAKE_PREFIXES = (c.RAW_PREFIX, c.QUARANTINE_PREFIX, c.MANIFEST_PREFIX)


@dataclass
class LocalMiningRun:
    summary: dict[str, Any]
    copied_to: Path | None  # where the lake objects were copied (local stand-ins only)
    objects: list[str]


def mine_once(
    source: str,
    *,
    from_file: Path | None,
    world: Path,
    at: datetime | None,
    lake_copy: Path,
    use_environment: bool,
) -> LocalMiningRun:
    """Run `source`'s handler once (or import `from_file`), locally or against the environment."""
    with ExitStack() as stack:
        copy_to: Path | None = None
        when = at
        if not use_environment:
            if not (world / "operational.sqlite").is_file():
                raise FileNotFoundError(
                    f"no synthetic world at {world}: run `make demo` (or `credo world --out {world}`) first, "
                    "or pass --world DIR"
                )
            stack.enter_context(local_aws(local_settings_env(source_db=world / "operational.sqlite")))
            settings = CredoSettings()
            bootstrap(settings)
            drop_world_files(world, settings)
            if source == "bureau":
                stack.enter_context(local_bureau(world, settings))
            when = when or _world_end(world)
            copy_to = lake_copy
        settings = CredoSettings()
        when = when or datetime.now(UTC)
        if from_file is not None:
            key = load_hmac_key(SecretStore.create(), settings.hmac_secret_name)
            result = mine_file(
                source, from_file, s3=S3Store.create(), key=key, now=when, lake_bucket=settings.lake_bucket
            )
            summary = result.as_dict()
        else:
            handler = load_handler(f"mine_{source}")
            with redirect_stdout(io.StringIO()):  # metric lines: CloudWatch reads them in AWS
                summary = handler.handler(
                    scheduled_event(f"credo-mine-{source}", when),
                    LocalLambdaContext(function_name=f"credo-mine-{source}"),
                )
        objects = _lake_objects(settings, source)
        if copy_to is not None:
            _copy_objects(settings, objects, copy_to)
    return LocalMiningRun(summary=summary, copied_to=copy_to, objects=objects)


def _world_end(world: Path) -> datetime:
    summary = json.loads((world / "world.json").read_text())
    return datetime.combine(date.fromisoformat(summary["config"]["end"]), datetime.min.time(), UTC)


def _lake_objects(settings: CredoSettings, source: str) -> list[str]:
    s3 = S3Store.create()
    return [
        key for prefix in LAKE_PREFIXES for key in s3.list_keys(settings.lake_bucket, f"{prefix}/{source}/")
    ]


def _copy_objects(settings: CredoSettings, keys: list[str], target: Path) -> None:
    s3 = S3Store.create()
    for key in keys:
        s3.download(settings.lake_bucket, key, target / key)


def quarantine_reasons(run: LocalMiningRun, limit: int = 5) -> list[str]:
    """The first few quarantine reasons, read back from the copied lake (for the console)."""
    if run.copied_to is None:
        return []
    reasons: list[str] = []
    for key in run.objects:
        if key.startswith(c.QUARANTINE_PREFIX) and key.endswith(".jsonl"):
            for line in (run.copied_to / key).read_text().splitlines():
                bad = json.loads(line)
                reasons.append(
                    f"{bad.get('record_key') or bad.get('token') or '?'}: {'; '.join(bad['reasons'])}"
                )
                if len(reasons) >= limit:
                    return reasons
    return reasons
