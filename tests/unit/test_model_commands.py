"""`credo models list / promote`: the table, promotion and rollback, errors, and the CLI on a local copy."""

import json
from pathlib import Path
from typing import Any

import pytest

from credo.cli import main
from credo.model_commands import ModelCommandError, format_versions, list_versions, promote_version
from credo.registry import REPORT_HTML_FILE, ModelRegistry
from tests.fakes import FakeModel, MemoryStore

OLDER, NEWER, BUYING = "credit-20260101-a", "credit-20260201-b", "buying-20260201-c"


def card(created_at: str, estimator: str, auc: float) -> dict[str, Any]:
    return {"created_at": created_at, "estimator": estimator, "holdout_metrics": {"roc_auc": auc}}


@pytest.fixture
def store() -> MemoryStore:
    """Two credit versions (the newer one champion, with its report) and one buying version."""
    store = MemoryStore()
    registry = ModelRegistry(store)
    registry.register(
        FakeModel("credit", OLDER, model_card=card("2026-01-01T00:00:00", "logistic_regression", 0.71))
    )
    registry.register(
        FakeModel("credit", NEWER, model_card=card("2026-02-01T00:00:00", "gradient_boosting", 0.7412)),
        promote=True,
    )
    registry.attach("credit", NEWER, REPORT_HTML_FILE, b"<html></html>")
    registry.register(
        FakeModel("buying", BUYING, model_card=card("2026-02-01T00:00:00", "random_forest", 0.8))
    )
    return store


def champion_lines(table: str) -> list[str]:
    return [line.split()[1] for line in table.splitlines() if "← champion" in line]


def test_given_two_versions_when_listed_then_the_table_shows_each_with_its_auc_and_marks_the_champion(
    store: MemoryStore,
) -> None:
    table = format_versions(list_versions(ModelRegistry(store), "credit"))

    header, older, newer = table.splitlines()
    assert (
        header.split()[:4] == ["target", "version", "estimator", "created_at"] and "out-of-time AUC" in header
    )
    assert older.split()[:5] == ["credit", OLDER, "logistic_regression", "2026-01-01T00:00:00", "0.710"]
    assert newer.split()[:5] == ["credit", NEWER, "gradient_boosting", "2026-02-01T00:00:00", "0.741"]
    assert champion_lines(table) == [NEWER]


def test_given_no_target_when_listed_then_every_target_is_listed(store: MemoryStore) -> None:
    rows = list_versions(ModelRegistry(store))

    assert [(r.target, r.model_version) for r in rows] == [
        ("buying", BUYING),
        ("credit", OLDER),
        ("credit", NEWER),
    ]
    assert rows[2].files == ("model.onnx", "model_card.json", "report.html")


def test_given_a_champion_when_another_version_is_promoted_then_the_message_and_the_list_show_the_move(
    store: MemoryStore,
) -> None:
    registry = ModelRegistry(store)

    promotion = promote_version(registry, "credit", OLDER)  # the older one: a rollback

    assert (promotion.previous, promotion.current) == (NEWER, OLDER)
    assert promotion.message == f"credit: champion is now {OLDER} (was {NEWER})"
    assert champion_lines(format_versions(list_versions(registry, "credit"))) == [OLDER]
    assert registry.load_champion("credit").ref.model_version == OLDER


def test_given_no_champion_when_a_version_is_promoted_then_the_message_says_there_was_none(
    store: MemoryStore,
) -> None:
    promotion = promote_version(ModelRegistry(store), "buying", BUYING)

    assert promotion.message == f"buying: champion is now {BUYING} (there was none before)"


def test_given_an_unregistered_version_when_promoted_then_the_error_names_the_registered_ones(
    store: MemoryStore,
) -> None:
    registry = ModelRegistry(store)

    with pytest.raises(ModelCommandError, match=f"registered: {OLDER}, {NEWER}"):
        promote_version(registry, "credit", "credit-nope")
    assert champion_lines(format_versions(list_versions(registry, "credit"))) == [NEWER]


def test_given_an_unknown_target_when_listed_or_promoted_then_the_error_names_the_known_targets(
    store: MemoryStore,
) -> None:
    registry = ModelRegistry(store)

    with pytest.raises(ModelCommandError, match="registered targets: buying, credit"):
        list_versions(registry, "fraud")
    with pytest.raises(ModelCommandError, match="no target 'fraud'"):
        promote_version(registry, "fraud", OLDER)


# The command line, through the local path: the directory is loaded into a moto server per command.


@pytest.fixture
def registry_dir(store: MemoryStore, tmp_path: Path) -> Path:
    """A registry copy as `make demo` leaves it: the bucket's keys as relative paths."""
    directory = tmp_path / "registry"
    for key, body in store.objects.items():
        (directory / key).parent.mkdir(parents=True, exist_ok=True)
        (directory / key).write_bytes(body)
    return directory


def test_given_a_registry_copy_when_listed_on_the_command_line_then_it_prints_the_table(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "list", "--registry", str(registry_dir)])
    table = capsys.readouterr().out

    assert code == 0
    assert table.startswith(f"registry {registry_dir}\n") and champion_lines(table) == [NEWER]
    assert BUYING in table and OLDER in table


def test_given_a_registry_copy_when_listed_as_json_for_one_target_then_each_version_is_an_object(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "list", "--target", "credit", "--json", "--registry", str(registry_dir)])
    listed = json.loads(capsys.readouterr().out)

    assert code == 0
    assert [(v["model_version"], v["champion"], v["holdout_auc"]) for v in listed] == [
        (OLDER, False, 0.71),
        (NEWER, True, 0.7412),
    ]


def test_given_a_registry_copy_when_an_older_version_is_promoted_then_the_rollback_persists_in_the_directory(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "promote", "credit", OLDER, "--registry", str(registry_dir)])
    printed = capsys.readouterr().out

    assert code == 0 and f"champion is now {OLDER} (was {NEWER})" in printed
    pointer = json.loads((registry_dir / "credit" / "champion.json").read_text())
    assert pointer["model_version"] == OLDER
    assert (registry_dir / "credit" / NEWER / "report.html").read_bytes() == b"<html></html>"


def test_given_an_unregistered_version_when_promoted_on_the_command_line_then_exit_2_without_a_traceback(
    registry_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (registry_dir / "credit" / "champion.json").read_bytes()

    code = main(["models", "promote", "credit", "credit-nope", "--registry", str(registry_dir)])
    err = capsys.readouterr().err

    assert code == 2
    assert err.startswith("credo models promote: ") and f"registered: {OLDER}, {NEWER}" in err
    assert "Traceback" not in err
    assert (registry_dir / "credit" / "champion.json").read_bytes() == before


def test_given_no_registry_directory_when_listed_then_it_says_to_run_make_demo_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["models", "list", "--registry", str(tmp_path / "missing")])

    assert code == 2 and "run `make demo` first" in capsys.readouterr().err
