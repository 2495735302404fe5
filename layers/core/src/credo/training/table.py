"""A user's table made ready for the zoo: labels as 0/1, columns a model can use, notes on the rest.

`credo train --table` (credo.training.byo) trains on what `prepare` returns. Columns no model can use
(empty, constant, identifiers, dates) are left out with a note rather than failing the run or, for an
identifier, exhausting memory; a table that cannot be trained on at all raises TableError with what to fix.
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from credo.training.zoo import MAX_ONE_HOT_VALUES

MIN_ROWS_PER_CLASS: Final = 10
# A text column of more than zoo.MAX_ONE_HOT_VALUES values reaches every model as its values' order by
# bad rate (credo.training.encoding), which needs rows per value to mean anything: with 13 rows a
# value it cost every model 0.015–0.07 AUC against leaving the column out, with 30 it was mixed, with
# 200 every model gained (bench/bench_text_columns.py). An identifier (a distinct value per row)
# is noise there. (One-hot encoded, 60k rows with a customer id took all 24 GB.)
MIN_ROWS_PER_VALUE: Final = 50
# A text column nearly all numbers is numeric with a few codes ("-", "unknown"); nearly all dates, a date.
NEARLY_ALL: Final = 0.9
DATE_SAMPLE: Final = 1_000  # values of a text column looked at to tell whether it holds dates
FLOAT32_MAX: Final = float(np.finfo(np.float32).max)  # the ONNX model's inputs are float32
TRUE_VALUES: Final = frozenset({"1", "true", "yes", "y", "t", "bad", "positive"})
FALSE_VALUES: Final = frozenset({"0", "false", "no", "n", "f", "good", "negative"})


class TableError(ValueError):
    """The table cannot be trained on; the message says what to fix."""


@dataclass
class PreparedTable:
    features: pd.DataFrame  # columns renamed c0, c1, … (any user names survive ONNX)
    labels: npt.NDArray[np.int64]
    numeric: list[str]
    categorical: list[str]
    column_names: dict[str, str]  # internal name → the user's column name
    order: npt.NDArray[np.int64] | None  # row order by time when a time column is given
    notes: list[str] = field(default_factory=list)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; TableError when it is missing or unreadable."""
    if not path.is_file():
        raise TableError(f"no such file: {path}")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
    except Exception as error:  # pandas raises many types for a damaged file
        raise TableError(f"cannot read {path.name}: {type(error).__name__}: {error}") from None
    raise TableError(f"{path.name}: only .csv and .parquet tables can be trained on")


def prepare(
    frame: pd.DataFrame, *, label: str, positive: str | None = None, time_column: str | None = None
) -> PreparedTable:
    """Labels as 0/1 (1 = the positive, bad outcome), features split into numeric and categorical."""
    if label not in frame.columns:
        raise TableError(f"no label column {label!r}; the table has: {', '.join(map(str, frame.columns))}")
    if time_column is not None and time_column not in frame.columns:
        raise TableError(
            f"no time column {time_column!r}; the table has: {', '.join(map(str, frame.columns))}"
        )
    if frame.empty:
        raise TableError("the table has no rows")
    notes = []
    known = frame[label].notna()
    if not known.any():
        raise TableError(f"label {label!r} is empty in every row")
    if not known.all():
        notes.append(f"{int((~known).sum()):,} rows without a label were left out")
        frame = frame[known]
    labels = _binary_labels(frame[label], positive)
    counts = np.bincount(labels, minlength=2)
    if counts.min() == 0:
        raise TableError(
            f"label {label!r} has a single class ({'all positive' if counts[0] == 0 else 'no positive'})"
        )
    if counts.min() < MIN_ROWS_PER_CLASS:
        raise TableError(
            f"label {label!r} needs at least {MIN_ROWS_PER_CLASS} rows of each class, got {counts.tolist()}"
        )
    order = None if time_column is None else _time_order(frame[time_column], time_column)
    numeric: list[str] = []
    categorical: list[str] = []
    names: dict[str, str] = {}  # internal → the user's name
    columns: dict[str, pd.Series] = {}
    for column in (c for c in frame.columns if c not in (label, time_column)):
        kind, values, note = _feature_column(frame[column], str(column))
        if note:
            notes.append(note)
        if kind is None:
            continue
        internal = f"c{len(names)}"
        (numeric if kind == "numeric" else categorical).append(internal)
        columns[internal] = values
        names[internal] = str(column)
    if not names:
        left_out = f" ({'; '.join(notes)})" if notes else ""
        raise TableError(f"the table has no feature columns besides the label{left_out}")
    features = pd.DataFrame(columns, index=frame.index).reset_index(drop=True)
    return PreparedTable(features, labels, numeric, categorical, names, order, notes)


