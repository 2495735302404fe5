"""Model registry in S3: one folder per target and version, and a champion pointer per target.

    s3://<models>/<target>/<version>/model.onnx
    s3://<models>/<target>/<version>/model_card.json
    s3://<models>/<target>/champion.json        {"target", "model_version", "model_key", "promoted_at"}

The registry logic sees only the small ObjectStore interface; `_BucketObjects` maps it onto
credo.adapters.s3.S3Store, which owns the S3 calls.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from credo.adapters.s3 import S3Store

MODEL_FILE: Final = "model.onnx"
MODEL_CARD_FILE: Final = "model_card.json"
CHAMPION_FILE: Final = "champion.json"
ONNX_CONTENT_TYPE: Final = "application/octet-stream"
JSON_CONTENT_TYPE: Final = "application/json"
# Targets and versions become S3 key segments: keep them to characters that need no escaping.
_KEY_SEGMENT: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


class RegistryError(RuntimeError):
    """The registry holds no champion where one is needed, or something inconsistent."""


class ObjectStore(Protocol):
    """The little of S3 the registry needs."""

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None: ...

    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when the key does not exist."""
        ...

    def list_keys(self, prefix: str) -> list[str]: ...


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a challenger replaces the champion, and the reason the report prints."""

    promote: bool
    reason: str
    challenger_auc: float
    champion_auc: float | None


def decide_promotion(
    challenger_auc: float, champion_auc: float | None, *, champion_version: str | None = None
) -> PromotionDecision:
    """The challenger becomes champion unless it is worse on the same out-of-time holdout.

    `champion_auc` is the champion's AUC on the challenger's holdout (None: no champion, or one that
    cannot be scored on these features); a tie promotes, so a retrain on fresher data can replace
    an equally good model.
    """
    if champion_auc is None:
        reason = (
            "no comparable champion"
            if champion_version is None
            else (f"champion {champion_version} cannot be scored on this holdout (another feature schema)")
        )
        return PromotionDecision(True, reason, challenger_auc, None)
    if challenger_auc >= champion_auc:
        reason = f"out-of-time AUC {challenger_auc:.4f} ≥ champion's {champion_auc:.4f} on the same holdout"
        return PromotionDecision(True, reason, challenger_auc, champion_auc)
    who = f"champion {champion_version}" if champion_version else "the champion"
    reason = (
        f"{who} stays: its out-of-time AUC {champion_auc:.4f} beats the challenger's"
        f" {challenger_auc:.4f} on the same holdout"
    )
    return PromotionDecision(False, reason, challenger_auc, champion_auc)


class RegistrableModel(Protocol):
    """What a trained model offers the registry (credo.training.TrainedModel satisfies it)."""

    @property
    def target(self) -> str: ...

    @property
    def model_version(self) -> str: ...

    @property
    def onnx_bytes(self) -> bytes: ...

    @property
    def model_card(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ModelRef:
    target: str
    model_version: str
    model_key: str


@dataclass(frozen=True)
class LoadedModel:
    ref: ModelRef
    onnx_bytes: bytes


class ModelRegistry:
    """Register model versions, promote a champion per target, load the champion's bytes."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @classmethod
    def for_bucket(cls, bucket: str, *, s3: S3Store | None = None) -> "ModelRegistry":
        """A registry on an S3 bucket (region and endpoint come from the environment)."""
        return cls(_BucketObjects(s3 if s3 is not None else S3Store.create(), bucket))

    def register(self, model: RegistrableModel, *, promote: bool = False) -> ModelRef:
        """Store model.onnx and model_card.json under <target>/<version>/; optionally make it champion."""
        ref = self._ref(model.target, model.model_version)
        card_key = _key(model.target, model.model_version, MODEL_CARD_FILE)
        card = json.dumps(model.model_card, indent=2, sort_keys=True).encode()
        self._store.put_bytes(ref.model_key, model.onnx_bytes, ONNX_CONTENT_TYPE)
        self._store.put_bytes(card_key, card, JSON_CONTENT_TYPE)
        if promote:
            self.promote(model.target, model.model_version)
        return ref

    def promote(self, target: str, model_version: str) -> ModelRef:
        """Point <target>/champion.json at a registered version."""
        ref = self._ref(target, model_version)
        if self._store.get_bytes(ref.model_key) is None:
            raise RegistryError(f"cannot promote {model_version}: {ref.model_key} is not registered")
        pointer = {
            "target": target,
            "model_version": model_version,
            "model_key": ref.model_key,
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._store.put_bytes(_key(target, CHAMPION_FILE), json.dumps(pointer).encode(), JSON_CONTENT_TYPE)
        return ref

    def champion(self, target: str) -> ModelRef | None:
        """The champion of a target, or None when none was promoted yet."""
        raw = self._store.get_bytes(_key(_segment(target), CHAMPION_FILE))
        if raw is None:
            return None
        try:
            pointer = json.loads(raw)
            return self._ref(pointer["target"], pointer["model_version"])
        except (ValueError, KeyError, TypeError) as error:
            raise RegistryError(f"champion pointer of {target} is malformed: {error}") from error

    def load_champion(self, target: str) -> LoadedModel:
        """The champion's ONNX bytes; RegistryError when there is no champion or its file is gone."""
        ref = self.champion(target)
        if ref is None:
            raise RegistryError(f"no champion model for target {target!r}")
        if ref.target != target:
            raise RegistryError(f"champion pointer of {target!r} names target {ref.target!r}")
        body = self._store.get_bytes(ref.model_key)
        if body is None:
            raise RegistryError(f"champion {ref.model_version} points at missing {ref.model_key}")
        return LoadedModel(ref=ref, onnx_bytes=body)

    def versions(self, target: str) -> list[dict[str, Any]]:
        """Every registered version of a target, oldest first: its card, and whether it is champion."""
        champion = self.champion(target)
        prefix = f"{_segment(target)}/"
        found = sorted(
            {
                key[len(prefix) :].split("/", 1)[0]
                for key in self._store.list_keys(prefix)
                if key.endswith(MODEL_FILE)
            }
        )
        listed = []
        for version in found:
            card = self.model_card(target, version) or {}
            listed.append(
                {
                    "target": target,
                    "model_version": version,
                    "champion": champion is not None and champion.model_version == version,
                    "created_at": card.get("created_at"),
                    "card": card,
                }
            )
        return sorted(listed, key=lambda v: (str(v["created_at"] or ""), v["model_version"]))

    def model_card(self, target: str, model_version: str) -> dict[str, Any] | None:
        raw = self._store.get_bytes(_key(_segment(target), _segment(model_version), MODEL_CARD_FILE))
        return None if raw is None else dict(json.loads(raw))

    @staticmethod
    def _ref(target: str, model_version: str) -> ModelRef:
        return ModelRef(
            target=target,
            model_version=model_version,
            model_key=_key(_segment(target), _segment(model_version), MODEL_FILE),
        )


def _segment(value: str) -> str:
    if not _KEY_SEGMENT.match(value):
        raise RegistryError(f"{value!r} cannot be a registry key segment")
    return value


def _key(*segments: str) -> str:
    return "/".join(segments)


class _BucketObjects:
    """ObjectStore on one bucket of an S3Store; a missing key reads as None."""

    def __init__(self, s3: S3Store, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_bytes(self._bucket, key, body, content_type)

    def list_keys(self, prefix: str) -> list[str]:
        return list(self._s3.list_keys(self._bucket, prefix))

    def get_bytes(self, key: str) -> bytes | None:
        # A HEAD first costs a few ms, paid at registration and cold start only, never per request.
        if not self._s3.exists(self._bucket, key):
            return None
        return self._s3.get_bytes(self._bucket, key)
