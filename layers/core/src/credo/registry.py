"""Model registry in S3: one folder per target and version, and a champion pointer per target.

    s3://<models>/<target>/<version>/model.onnx
    s3://<models>/<target>/<version>/model_card.json
    s3://<models>/<target>/<version>/report.html        (attached: the comparison that selected it)
    s3://<models>/<target>/<version>/report.json
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
REPORT_HTML_FILE: Final = "report.html"
REPORT_JSON_FILE: Final = "report.json"
ONNX_CONTENT_TYPE: Final = "application/octet-stream"
JSON_CONTENT_TYPE: Final = "application/json"
HTML_CONTENT_TYPE: Final = "text/html; charset=utf-8"
# The only files that may be attached to a registered version, with the type S3 serves them as.
ATTACHABLE_FILES: Final = {REPORT_HTML_FILE: HTML_CONTENT_TYPE, REPORT_JSON_FILE: JSON_CONTENT_TYPE}
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

    def attach(
        self, target: str, model_version: str, filename: str, body: bytes, content_type: str | None = None
    ) -> str:
        """Store report.html or report.json beside a registered version; returns the object's key."""
        if filename not in ATTACHABLE_FILES:
            raise RegistryError(
                f"cannot attach {filename!r}: only {', '.join(sorted(ATTACHABLE_FILES))} sit beside a version"
            )
        ref = self._ref(target, model_version)
        if not self._is_registered(ref):
            raise RegistryError(
                f"cannot attach {filename} to {model_version}: {ref.model_key} is not registered"
            )
        key = _key(_segment(target), _segment(model_version), filename)
        self._store.put_bytes(key, body, content_type or ATTACHABLE_FILES[filename])
        return key

    def attachment(self, target: str, model_version: str, filename: str) -> bytes | None:
        """An attached report's bytes, or None when it was never attached."""
        if filename not in ATTACHABLE_FILES:
            raise RegistryError(f"{filename!r} is not an attachable file")
        return self._store.get_bytes(_key(_segment(target), _segment(model_version), filename))

    def promote(self, target: str, model_version: str) -> ModelRef:
        """Point <target>/champion.json at a registered version."""
        ref = self._ref(target, model_version)
        if not self._is_registered(ref):
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
        pointer = self._champion_pointer(target)
        return None if pointer is None else self._ref(pointer["target"], pointer["model_version"])

    def _champion_pointer(self, target: str) -> dict[str, Any] | None:
        raw = self._store.get_bytes(_key(_segment(target), CHAMPION_FILE))
        if raw is None:
            return None
        try:
            pointer = dict(json.loads(raw))
            self._ref(pointer["target"], pointer["model_version"])
        except (ValueError, KeyError, TypeError) as error:
            raise RegistryError(f"champion pointer of {target} is malformed: {error}") from error
        return pointer

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

    def targets(self) -> list[str]:
        """Every target with at least one registered version, in name order."""
        return sorted(
            {
                parts[0]
                for parts in (key.split("/") for key in self._store.list_keys(""))
                if len(parts) == 3 and parts[2] == MODEL_FILE
            }
        )

    def versions(self, target: str) -> list[dict[str, Any]]:
        """Every registered version of a target, oldest first, with its card and what a listing shows.

        Each entry: target, model_version, champion (bool), promoted_at (the champion's only),
        created_at, estimator, holdout_auc (the card's out-of-time ROC-AUC), files beside the model.
        """
        pointer = self._champion_pointer(target)
        prefix = f"{_segment(target)}/"
        files: dict[str, set[str]] = {}
        for key in self._store.list_keys(prefix):
            version, _, filename = key[len(prefix) :].partition("/")
            if filename and "/" not in filename:
                files.setdefault(version, set()).add(filename)
        listed = []
        for version in sorted(v for v, names in files.items() if MODEL_FILE in names):
            card = self.model_card(target, version) or {}
            is_champion = pointer is not None and pointer["model_version"] == version
            listed.append(
                {
                    "target": target,
                    "model_version": version,
                    "champion": is_champion,
                    "promoted_at": (pointer or {}).get("promoted_at") if is_champion else None,
                    "created_at": card.get("created_at"),
                    "estimator": card.get("estimator"),
                    "holdout_auc": _holdout_auc(card),
                    "files": sorted(files[version]),
                    "card": card,
                }
            )
        return sorted(listed, key=lambda v: (str(v["created_at"] or ""), v["model_version"]))

    def model_card(self, target: str, model_version: str) -> dict[str, Any] | None:
        raw = self._store.get_bytes(_key(_segment(target), _segment(model_version), MODEL_CARD_FILE))
        return None if raw is None else dict(json.loads(raw))

    def _is_registered(self, ref: ModelRef) -> bool:
        # Listing the version's folder avoids downloading the model just to see that it exists.
        folder = ref.model_key.rsplit("/", 1)[0] + "/"
        return ref.model_key in self._store.list_keys(folder)

    @staticmethod
    def _ref(target: str, model_version: str) -> ModelRef:
        return ModelRef(
            target=target,
            model_version=model_version,
            model_key=_key(_segment(target), _segment(model_version), MODEL_FILE),
        )


def _holdout_auc(card: dict[str, Any]) -> float | None:
    """The card's out-of-time ROC-AUC, or None for a card without one."""
    metrics = card.get("holdout_metrics")
    auc = metrics.get("roc_auc") if isinstance(metrics, dict) else None
    return float(auc) if isinstance(auc, int | float) and not isinstance(auc, bool) else None


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