def _time_order(values: pd.Series, column: str) -> npt.NDArray[np.int64]:
    moments = pd.to_datetime(values, errors="coerce")
    unreadable = moments.isna()
    if unreadable.any():
        examples = ", ".join(repr(v) for v in values[unreadable].astype(str).unique()[:3])
        raise TableError(
            f"time column {column!r} has {int(unreadable.sum())} unreadable or empty values, such as "
            f"{examples} (give every row one date format, such as 2024-01-31)"
        )
    return np.argsort(moments.to_numpy(), kind="stable")


def _feature_column(values: pd.Series, name: str) -> tuple[str | None, pd.Series, str | None]:
    """("numeric" | "categorical" | None to leave it out, the values as the zoo takes them, a note)."""
    if pd.api.types.is_datetime64_any_dtype(values) or _dates_as_text(values):
        return (
            None,
            values,
            f"date column {name!r} left out (give it as --time-column to validate out of time)",
        )
    notes = []
    if not pd.api.types.is_numeric_dtype(values):  # bool columns count as numbers too
        values, note = _text_or_numbers(values)
        notes += [note] if note else []
    if pd.api.types.is_numeric_dtype(values):
        kind, values = "numeric", values.astype("float64")
        too_large = values.abs() > FLOAT32_MAX  # ±inf too
        if too_large.any():
            values = values.mask(too_large)
            notes.append(f"{int(too_large.sum()):,} infinite or out-of-range values read as missing")
    else:
        kind = "categorical"
    present = values.dropna()
    distinct = present.nunique()
    many_valued = kind == "categorical" and distinct > MAX_ONE_HOT_VALUES
    left_out = True
    if present.empty:
        notes.append("left out: every value is missing")
    elif distinct == 1 and len(present) == len(values):
        notes.append("left out: every row has the same value")
    elif many_valued and len(present) < MIN_ROWS_PER_VALUE * distinct:
        notes.append(
            f"left out: {distinct:,} distinct text values, {len(present) / distinct:.1f} rows each (an "
            f"identifier?); a text column of more than {MAX_ONE_HOT_VALUES} values needs at least "
            f"{MIN_ROWS_PER_VALUE} rows per value on average — group rare values to use it"
        )
    else:
        left_out = False
        if many_valued:
            notes.append(
                f"{distinct:,} distinct text values: every model takes them as one input, the values "
                f"ordered by bad rate (the linear models and the network one-hot encode up to "
                f"{MAX_ONE_HOT_VALUES})"
            )
    note = f"column {name!r}: {'; '.join(notes)}" if notes else None
    return (None if left_out else kind), values, note


def _dates_as_text(values: pd.Series) -> bool:
    """Whether a text column holds dates (a CSV's dates arrive as text), judged on its first values."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return False
    sample = values.dropna().astype(str).head(DATE_SAMPLE)
    # Plain numbers would parse as dates too, and so would month or weekday names, which are categories.
    if (
        sample.empty
        or pd.to_numeric(sample, errors="coerce").notna().any()
        or not sample.str.contains(r"\d").all()
    ):
        return False
    with warnings.catch_warnings():  # "could not infer format": the answer is then "not dates"
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= NEARLY_ALL)


def _text_or_numbers(values: pd.Series) -> tuple[pd.Series, str | None]:
    """Text values, or numbers when nearly all are numbers or too many distinct to be categories."""
    # "" is how a missing category reaches the model (zoo.MISSING_CATEGORY); other text stays as given,
    # since the model is served the values as they are.
    text = values.astype("string").replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    codes = text[numbers.isna() & text.notna()]
    mostly_numbers = len(codes) <= (1 - NEARLY_ALL) * text.notna().sum()
    if codes.size == text.notna().sum() or not (mostly_numbers or numbers.nunique() > MAX_ONE_HOT_VALUES):
        return text, None
    if codes.empty:
        return numbers, None
    shown = ", ".join(repr(v) for v in codes.unique()[:5])
    return numbers, f"numbers but for {len(codes):,} values ({shown}), read as missing"


def _binary_labels(values: pd.Series, positive: str | None) -> npt.NDArray[np.int64]:
    text = values.astype(str).str.strip()
    if positive is not None:
        matches = text == str(positive).strip()
        if not matches.any() and _is_number(positive):  # --positive 1 on a column read as 1.0 / 0.0
            matches = pd.to_numeric(values, errors="coerce") == float(positive)
        if not matches.any():
            raise TableError(f"--positive {positive!r} never occurs in the label column")
        return matches.to_numpy(dtype=np.int64)
    lowered = text.str.lower().replace({"1.0": "1", "0.0": "0"})
    if set(lowered.unique()) <= TRUE_VALUES | FALSE_VALUES:
        return lowered.isin(TRUE_VALUES).to_numpy(dtype=np.int64)
    distinct = sorted(text.unique())
    raise TableError(
        f"label values {distinct[:5]}{'…' if len(distinct) > 5 else ''} are not 0/1 or true/false: "
        "say which value is the positive (bad) outcome with --positive VALUE"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
