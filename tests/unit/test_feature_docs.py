"""docs/features.md is generated from credo/features.py and must not drift from it."""

import re
import subprocess
import sys
from pathlib import Path

from credo.features import FEATURES, LABEL_DEFINITIONS, feature_docs_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_given_the_feature_list_then_docs_features_md_is_exactly_what_it_generates() -> None:
    assert DOCS.read_text(encoding="utf-8") == feature_docs_markdown(), (
        "docs/features.md is stale: run `python -m credo.features > docs/features.md`"
    )


def test_given_the_module_entry_point_when_run_then_it_prints_the_docs() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "credo.features"], check=True, capture_output=True, text=True
    ).stdout
    assert printed == feature_docs_markdown()


def test_given_every_feature_then_it_has_a_unique_snake_case_name_a_source_a_window_and_a_description() -> (
    None
):
    names = [f.name for f in FEATURES]
    assert len(names) == len(set(names))
    for feature in FEATURES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", feature.name), feature.name
        assert feature.description and feature.source and feature.window and feature.missing, feature


def test_given_the_generated_docs_then_every_feature_and_label_is_in_them() -> None:
    markdown = feature_docs_markdown()
    for feature in FEATURES:
        assert (
            f"| `{feature.name}` | {feature.source} | {feature.window} | {feature.description} |" in markdown
        )
    for label in LABEL_DEFINITIONS:
        assert f"`{label}`" in markdown
