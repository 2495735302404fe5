"""The training report: report.json (every figure) and report.html (one self-contained page, works offline).

The training job fills a TargetResult per target with each model's out-of-time holdout predictions and the
figures it measured itself (fit time, ONNX size, latency); build_report computes everything else.
Charts are hand-written inline SVG: no plotting dependency, no script, no network.
"""

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from credo.constants import TARGET_BUYING, TARGET_CREDIT, TARGETS
from credo.labels import ROW_UNIT
from credo.policy import DEFAULT_POLICY, Economics
from credo.training import metrics, report_svg
from credo.training.report_svg import escape as _e
from credo.training.report_svg import fmt as _fmt

REPORT_SCHEMA_VERSION: Final = 1
REPORT_JSON: Final = "report.json"
REPORT_HTML: Final = "report.html"
MAX_SERVING_ONNX_BYTES: Final = 5 * 1024 * 1024
MAX_SERVING_ONE_ROW_MS: Final = 0.1
TARGET_LABELS: Final = {TARGET_CREDIT: "EMI (credit)", TARGET_BUYING: "COD (buying)"}
METRIC_COLUMNS: Final = ("roc_auc", "gini", "ks", "pr_auc", "brier", "calibration_error", "f1", "precision")
MEASURED_COLUMNS: Final = ("fit_seconds", "onnx_bytes", "one_row_ms", "batch_rows_per_s")


# What a bad approval costs, what a declined good loses, the bad rate tolerated: the policy's own
# economics (credo.policy.Economics), so the report prices thresholds as the policy states them.
DEFAULT_COSTS: Final = {target: DEFAULT_POLICY.economics(target) for target in TARGETS}


@dataclass(frozen=True)
class ModelResult:
    """One model of one target: its out-of-time holdout predictions and the figures measured elsewhere."""

    name: str
    y_true: npt.ArrayLike
    p_bad: npt.ArrayLike
    threshold: float | None = None  # None: the holdout's best-F1 threshold (optimistic; the report says so)
    cv_folds: Mapping[str, Sequence[float]] = field(default_factory=dict)  # metric → one value per fold
    fit_seconds: float | None = None
    onnx_bytes: int | None = None
    one_row_ms: float | None = None
    batch_rows_per_s: float | None = None
    feature_importances: Mapping[str, float] = field(default_factory=dict)
    notes: str = ""
    search: Mapping[str, Any] = field(default_factory=dict)  # credo.training.search.SearchResult.summary()


@dataclass(frozen=True)
class TargetResult:
    """Every model of one target ("credit" or "buying"); selected=None applies the serving-budget rule."""

    target: str
    models: Sequence[ModelResult]
    costs: Economics
    selected: str | None = None
    selection_reason: str = ""
    oracle_auc: float | None = None
    current_threshold: int | None = None


def build_report(
    targets: Sequence[TargetResult], *, metadata: Mapping[str, Any] | None = None, curve_points: int = 50
) -> dict[str, Any]:
    """The content of report.json: plain, JSON-safe values only (NaN and infinities become null)."""
    return _plain(
        {
            "schema_version": REPORT_SCHEMA_VERSION,
            "metadata": dict(metadata or {}),
            "serving_budget": {
                "max_onnx_bytes": MAX_SERVING_ONNX_BYTES,
                "max_one_row_ms": MAX_SERVING_ONE_ROW_MS,
            },
            "targets": {t.target: _target_report(t, curve_points) for t in targets},
        }
    )


