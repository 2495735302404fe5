"""The scoring path's speed: handler latency, ONNX vs scikit-learn, batch, cold start, local server.

Run: .venv/bin/python bench/bench_scoring.py [--workdir .demo] [--requests 10000] [--batch-rows 1000000]

Everything runs on the last `make demo`'s state, set up exactly as `credo serve` sets it up
(credo.local_server.local_scoring: a moto server with the demo's key, policy and registry, and its
features materialised into DynamoDB):
(a) the scoring handler in process, API Gateway events in and responses out, with the time spent in
    the online-store read (OnlineFeatureStore.get) measured per request and subtracted;
(b) the champion's estimator refitted on the demo's training snapshots, one row through
    scikit-learn's predict_proba vs the same model in onnxruntime;
(c) onnxruntime over the demo's feature rows tiled to a million, both champions;
(d) a cold start: a fresh Python process importing functions/score/handler.py, which loads its models;
(e) concurrent HTTP clients (another process) against the local server for a few seconds.
"""

import argparse
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record

ROOT = Path(__file__).resolve().parent.parent
WARM_UP_REQUESTS = 200
SKLEARN_CALLS = 300
ONNX_CALLS = 3_000
BATCH_CHUNK_ROWS = 100_000
COLD_STARTS = 5
SERVER_CLIENTS = 8
SERVER_SECONDS = 10.0
JSON_HEADERS = [("Content-Type", "application/json")]
CART = {"amount": 18_999, "currency": "INR"}


def percentiles_ms(seconds: list[float] | np.ndarray) -> tuple[float, float]:
    values = np.asarray(seconds, dtype=np.float64) * 1e3
    return round(float(np.percentile(values, 50)), 3), round(float(np.percentile(values, 99)), 3)


def demo_customers(workdir: Path, as_of: date) -> list[str]:
    """Customers registered before the materialisation date (the online store has their features)."""
    with sqlite3.connect(workdir / "world" / "operational.sqlite") as conn:
        rows = conn.execute(
            "SELECT customer_id FROM registrations WHERE registered_at < ? ORDER BY customer_id",
            (as_of.isoformat(),),
        ).fetchall()
    conn.close()
    return [row[0] for row in rows]


@contextmanager
def as_in_lambda() -> Iterator[None]:
    """The handler's INFO decision log and metric lines are written, as in Lambda, to a discarded stdout."""
    from credo.observability import logger

    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    level, metrics = logger.log_level, os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.dup2(devnull, 1)
    logger.setLevel("INFO")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        logger.setLevel(level)
        if metrics is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)
        else:
            os.environ["POWERTOOLS_METRICS_DISABLED"] = metrics


@contextmanager
def store_reads_timed(into: list[float]) -> Iterator[None]:
    """Record how long each OnlineFeatureStore.get takes (the DynamoDB round trip), for subtraction."""
    from credo.online_store import OnlineFeatureStore

    original = OnlineFeatureStore.get

    def timed(self: OnlineFeatureStore, token: str) -> Any:
        started = time.perf_counter()
        try:
            return original(self, token)
        finally:
            into.append(time.perf_counter() - started)

    OnlineFeatureStore.get = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        OnlineFeatureStore.get = original  # type: ignore[method-assign]


@contextmanager
def store_answered_from_memory() -> Iterator[None]:
    """Each token's item is read from the store once, then answered from memory: the handler's own time
    without the round trip (and without the in-process moto server's thread competing for the GIL)."""
    from credo.online_store import OnlineFeatureStore

    original = OnlineFeatureStore.get
    remembered: dict[str, Any] = {}

    def from_memory(self: OnlineFeatureStore, token: str) -> Any:
        if token not in remembered:
            remembered[token] = original(self, token)
        return remembered[token]

    OnlineFeatureStore.get = from_memory  # type: ignore[method-assign]
    try:
        yield
    finally:
        OnlineFeatureStore.get = original  # type: ignore[method-assign]


def eligibility_body(customer_id: str) -> bytes:
    return json.dumps({"customer_id": customer_id, "cart": CART}).encode()


# ---- (a) the handler in process ---------------------------------------------------------------------------


