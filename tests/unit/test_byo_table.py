"""`credo train --table`: the zoo on a user's own table, and clear errors for tables it cannot use."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credo.cli import main
from credo.training import zoo
from credo.training.byo import _fewest_distinct_scores, _folds, _select, _shape, train_table
from credo.training.compare import MIN_DISTINCT_SCORES
from credo.training.report import ModelResult
from credo.training.table import MIN_ROWS_PER_VALUE, TableError, prepare, read_table

REQUIRED = ("roc_auc", "f1", "pr_auc", "brier", "ks")


def loans(n: int = 1_000, seed: int = 1) -> pd.DataFrame:
    """A lender's history: odd column names, a text category with gaps, missing numbers, a date."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, n)
    city = rng.choice(np.array(["Pune", "Delhi", "Kochi", None], dtype=object), n)
    late = rng.poisson(1.0, n).astype(float)
    late[rng.random(n) < 0.1] = np.nan
    logit = -2 + 0.9 * np.nan_to_num(late) - 0.03 * (income - 50) + np.where(city == "Kochi", 0.9, 0.0)
    bad = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "Monthly income (₹k)": income,
            "home city": city,
            "late payments": late,
            "applied on": pd.date_range("2024-01-01", periods=n, freq="h"),
            "defaulted": np.where(bad, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def table_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "loans.csv"
    loans().to_csv(path, index=False)
    return path


def test_given_text_categories_and_gaps_when_trained_then_every_zoo_model_is_reported_and_one_shipped(
    table_file: Path, tmp_path: Path
) -> None:
    report = train_table(
        table_file, label="defaulted", out=tmp_path, time_column="applied on", search_seconds=3,
        progress=lambda _: None,
    )  # fmt: skip

    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["selected"] in saved["models"] and set(saved["models"]) == {spec.name for spec in zoo.ZOO}
    assert saved["models"][saved["selected"]]["distinct_scores"] >= MIN_DISTINCT_SCORES
    for figures in saved["models"].values():
        assert set(REQUIRED) <= set(figures)
        assert 0.6 < figures["roc_auc"] <= 1.0  # the signal is learnable: every model finds it
    assert saved["validation"] == "out-of-time" and report["selected"] == saved["selected"]
    assert "<svg" in (tmp_path / "report.html").read_text()
    assert saved["columns"]["categorical"] == ["home city"]
    p = zoo.predict_onnx(
        (tmp_path / "model.onnx").read_bytes(),
        prepare(loans(200, seed=9), label="defaulted").features,
        *_inputs(table_file),
    )
    assert p.shape == (200,) and ((p >= 0) & (p <= 1)).all()
    searches = {name: m["search"] for name, m in saved["targets"]["table"]["models"].items()}
    # The budget reaches the search, shared equally; how many settings a share allows depends on the
    # machine's load, so it is test_search.py's to check with a generous budget.
    assert searches["decision_tree"]["budget_seconds"] == round(3 / len(zoo.ZOO), 1)
    assert all(s["candidates_tried"] >= 1 and s["folds"] == "3 out-of-time folds" for s in searches.values())


def _inputs(path: Path) -> tuple[list[str], list[str]]:
    table = prepare(read_table(path), label="defaulted", time_column="applied on")
    return table.numeric, table.categorical


def test_given_the_command_line_then_the_comparison_is_printed_and_files_written(
    table_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["train", "--table", str(table_file), "--label", "defaulted", "--positive", "yes",
         "--out", str(tmp_path), "--models", "logistic_regression", "decision_tree", "--search-seconds", "1"]
    )  # fmt: skip

    printed = capsys.readouterr().out
    assert code == 0 and "← selected" in printed and "stratified" in printed
    assert re.search(r"\d+ settings? tried", printed)
    assert {p.name for p in tmp_path.iterdir()} == {"model.onnx", "report.json", "report.html"}


def test_given_no_search_budget_then_each_model_keeps_the_zoo_settings(
    table_file: Path, tmp_path: Path
) -> None:
    report = train_table(
        table_file, label="defaulted", out=tmp_path, models=["decision_tree"], search_seconds=0,
        progress=lambda _: None,
    )  # fmt: skip

    assert report["search_seconds"] == 0
    assert report["targets"]["table"]["models"]["decision_tree"]["search"] == {}


def test_given_a_negative_search_budget_then_the_command_line_refuses_it(
    table_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--table", str(table_file), "--label", "defaulted", "--out", str(tmp_path),
              "--search-seconds", "-5"])  # fmt: skip

    assert exit_.value.code == 2
    assert "--search-seconds: must be 0 or more seconds, got -5" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "options", "message"),
    [
        (lambda df: df, {"label": "outcome"}, "no label column 'outcome'; the table has: Monthly income"),
        (lambda df: df.assign(defaulted="no"), {"label": "defaulted"}, "single class"),
        (lambda df: df.assign(defaulted="maybe"), {"label": "defaulted", "positive": "yes"}, "never occurs"),
        (lambda df: df.assign(grade=df.index % 3), {"label": "grade"}, "--positive"),
        (lambda df: df, {"label": "defaulted", "time_column": "when"}, "no time column 'when'"),
        (lambda df: df[["defaulted"]], {"label": "defaulted"}, "no feature columns"),
        (lambda df: df.head(0), {"label": "defaulted"}, "the table has no rows"),
        (
            lambda df: df.assign(defaulted=None),
            {"label": "defaulted"},
            "label 'defaulted' is empty in every row",
        ),
        (
            lambda df: df[["defaulted"]].assign(blank=np.nan),
            {"label": "defaulted"},
            "no feature columns besides the label (column 'blank': left out: every value is missing)",
        ),
        (
            lambda df: df.assign(**{"applied on": np.where(df.index % 2, "31/01/2024", "2024-01-31")}),
            {"label": "defaulted", "time_column": "applied on"},
            "150 unreadable or empty values, such as '31/01/2024'",
        ),
    ],
)
def test_given_a_table_it_cannot_use_then_the_error_says_what_to_fix(
    change: Callable[[pd.DataFrame], pd.DataFrame], options: dict[str, str], message: str
) -> None:
    with pytest.raises(TableError, match=re.escape(message)):
        prepare(change(loans(300)), **options)


