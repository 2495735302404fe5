"""Small fakes several test modules share (fakes over mocks): a clock, an in-memory object store, a model."""

from dataclasses import dataclass, field
from typing import Any


class FakeClock:
    """A clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MemoryStore:
    """A fake credo.registry.ObjectStore: a dict of key → bytes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = body

    def get_bytes(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))


@dataclass(frozen=True)
class FakeModel:
    """What the registry takes of a trained model (credo.registry.RegistrableModel), without training one."""

    target: str
    model_version: str
    onnx_bytes: bytes = b"onnx"
    model_card: dict[str, Any] = field(default_factory=dict)