def render_html(report: Mapping[str, Any]) -> str:
    """One self-contained HTML page (inline CSS and SVG, no script, no external resource) from report.json."""
    targets: Mapping[str, Any] = report.get("targets", {})
    parts = [f"<h1>Credo training report</h1>{_definitions(report.get('metadata', {}))}"]
    if targets:
        parts.append(_section("F1 comparison: EMI and COD", _f1_comparison(targets)))
    parts.extend(_target_html(name, body) for name, body in targets.items())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Credo training report</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def write_report(report: Mapping[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `directory` (created if needed); return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / REPORT_JSON, directory / REPORT_HTML
    json_path.write_text(
        json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
    )
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def _target_report(result: TargetResult, curve_points: int) -> dict[str, Any]:
    names = [m.name for m in result.models]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"target {result.target!r} needs models with distinct names, got {names}")
    models = {m.name: _model_report(m, curve_points) for m in result.models}
    selected, reason = (result.selected, result.selection_reason) if result.selected else _select(models)
    if selected not in models:
        raise ValueError(f"selected model {selected!r} is not among {names}")
    chosen = next(m for m in result.models if m.name == selected)
    costs = result.costs
    return {
        "label": TARGET_LABELS.get(result.target, result.target),
        "row": ROW_UNIT.get(result.target),  # None for a table of your own: its rows are its own
        "selected": selected,
        "selection_reason": reason,
        "oracle_auc": result.oracle_auc,
        "costs": {
            "target_bad_rate": costs.target_bad_rate,
            "loss_given_bad": costs.loss_given_bad,
            "margin_per_good": costs.margin_per_good,
        },
        "models": models,
        "score_distribution": metrics.score_histogram(chosen.y_true, chosen.p_bad),
        "cutoff_table": metrics.cutoff_table(
            chosen.y_true,
            chosen.p_bad,
            loss_given_bad=costs.loss_given_bad,
            margin_per_good=costs.margin_per_good,
        ),
        # a proposal names a policy field: only Credo's own targets have one (not a user's table)
        "threshold_proposal": metrics.recommend_thresholds(
            chosen.y_true,
            chosen.p_bad,
            target=result.target,
            target_bad_rate=costs.target_bad_rate,
            loss_given_bad=costs.loss_given_bad,
            margin_per_good=costs.margin_per_good,
            current_threshold=result.current_threshold,
        )
        if result.target in TARGET_LABELS
        else None,
    }


def _model_report(model: ModelResult, curve_points: int) -> dict[str, Any]:
    given = model.threshold is not None
    threshold = (
        model.threshold
        if model.threshold is not None
        else metrics.best_f1_threshold(model.y_true, model.p_bad)
    )
    # A figure nobody measured does not disqualify: the training job decides what it measures.
    within_budget = (model.onnx_bytes is None or model.onnx_bytes <= MAX_SERVING_ONNX_BYTES) and (
        model.one_row_ms is None or model.one_row_ms <= MAX_SERVING_ONE_ROW_MS
    )
    cv = {
        name: {"mean": float(np.mean(folds)), "std": float(np.std(folds)), "folds": list(folds)}
        for name, folds in model.cv_folds.items()
        if len(folds)
    }
    importances = sorted(model.feature_importances.items(), key=lambda item: -abs(item[1]))
    return {
        **metrics.classification_metrics(model.y_true, model.p_bad, threshold=threshold),
        "threshold_source": "given" if given else "best F1 on the holdout (optimistic)",
        "cv": cv,
        "fit_seconds": model.fit_seconds,
        "onnx_bytes": model.onnx_bytes,
        "one_row_ms": model.one_row_ms,
        "batch_rows_per_s": model.batch_rows_per_s,
        "within_serving_budget": within_budget,
        "notes": model.notes,
        "search": dict(model.search),
        "feature_importances": dict(importances),
        "curves": metrics.curves(model.y_true, model.p_bad, points=curve_points),
    }


def _select(models: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """The issue's rule: the best out-of-time ROC-AUC among the models within the serving budget."""
    budget = f"ONNX ≤ {MAX_SERVING_ONNX_BYTES / 2**20:g} MiB, one row ≤ {MAX_SERVING_ONE_ROW_MS:g} ms"
    eligible = {name: m for name, m in models.items() if m["within_serving_budget"]}
    pool = eligible or models

    def auc_of(name: str) -> float:
        auc = pool[name]["roc_auc"]
        return -math.inf if auc is None else float(auc)

    best = max(pool, key=auc_of)
    where = f"{len(eligible)} of {len(models)} models within the serving budget ({budget})"
    if not eligible:
        where = f"all {len(models)} models, as none is within the serving budget ({budget})"
    return best, f"best out-of-time ROC-AUC ({_fmt(pool[best]['roc_auc'], 4)}) among {where}"


def _plain(value: Any) -> Any:
    """numpy scalars and arrays to Python, NaN and infinities to None, tuples to lists, keys to str."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ---- HTML -------------------------------------------------------------------------------------------


def _target_html(target: str, body: Mapping[str, Any]) -> str:
    models: Mapping[str, Any] = body["models"]
    selected = body["selected"]
    names = list(models)
    oracle = body.get("oracle_auc")
    chosen = models[selected]
    roc = [(n, m["curves"]["roc"]["fpr"], m["curves"]["roc"]["tpr"]) for n, m in models.items()]
    pr = [(n, m["curves"]["pr"]["recall"], m["curves"]["pr"]["precision"]) for n, m in models.items()]
    calibration = [
        (n, m["curves"]["calibration"]["mean_predicted"], m["curves"]["calibration"]["observed_bad_rate"])
        for n, m in models.items()
    ]
    calibration_limit = max([1e-3, *(v for _, xs, ys in calibration for v in (*xs, *ys))])
    distribution = body["score_distribution"]
    good_total, bad_total = max(sum(distribution["good"]), 1), max(sum(distribution["bad"]), 1)
    importances = list(chosen.get("feature_importances", {}).items())[:20]
    charts = [
        report_svg.bar_chart(
            "F1 at each model's threshold",
            names,
            [("F1", [models[n]["f1"] for n in names])],
            highlight=selected,
            x_max=1.0,
        ),
        report_svg.bar_chart(
            "Out-of-time ROC-AUC",
            names,
            [("ROC-AUC", [models[n]["roc_auc"] for n in names])],
            highlight=selected,
            x_max=1.0,
            marker=None if oracle is None else ("oracle", float(oracle)),
        ),
        report_svg.line_chart(
            "ROC curves", roc, x_label="false positive rate", y_label="true positive rate", diagonal=True
        ),
        report_svg.line_chart("Precision-recall curves", pr, x_label="recall", y_label="precision"),
        report_svg.line_chart(
            "Calibration (10 equal-count bins)",
            calibration,
            x_label="mean predicted bad rate",
            y_label="observed bad rate",
            diagonal=True,
            limit=min(1.0, calibration_limit * 1.1),
        ),
        report_svg.histogram(
            f"Score distribution of {selected} (share of each class per band)",
            distribution["edges"],
            [
                ("good", [c / good_total for c in distribution["good"]]),
                ("bad", [c / bad_total for c in distribution["bad"]]),
            ],
        ),
    ]
    if importances:
        charts.append(
            report_svg.bar_chart(
                f"Feature importance of {selected}",
                [k for k, _ in importances],
                [("importance", [v for _, v in importances])],
            )
        )
    summary = f"<p>Selected: <b>{_e(selected)}</b>: {_e(body.get('selection_reason', ''))}</p>"
    if body.get("row"):
        summary += (
            f"<p>One row per {_e(body['row'])}: the holdout's shares, bad rates and losses below count"
            f" {_e(body['row'])}s (docs/training.md).</p>"
        )
    if oracle is not None:
        summary += (
            f"<p>Oracle ROC-AUC: {_fmt(oracle, 4)}. The oracle knows each customer's hidden traits;"
            " no model of what the shop records reaches it (docs/training.md).</p>"
        )
    return _section(
        body.get("label", target),
        summary
        + f'<div class="charts">{"".join(charts)}</div>'
        + "<h3>Every metric, every model (out-of-time holdout)</h3>"
        + _metrics_table(models, selected)
        + _search_table(models)
        + f"<h3>Cut-off table for {_e(selected)}</h3>"
        + _cutoff_table(body["cutoff_table"])
        + (
            "<h3>Threshold proposal (not applied)</h3>" + _proposal(body["threshold_proposal"])
            if body.get("threshold_proposal")
            else ""
        ),
    )


def _f1_comparison(targets: Mapping[str, Any]) -> str:
    names = list(dict.fromkeys(name for body in targets.values() for name in body["models"]))
    series = [
        (body.get("label", target), [body["models"].get(n, {}).get("f1") for n in names])
        for target, body in targets.items()
    ]
    return report_svg.bar_chart("F1 by classifier and target", names, series, x_max=1.0)


def _metrics_table(models: Mapping[str, Any], selected: str) -> str:
    columns = (
        "threshold",
        *METRIC_COLUMNS,
        "recall",
        "positive_rate",
        *MEASURED_COLUMNS,
        "within_serving_budget",
    )
    rows = []
    for name, m in models.items():
        cv_auc = m.get("cv", {}).get("roc_auc")
        cv_text = "—" if cv_auc is None else f"{_fmt(cv_auc['mean'])} ± {_fmt(cv_auc['std'])}"
        cells = [name + (" (selected)" if name == selected else ""), *(m.get(c) for c in columns), cv_text]
        rows.append([*cells, m.get("notes", "")])
    return _table(["model", *columns, "cv roc_auc", "notes"], rows)


def _search_table(models: Mapping[str, Any]) -> str:
    """How each model's settings were chosen (nothing when no search ran)."""
    rows = [
        [
            name,
            _fmt(m["search"]["cv_auc"]),
            f"{m['search']['candidates_tried']} of {m['search']['space_size']}",
            f"{_fmt(m['search']['seconds'])} / {_fmt(m['search']['budget_seconds'])}",
            ", ".join(f"{k}={v}" for k, v in m["search"]["params"].items()) or "the zoo's own",
        ]
        for name, m in models.items()
        if m.get("search")
    ]
    if not rows:
        return ""
    folds = next(m["search"]["folds"] for m in models.values() if m.get("search"))
    return f"<h3>Hyperparameter search (cross-validated on the training rows: {_e(folds)})</h3>" + _table(
        ["model", "cv roc_auc", "settings tried", "seconds / budget", "chosen settings"], rows
    )


def _cutoff_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = (
        "cutoff",
        "approved",
        "share_approved",
        "bad_rate_approved",
        "band_count",
        "band_bad_rate",
        "expected_loss",
    )
    return _table(list(columns), [[row.get(c) for c in columns] for row in rows])


def _proposal(proposal: Mapping[str, Any]) -> str:
    rows = [
        [
            label,
            summary.get("cutoff"),
            summary.get("share_approved"),
            summary.get("bad_rate_approved"),
            summary.get("expected_loss"),
        ]
        for label, summary in (
            ("for the target bad rate", proposal.get("for_target_bad_rate")),
            ("for minimum expected cost", proposal.get("for_minimum_expected_cost")),
            ("current policy", proposal.get("current")),
        )
        if summary
    ]
    notes = "".join(f"<li>{_e(note)}</li>" for note in proposal.get("notes", []))
    return (
        f"<p>Policy field <code>{_e(proposal.get('policy_field', ''))}</code>; applied: no.</p>"
        + _table(["proposal", "cutoff", "share_approved", "bad_rate_approved", "expected_loss"], rows)
        + _definitions(proposal.get("parameters", {}))
        + (f"<ul>{notes}</ul>" if notes else "")
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _definitions(values: Mapping[str, Any]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(_fmt(v))}</dd>" for k, v in values.items())
    return f"<dl>{items}</dl>" if items else ""


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>{body}</section>"


_CSS: Final = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.85em}"
    "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}"
    "td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1em}"
    "svg{border:1px solid #eee;background:#fff}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:0 1em}dt{font-weight:600}dd{margin:0}"
)