def handler_latency(
    handler: Callable[..., dict[str, Any]], customers: list[str], requests: int
) -> dict[str, Any]:
    from credo.local import LocalLambdaContext
    from credo.local_server import proxy_event

    context = LocalLambdaContext(function_name="credo-score")
    rng = np.random.default_rng(7)
    picked = [customers[i] for i in rng.integers(0, len(customers), size=requests + WARM_UP_REQUESTS)]
    events = [proxy_event("POST", "/v1/eligibility", "", JSON_HEADERS, eligibility_body(c)) for c in picked]
    totals: list[float] = []
    store: list[float] = []
    statuses: Counter[int] = Counter()
    with as_in_lambda():
        for event in events[:WARM_UP_REQUESTS]:
            handler(event, context)
        with store_reads_timed(store):
            for event in events[WARM_UP_REQUESTS:]:
                started = time.perf_counter()
                response = handler(event, context)
                totals.append(time.perf_counter() - started)
                statuses[response["statusCode"]] += 1
        in_memory: list[float] = []
        with store_answered_from_memory():
            for event in events:  # the first pass reads each item once
                handler(event, context)
            for event in events[WARM_UP_REQUESTS:]:
                started = time.perf_counter()
                handler(event, context)
                in_memory.append(time.perf_counter() - started)
    if len(store) != len(totals):
        raise RuntimeError(
            f"{len(store)} store reads for {len(totals)} requests: cannot subtract per request"
        )
    excluding = np.asarray(totals) - np.asarray(store)
    p50, p99 = percentiles_ms(totals)
    store_p50, store_p99 = percentiles_ms(store)
    own_p50, own_p99 = percentiles_ms(excluding)
    memory_p50, memory_p99 = percentiles_ms(in_memory)
    return {
        "requests": requests,
        "statuses": dict(statuses),
        "p50_ms": p50,
        "p99_ms": p99,
        "store_p50_ms": store_p50,
        "store_p99_ms": store_p99,
        "excluding_store_p50_ms": own_p50,
        "excluding_store_p99_ms": own_p99,
        "store_in_memory_p50_ms": memory_p50,
        "store_in_memory_p99_ms": memory_p99,
    }


# ---- (b) ONNX vs scikit-learn, one row ---------------------------------------------------------------------


def onnx_vs_sklearn(workdir: Path) -> list[dict[str, Any]]:
    """Refit each champion's estimator (its card's settings) on the demo's training rows; time one row."""
    from threadpoolctl import threadpool_limits

    from credo.constants import TARGETS
    from credo.features import FEATURE_NAMES
    from credo.labels import LABEL_OF_TARGET, labelled_rows
    from credo.pipeline.runs import out_of_time_snapshots
    from credo.scoring.model import INPUT_NAME
    from credo.training.zoo import export_zoo_model, fit_zoo_model, model_input, model_spec, onnx_session
    from credo.warehouse import export_features
    from credo.warehouse.duckdb import DuckDBWarehouse

    snapshots = [
        date.fromisoformat(s) for s in json.loads((workdir / "demo.json").read_text())["world"]["snapshots"]
    ]
    training = list(out_of_time_snapshots(snapshots).training)
    with DuckDBWarehouse(workdir / "warehouse.duckdb") as warehouse:
        table = export_features(warehouse, training, labels=True).to_pandas()
    results = []
    for target in TARGETS:
        card = champion_card(workdir, target)
        rows = labelled_rows(table, target)
        labels = rows[LABEL_OF_TARGET[target]].to_numpy(dtype=np.int64)
        spec = model_spec(str(card["estimator"]))
        with threadpool_limits(limits=1):
            pipeline = fit_zoo_model(
                spec, rows, labels, FEATURE_NAMES, [], seed=7, params=card.get("hyperparameters") or {}
            )
        onnx_bytes = export_zoo_model(pipeline, FEATURE_NAMES, [], metadata={})
        # One row: joblib's worker start-up costs more than a forest's trees (FIELD-NOTES: 44 vs 9.7 ms),
        # so scikit-learn gets its best setting for the comparison.
        for calibrated in pipeline[-1].calibrated_classifiers_:
            if hasattr(calibrated.estimator, "n_jobs"):
                calibrated.estimator.n_jobs = 1
        session = onnx_session(onnx_bytes)
        one_rows = [model_input(rows.iloc[[i]], FEATURE_NAMES, []) for i in range(50)]
        with threadpool_limits(limits=1):
            sklearn_s = time_calls(partial(sklearn_one_row, pipeline, one_rows), SKLEARN_CALLS)
        onnx_s = time_calls(partial(onnx_one_row, session, INPUT_NAME, one_rows), ONNX_CALLS)
        sklearn_p50, _ = percentiles_ms(sklearn_s)
        onnx_p50, _ = percentiles_ms(onnx_s)
        results.append(
            {
                "target": target,
                "estimator": spec.name,
                "training_rows": len(rows),
                "sklearn_p50_ms": sklearn_p50,
                "onnx_p50_ms": onnx_p50,
                "ratio": round(float(np.median(sklearn_s) / np.median(onnx_s)), 1),
            }
        )
        print(f"  {json.dumps(results[-1])}", flush=True)
    return results


