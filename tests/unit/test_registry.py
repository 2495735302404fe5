"""The model registry on an in-memory object store: versions, champion pointer, promotion rule."""

import pytest

from credo.registry import (
    REPORT_HTML_FILE,
    REPORT_JSON_FILE,
    ModelRegistry,
    RegistryError,
    decide_promotion,
)
from tests.fakes import FakeModel, MemoryStore


def test_given_a_challenger_that_is_worse_on_the_same_holdout_then_the_champion_stays_and_says_why() -> None:
    decision = decide_promotion(0.71, 0.74, champion_version="credit-1")

    assert not decision.promote
    assert "credit-1 stays" in decision.reason and "0.7400" in decision.reason and "0.7100" in decision.reason


@pytest.mark.parametrize(
    ("challenger", "champion", "version", "reason"),
    [
        (0.74, 0.74, "credit-1", "≥ champion's"),  # a tie promotes: fresher data, equally good
        (0.80, 0.74, "credit-1", "≥ champion's"),
        (0.60, None, None, "no comparable champion"),
        (0.60, None, "credit-1", "another feature schema"),
    ],
)
def test_given_a_challenger_not_worse_or_no_comparable_champion_then_it_is_promoted(
    challenger: float, champion: float | None, version: str | None, reason: str
) -> None:
    decision = decide_promotion(challenger, champion, champion_version=version)

    assert decision.promote and reason in decision.reason


def test_given_two_versions_when_listed_then_the_champion_is_marked_and_rollback_is_a_promote() -> None:
    registry = ModelRegistry(MemoryStore())
    registry.register(
        FakeModel("credit", "credit-20260101-a", model_card={"created_at": "2026-01-01"}), promote=True
    )
    registry.register(
        FakeModel("credit", "credit-20260201-b", model_card={"created_at": "2026-02-01"}), promote=True
    )
    registry.register(FakeModel("buying", "buying-20260201-c"), promote=True)

    before = [(v["model_version"], v["champion"]) for v in registry.versions("credit")]
    registry.promote("credit", "credit-20260101-a")  # roll back
    after = [(v["model_version"], v["champion"]) for v in registry.versions("credit")]

    assert before == [("credit-20260101-a", False), ("credit-20260201-b", True)]
    assert after == [("credit-20260101-a", True), ("credit-20260201-b", False)]
    assert registry.load_champion("credit").ref.model_version == "credit-20260101-a"


def test_given_an_unregistered_version_when_promoted_then_it_is_refused() -> None:
    registry = ModelRegistry(MemoryStore())

    with pytest.raises(RegistryError, match="not registered"):
        registry.promote("credit", "credit-nope")
    assert registry.versions("credit") == []


def test_given_a_registered_version_when_reports_are_attached_then_they_sit_beside_its_model() -> None:
    store = MemoryStore()
    registry = ModelRegistry(store)
    registry.register(FakeModel("credit", "credit-20260101-a"))

    html_key = registry.attach("credit", "credit-20260101-a", REPORT_HTML_FILE, b"<html></html>")
    json_key = registry.attach("credit", "credit-20260101-a", REPORT_JSON_FILE, b"{}")

    assert (html_key, json_key) == (
        "credit/credit-20260101-a/report.html",
        "credit/credit-20260101-a/report.json",
    )
    assert store.objects[html_key] == b"<html></html>"
    assert registry.attachment("credit", "credit-20260101-a", REPORT_JSON_FILE) == b"{}"
    assert registry.versions("credit")[0]["files"] == [
        "model.onnx",
        "model_card.json",
        "report.html",
        "report.json",
    ]


def test_given_an_unregistered_version_or_another_file_name_when_attached_then_it_is_refused() -> None:
    store = MemoryStore()
    registry = ModelRegistry(store)
    registry.register(FakeModel("credit", "credit-20260101-a"))

    with pytest.raises(RegistryError, match="not registered"):
        registry.attach("credit", "credit-nope", REPORT_HTML_FILE, b"<html></html>")
    with pytest.raises(RegistryError, match=r"only report\.html, report\.json"):
        registry.attach("credit", "credit-20260101-a", "model.onnx", b"overwrite")
    assert store.objects["credit/credit-20260101-a/model.onnx"] == b"onnx"
    assert not any(key.endswith("report.html") for key in store.objects)


def test_given_versions_with_cards_when_listed_then_estimator_auc_and_promotion_time_are_read() -> None:
    registry = ModelRegistry(MemoryStore())
    card = {
        "created_at": "2026-01-01",
        "estimator": "logistic_regression",
        "holdout_metrics": {"roc_auc": 0.71},
    }
    registry.register(FakeModel("credit", "credit-20260101-a", model_card=card), promote=True)
    registry.register(FakeModel("credit", "credit-20260201-b", model_card={"created_at": "2026-02-01"}))
    registry.register(FakeModel("buying", "buying-20260201-c"))

    older, newer = registry.versions("credit")

    assert registry.targets() == ["buying", "credit"]
    assert (older["estimator"], older["holdout_auc"], older["champion"]) == (
        "logistic_regression",
        0.71,
        True,
    )
    assert older["promoted_at"] is not None
    assert (newer["estimator"], newer["holdout_auc"], newer["promoted_at"]) == (None, None, None)