def test_given_an_unreadable_or_missing_file_then_the_error_names_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")

    with pytest.raises(TableError, match=re.escape("cannot read broken.parquet")):
        read_table(broken)
    with pytest.raises(TableError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    spreadsheet = tmp_path / "loans.xlsx"
    spreadsheet.write_text("a")
    with pytest.raises(TableError, match=re.escape("only .csv and .parquet")):
        read_table(spreadsheet)


def test_given_scores_that_collapse_in_one_fold_then_the_fewest_distinct_scores_are_that_folds() -> None:
    spread = np.linspace(0.05, 0.95, 50)  # 50 rows over most of the 300–900 scale
    collapsed = np.full(40, 0.3) + np.linspace(0, 1e-6, 40)  # differences in the sixth decimal
    result = ModelResult(name="mlp", y_true=np.zeros(90, np.int64), p_bad=np.r_[spread, collapsed])

    assert _fewest_distinct_scores(result, [50, 40]) == 1


def test_given_a_collapsed_model_with_the_best_auc_then_the_table_ships_the_next_and_says_why() -> None:
    summary = {
        "mlp": {"roc_auc": 0.80, "distinct_scores": 1},
        "logistic_regression": {"roc_auc": 0.78, "distinct_scores": 120},
    }

    selected, reason = _select(summary, "stratified", 3)

    assert selected == "logistic_regression"
    assert f"fewer than {MIN_DISTINCT_SCORES} distinct values in a fold: mlp (1)" in reason


def test_given_every_model_collapsed_then_the_best_auc_still_ships() -> None:
    summary = {"mlp": {"roc_auc": 0.80, "distinct_scores": 1}, "svm": {"roc_auc": 0.70, "distinct_scores": 2}}

    selected, reason = _select(summary, "stratified", 3)

    assert selected == "mlp" and "so none was left out" in reason


def test_given_columns_a_model_cannot_use_then_they_are_left_out_and_the_notes_say_why() -> None:
    frame = loans(300).assign(
        customer=[f"C{i:05d}" for i in range(300)],  # an identifier: one category per row
        blank=np.nan,
        empty_text="",
        product="EMI",
        decided_on=pd.date_range("2024-01-01", periods=300, freq="h").astype(str),  # a CSV's dates are text
        month=np.where(np.arange(300) % 2, "March", "May"),  # names, not dates: a category
    )

    table = prepare(frame, label="defaulted")

    kept = set(table.column_names.values())
    assert {"customer", "blank", "empty_text", "product", "applied on", "decided_on"}.isdisjoint(kept)
    assert kept == {"Monthly income (₹k)", "home city", "late payments", "month"}
    notes = "\n".join(table.notes)
    assert "column 'customer': left out: 300 distinct text values, 1.0 rows each (an identifier?)" in notes
    assert f"at least {MIN_ROWS_PER_VALUE} rows per value" in notes
    assert "column 'blank': left out: every value is missing" in notes
    assert "column 'empty_text': left out: every value is missing" in notes
    assert "column 'product': left out: every row has the same value" in notes
    assert "date column 'decided_on' left out (give it as --time-column" in notes
    assert list(table.column_names) == ["c0", "c1", "c2", "c3"]  # the model's inputs stay numbered in order


def test_given_a_text_column_of_many_values_and_rows_enough_each_then_it_is_kept_with_a_note() -> None:
    frame = loans(9_000)
    rng = np.random.default_rng(5)
    branches = np.array([f"branch {i}" for i in range(zoo.MAX_ONE_HOT_VALUES + 50)], dtype=object)
    frame["branch"] = rng.choice(branches, len(frame))  # 150 values, about 60 rows each
    frame["agent"] = np.resize(np.array([f"A{i:04d}" for i in range(1_000)], dtype=object), len(frame))

    table = prepare(frame, label="defaulted")

    by_name = {name: internal for internal, name in table.column_names.items()}
    assert by_name["branch"] in table.categorical and "agent" not in by_name
    notes = "\n".join(table.notes)
    assert "column 'branch': 150 distinct text values: every model takes them as one input" in notes
    assert "column 'agent': left out: 1,000 distinct text values, 9.0 rows each (an identifier?)" in notes
    assert "(3 distinct values: one input each for the linear models and the network; 1 of more than" in (
        _shape(table)
    )


def test_given_numbers_with_codes_or_infinities_then_those_values_are_missing_and_the_rest_kept() -> None:
    frame = loans(300)
    income = frame["Monthly income (₹k)"].round(1).astype(object)
    income[::20] = "unknown"  # 15 of 300 rows: nearly all are numbers
    late = frame["late payments"].copy()
    late[:4] = [np.inf, -np.inf, 1e39, 2.0]  # 1e39 overflows the ONNX model's float32 inputs

    table = prepare(frame.assign(**{"Monthly income (₹k)": income, "late payments": late}), label="defaulted")

    by_name = {name: internal for internal, name in table.column_names.items()}
    assert by_name["Monthly income (₹k)"] in table.numeric
    assert table.features[by_name["Monthly income (₹k)"]].isna().sum() == 15
    assert table.features[by_name["late payments"]][:4].isna().tolist() == [True, True, True, False]
    notes = "\n".join(table.notes)
    assert "column 'Monthly income (₹k)': numbers but for 15 values ('unknown'), read as missing" in notes
    assert "column 'late payments': 3 infinite or out-of-range values read as missing" in notes


def test_given_a_numeric_positive_on_a_label_read_as_decimals_then_it_matches() -> None:
    frame = loans(300)
    frame["defaulted"] = (frame["defaulted"] == "yes").astype(float)  # 1.0 / 0.0, as a gap makes pandas read

    table = prepare(frame, label="defaulted", positive="1")

    assert table.labels.tolist() == frame["defaulted"].astype(int).tolist()


def test_given_a_time_ordered_table_whose_early_rows_hold_one_class_then_those_folds_are_skipped() -> None:
    frame = loans(400)
    frame.loc[:149, "defaulted"] = "no"  # the first windows (100 and 200 rows) hold no or few bads
    frame.loc[150:169, "defaulted"] = "yes"
    table = prepare(frame, label="defaulted", time_column="applied on")

    folds, notes = _folds(table, seed=7)

    assert len(folds) == 2 and all(len(train) >= 200 for train, _ in folds)
    assert notes == [
        "1 of 3 out-of-time folds skipped: their earlier rows hold fewer than 10 rows of a class"
    ]
    frame.loc[:299, "defaulted"] = "no"
    with pytest.raises(TableError, match=re.escape("validate without --time-column")):
        _folds(prepare(frame, label="defaulted", time_column="applied on"), seed=7)


def test_given_a_table_with_an_identifier_then_training_leaves_it_out_and_reports_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "loans.csv"
    loans(400).assign(customer=[f"C{i:05d}" for i in range(400)]).to_csv(path, index=False)
    printed: list[str] = []
    monkeypatch.setattr("credo.training.byo.SLOW_FOLD_SECONDS", 0.0)  # as a big table's folds would be

    report = train_table(
        path, label="defaulted", out=tmp_path / "out", models=["logistic_regression"], search_seconds=0,
        progress=printed.append,
    )  # fmt: skip

    assert "customer" not in report["columns"]["numeric"] + report["columns"]["categorical"]
    assert any("column 'customer': left out" in note for note in report["notes"])
    assert any(line.startswith("  note: column 'customer'") for line in printed)
    # "applied on" is a date and "customer" left out: what remains, and what the models will see
    assert (
        "  400 rows; numeric columns: 2; text columns: 1 "
        "(3 distinct values: one input each for the linear models and the network)" in printed
    )
    assert [line for line in printed if "fitted in" in line][-1].startswith(
        "    logistic_regression: fold 3 of 3"
    )