def champion_card(workdir: Path, target: str) -> dict[str, Any]:
    """The champion's model card from the demo's registry copy (<target>/champion.json names it)."""
    champion = json.loads((workdir / "registry" / target / "champion.json").read_text())
    card: dict[str, Any] = json.loads(
        (workdir / "registry" / target / champion["model_version"] / "model_card.json").read_text()
    )
    return card


def sklearn_one_row(pipeline: Any, rows: list[Any], i: int) -> Any:
    return pipeline.predict_proba(rows[i % len(rows)])


def onnx_one_row(session: Any, input_name: str, rows: list[Any], i: int) -> Any:
    return session.run(None, {input_name: rows[i % len(rows)]})


def time_calls(call: Callable[[int], Any], calls: int) -> list[float]:
    for i in range(5):  # first runs allocate
        call(i)
    seconds = []
    for i in range(calls):
        started = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - started)
    return seconds


# ---- (c) batch scoring -----------------------------------------------------------------------------------


def batch_throughput(workdir: Path, as_of: date, rows: int) -> dict[str, Any]:
    from credo.constants import TARGETS
    from credo.features import FEATURE_NAMES
    from credo.scoring.model import ScoringModel
    from credo.warehouse import build_features
    from credo.warehouse.duckdb import DuckDBWarehouse

    with DuckDBWarehouse(workdir / "warehouse.duckdb") as warehouse:
        features = build_features(warehouse, as_of).select(list(FEATURE_NAMES)).to_pandas()
    matrix = np.resize(features.to_numpy(dtype=np.float32, na_value=np.nan), (rows, len(FEATURE_NAMES)))
    figures: dict[str, Any] = {"rows": rows, "distinct_rows": len(features)}
    total = 0.0
    for target in TARGETS:
        card = champion_card(workdir, target)
        onnx_bytes = (workdir / "registry" / target / str(card["model_version"]) / "model.onnx").read_bytes()
        model = ScoringModel(onnx_bytes, expected_target=target)  # the served session: one thread
        model.predict_bad_probability(matrix[:1_000])
        started = time.perf_counter()
        for start in range(0, rows, BATCH_CHUNK_ROWS):
            model.predict_bad_probability(matrix[start : start + BATCH_CHUNK_ROWS])
        seconds = time.perf_counter() - started
        total += seconds
        figures[target] = {
            "estimator": card["estimator"],
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
        }
    figures["both_rows_per_s"] = round(rows / total)
    return figures


# ---- (d) cold start ---------------------------------------------------------------------------------------

# Interpreter start-up is not counted (Lambda's runtime is up before the init phase begins).
COLD_START_CODE = """
import time
started = time.perf_counter()
import onnxruntime, boto3, numpy, pydantic, aws_lambda_powertools.event_handler
libraries = time.perf_counter() - started
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
total = time.perf_counter() - started
print(json.dumps({"libraries_s": libraries, "total_s": total}))
"""


def cold_starts(times: int) -> dict[str, Any]:
    """Fresh processes importing the handler, which reads key and policy and loads both models (moto S3)."""
    from credo.local import repo_root

    handler = repo_root() / "functions" / "score" / "handler.py"
    runs = []
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, "-c", COLD_START_CODE, str(handler)], capture_output=True, text=True, check=True
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    total = [r["total_s"] for r in runs]
    libraries = [r["libraries_s"] for r in runs]
    return {
        "runs": times,
        "median_s": round(float(np.median(total)), 3),
        "max_s": round(float(np.max(total)), 3),
        "libraries_median_s": round(float(np.median(libraries)), 3),
    }


# ---- (e) through the local server --------------------------------------------------------------------------


def load_clients(url: str, bodies: list[bytes], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` keep-alive HTTP clients posting eligibility requests for `seconds` (in its own process)."""
    parts = urlsplit(url)
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        sent = index
        mine: list[float] = []
        while time.perf_counter() < deadline:
            body = bodies[sent % len(bodies)]
            sent += clients
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/eligibility", body=body, headers=dict(JSON_HEADERS))
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    with lock:
                        errors[f"HTTP {response.status}"] += 1
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors[type(error).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    p50, p99 = percentiles_ms(latencies)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "p50_ms": p50,
        "p99_ms": p99,
    }


def through_server(handler: Callable[..., dict[str, Any]], customers: list[str]) -> dict[str, Any]:
    import multiprocessing

    from credo.local_server import LambdaProxyServer

    bodies = [eligibility_body(c) for c in customers[:2_000]]
    with (
        as_in_lambda(),
        LambdaProxyServer("127.0.0.1", 0) as server,
        server.running(handler) as url,
        # the clients run in another process, so they do not share the server's interpreter lock
        ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        return pool.submit(load_clients, url, bodies, SERVER_CLIENTS, SERVER_SECONDS).result()


# ---- main ------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=ROOT / ".demo", help="a finished demo (default .demo)"
    )
    parser.add_argument("--requests", type=int, default=10_000, help="in-process handler requests")
    parser.add_argument("--batch-rows", type=int, default=1_000_000, help="rows scored in batch")
    args = parser.parse_args()

    from credo.local_server import LocalServerError, demo_state, local_scoring

    try:
        demo_state(args.workdir)
    except LocalServerError as error:
        sys.exit(f"bench_scoring: {error}")
    load_average = os.getloadavg()[0]  # other work on the machine shares its cores and moves every figure
    demo = json.loads((args.workdir / "demo.json").read_text())
    world = demo["world"]["config"]
    with local_scoring(args.workdir, echo=True) as scoring:
        customers = demo_customers(args.workdir, scoring.state.as_of)
        print(f"(a) the handler in process, {args.requests:,} requests …", flush=True)
        handler = handler_latency(scoring.handler, customers, args.requests)
        print(f"  {json.dumps(handler)}", flush=True)
        print("(b) ONNX vs scikit-learn, one row …", flush=True)
        parity = onnx_vs_sklearn(args.workdir)
        print(f"(c) batch scoring, {args.batch_rows:,} rows …", flush=True)
        batch = batch_throughput(args.workdir, scoring.state.as_of, args.batch_rows)
        print(f"  {json.dumps(batch)}", flush=True)
        print(f"(d) cold start, {COLD_STARTS} fresh processes …", flush=True)
        cold = cold_starts(COLD_STARTS)
        print(f"  {json.dumps(cold)}", flush=True)
        print(f"(e) the local server, {SERVER_CLIENTS} clients for {SERVER_SECONDS:g} s …", flush=True)
        server = through_server(scoring.handler, customers)
        print(f"  {json.dumps(server)}", flush=True)

    figures = (handler, parity, batch, cold, server)
    command = " ".join(["bench/bench_scoring.py", *sys.argv[1:]])
    record("Scoring", report(command, world, scoring.materialised, load_average, *figures))


def report(
    command: str,
    world: dict[str, Any],
    materialised: int,
    load_average: float,
    handler: dict[str, Any],
    parity: list[dict[str, Any]],
    batch: dict[str, Any],
    cold: dict[str, Any],
    server: dict[str, Any],
) -> str:
    estimators = ", ".join(f"{p['target']} {p['estimator']}" for p in parity)
    statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(handler["statuses"].items()))
    own_p50, own_p99 = handler["excluding_store_p50_ms"], handler["excluding_store_p99_ms"]
    lines = [
        f"Command: `.venv/bin/python {command}` on a finished demo"
        f" ({world['customers']:,} customers, seed {world['seed']}; champions: {estimators}), set up as"
        " `credo serve` sets it up: a moto server (DynamoDB, S3, SSM, Secrets Manager over loopback HTTP)"
        f" holding the demo's key, policy and registry, {materialised:,} customers' features materialised."
        " The handler's INFO decision log and metric lines are written (to a discarded stdout), as in"
        f" Lambda. Load average when the run started: {load_average:.1f} on {os.cpu_count()} cores.",
        "",
        "**(a) Handler in process**, API Gateway event in → response out,"
        f" {handler['requests']:,} requests for known customers (statuses {statuses}). The store round trip"
        " is each request's `OnlineFeatureStore.get`, timed and subtracted per request; against moto over"
        " HTTP it is slower than DynamoDB in the same region, and the moto server's thread shares this"
        " process's GIL, which the subtraction does not remove. The last row runs the same requests with"
        " each customer's item read once and then answered from memory: the handler's own time.",
        "",
        "| | p50 (ms) | p99 (ms) | target |",
        "| --- | ---: | ---: | --- |",
        f"| handler, total | {handler['p50_ms']} | {handler['p99_ms']} | |",
        f"| online-store round trip (moto) | {handler['store_p50_ms']} | {handler['store_p99_ms']} | |",
        f"| handler minus the timed store read | {own_p50} | {own_p99} | |",
        f"| handler, store answered from memory | {handler['store_in_memory_p50_ms']}"
        f" | {handler['store_in_memory_p99_ms']} | p50 ≤ 1, p99 ≤ 3 |",
        "",
        "**(b) ONNX vs scikit-learn, one row**: each champion's estimator refitted with its card's"
        " settings on the demo's training snapshots; scikit-learn `predict_proba` (one thread) vs"
        f" onnxruntime (the served single-thread session); p50 of {SKLEARN_CALLS} and {ONNX_CALLS:,} calls."
        " Target ≥ 20×.",
        "",
        "| target | model | training rows | scikit-learn p50 (ms) | onnxruntime p50 (ms) | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {p['target']} | {p['estimator']} | {p['training_rows']:,} | {p['sklearn_p50_ms']}"
        f" | {p['onnx_p50_ms']} | {p['ratio']}× |"
        for p in parity
    ]
    lines += [
        "",
        "**(c) Batch scoring** with onnxruntime (one thread, the served session): the demo's"
        f" {batch['distinct_rows']:,} feature rows tiled to {batch['rows']:,},"
        f" in chunks of {BATCH_CHUNK_ROWS:,}.",
        "",
        "| target | model | seconds | rows/s |",
        "| --- | --- | ---: | ---: |",
    ]
    lines += [
        f"| {t} | {batch[t]['estimator']} | {batch[t]['seconds']} | {batch[t]['rows_per_s']:,} |"
        for t in ("credit", "buying")
        if t in batch
    ]
    lines += [
        f"| both | | | {batch['both_rows_per_s']:,} customers/s |",
        "",
        f"**(d) Cold start**: {cold['runs']} fresh processes each importing `functions/score/handler.py`,"
        " whose init reads the key and policy and loads both champions from S3 (moto); interpreter"
        f" start-up not counted. Median {cold['median_s']} s, max {cold['max_s']} s (of which importing"
        " onnxruntime, boto3, numpy, pydantic and the Powertools event handler:"
        f" {cold['libraries_median_s']} s). Target ≤ 0.8 s.",
        "",
        "**(e) Through the local server** (`credo serve`'s HTTP server; one execution environment, so"
        f" requests are answered one at a time, as Lambda does): {server['clients']} keep-alive clients in"
        f" another process for {server['seconds']} s: {server['requests']:,} requests,"
        f" **{server['requests_per_s']} requests/s**, {server['errors']} errors,"
        f" latency p50 {server['p50_ms']} ms, p99 {server['p99_ms']} ms.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
