"""A fake credit bureau on loopback, for local runs and tests only: the API of `credo.bureau`.

It serves the synthetic world's bureau file (<world>/bureau/bureau_fixture.parquet), indexed by
the lookup key it derives for every row with the shared key, exactly as Credo derives it. It
fails some requests on purpose (503, or an answer slower than a client's read timeout), seeded
so a run can be repeated, and counts what it served so tests can check the client's behaviour.

    with FakeBureau(world / FIXTURE_PATH, api_key="dev", lookup_key=key) as bureau:
        client = BureauClient(BureauConfig.from_secret_json(bureau.secret_json()))
"""

import hmac
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray
from pydantic import ValidationError

from credo.bureau import (
    API_KEY_HEADER,
    LOOKUP_PATH,
    BureauHit,
    BureauNoHit,
    LookupRequest,
    LookupResponse,
    RateLimiter,
    score_band,
)
from credo.observability import logger
from credo.privacy import TOKEN_HEX_CHARS, bureau_lookup_key

FIXTURE_PATH: Final = Path("bureau") / "bureau_fixture.parquet"  # relative to a world's directory
LOOPBACK: Final = "127.0.0.1"
MAX_BODY_BYTES: Final = 64 * 1024
READ_BATCH_ROWS: Final = 65_536
KEY_DTYPE: Final = f"S{TOKEN_HEX_CHARS}"
REPORT_COLUMNS: Final = ("bureau_score", "tradelines", "enquiries_6m", "max_dpd_24m")

Fault = Literal["unavailable", "slow"]


@dataclass(frozen=True)
class FakeBureauStats:
    requests: int = 0  # every request that reached the lookup path
    unavailable: int = 0  # 503 on purpose
    slow: int = 0  # answered later than slow_seconds on purpose
    unauthorized: int = 0  # 401
    throttled: int = 0  # 429
    bad_requests: int = 0  # 400
    served_keys: int = 0  # keys answered with 200 (hit or no_hit)
    hits: int = 0


class BureauIndex:
    """The bureau's file as sorted lookup keys and report columns (no names, phones or birth dates)."""

    def __init__(self, fixture: Path, lookup_key: bytes) -> None:
        source = pq.ParquetFile(fixture)
        # Fixed-width bytes, sorted once: 32 bytes a row and a binary search per lookup, not a dict
        parts = [np.empty(0, dtype=KEY_DTYPE)]
        for batch in source.iter_batches(batch_size=READ_BATCH_ROWS, columns=["phone", "date_of_birth"]):
            phones, births = batch.column(0).to_pylist(), batch.column(1).to_pylist()
            # The very function Credo uses, so both sides agree on every key by construction
            keys = [
                bureau_lookup_key(phone, born, lookup_key) for phone, born in zip(phones, births, strict=True)
            ]
            parts.append(np.array(keys, dtype=KEY_DTYPE))
        unsorted = np.concatenate(parts)
        order = np.argsort(unsorted, kind="stable")
        self._keys = unsorted[order]
        columns = pq.read_table(fixture, columns=list(REPORT_COLUMNS))
        self._columns: dict[str, NDArray[np.int64]] = {
            name: columns.column(name).to_numpy().astype(np.int64)[order] for name in REPORT_COLUMNS
        }

    def __len__(self) -> int:
        return len(self._keys)

    def find(self, keys: Sequence[str]) -> list[BureauHit | BureauNoHit]:
        """A hit or a no_hit for each key, in order."""
        if not len(self._keys):
            return [BureauNoHit(lookup_key=key) for key in keys]
        wanted = np.array(keys, dtype=KEY_DTYPE)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        found = self._keys[at] == wanted
        answers: list[BureauHit | BureauNoHit] = []
        for key, row, hit in zip(keys, at.tolist(), found.tolist(), strict=True):
            if not hit:
                answers.append(BureauNoHit(lookup_key=key))
                continue
            values = {name: int(self._columns[name][row]) for name in REPORT_COLUMNS}
            band = score_band(values["bureau_score"])
            answers.append(BureauHit(lookup_key=key, score_band=band, **values))
        return answers


class FakeBureau:
    """The fake bureau's HTTP server, serving from a daemon thread while the context is open."""

    def __init__(
        self,
        fixture: Path | str,
        api_key: str,
        lookup_key: bytes,
        *,
        failure_rate: float = 0.05,
        slow_rate: float = 0.0,
        slow_seconds: float = 2.0,
        scripted_faults: Sequence[Fault] = (),
        seed: int = 0,
        rate_limit_per_second: float | None = None,
        retry_after_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
        record_bodies: bool = False,
        port: int = 0,
    ) -> None:
        if not 0.0 <= failure_rate + slow_rate <= 1.0:
            raise ValueError("failure_rate + slow_rate must be within 0..1")
        started = time.perf_counter()
        self.index = BureauIndex(Path(fixture), lookup_key)
        self.index_seconds = time.perf_counter() - started
        self._api_key = api_key.encode()
        self._lookup_key = lookup_key
        self._failure_rate = failure_rate
        self._slow_rate = slow_rate
        self._slow_seconds = slow_seconds
        self._scripted = list(scripted_faults)
        self._random = random.Random(seed)
        self._limiter = RateLimiter(rate_limit_per_second, clock=clock) if rate_limit_per_second else None
        self._retry_after = retry_after_seconds
        self._record_bodies = record_bodies
        self._port = port
        self._stats = FakeBureauStats()
        self._bodies: list[bytes] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake bureau is not running")
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def secret_json(self) -> str:
        """The bureau secret a client needs for this fake (store it in local Secrets Manager)."""
        return json.dumps(
            {
                "base_url": self.base_url,
                "api_key": self._api_key.decode(),
                "lookup_key": self._lookup_key.hex(),
            }
        )

    def stats(self) -> FakeBureauStats:
        with self._lock:
            return self._stats

    @property
    def bodies(self) -> list[bytes]:
        """Request bodies received, when built with record_bodies=True."""
        with self._lock:
            return list(self._bodies)

    def start(self) -> Self:
        self._stopping.clear()
        self._server = _Server((LOOPBACK, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-bureau", daemon=True
        )
        self._thread.start()
        logger.info("fake bureau serving", extra={"rows": len(self.index), "port": self._server.server_port})
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts slow answers short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _count(self, **increments: int) -> None:
        with self._lock:
            current = self._stats
            self._stats = replace(
                current, **{name: getattr(current, name) + step for name, step in increments.items()}
            )

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._scripted:
                return self._scripted.pop(0)
            draw = self._random.random()
        if draw < self._failure_rate:
            return "unavailable"
        if draw < self._failure_rate + self._slow_rate:
            return "slow"
        return None

    def answer(self, path: str, api_key: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request (the HTTP plumbing is in _Handler)."""
        if path != LOOKUP_PATH:
            return 404, {}, _error("no such path")
        self._count(requests=1)
        if self._record_bodies:
            with self._lock:
                self._bodies.append(body)
        if not hmac.compare_digest(api_key.encode(), self._api_key):
            self._count(unauthorized=1)
            return 401, {}, _error("bad API key")
        if self._limiter is not None and self._limiter.try_acquire() > 0:
            self._count(throttled=1)
            return 429, {"Retry-After": str(self._retry_after)}, _error("over the rate limit")
        fault = self._next_fault()
        if fault == "unavailable":
            self._count(unavailable=1)
            return 503, {}, _error("unavailable, try again")
        if fault == "slow":
            self._count(slow=1)
            self._stopping.wait(self._slow_seconds)
        try:
            request = LookupRequest.model_validate_json(body)
        except ValidationError:
            self._count(bad_requests=1)
            return 400, {}, _error(f"body must be {{'lookup_keys': [1..100 {TOKEN_HEX_CHARS}-hex keys]}}")
        answers = self.index.find(request.lookup_keys)
        hits = sum(1 for answer in answers if answer.status == "hit")
        self._count(served_keys=len(answers), hits=hits)
        return 200, {}, LookupResponse(results=answers).model_dump_json().encode()


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], bureau: FakeBureau
    ) -> None:
        self.bureau = bureau
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API would
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"connection": "close"}, _error("body too large"))
            return
        body = self.rfile.read(length)
        status, headers, payload = self.server.bureau.answer(
            self.path, self.headers.get(API_KEY_HEADER, ""), body
        )
        self._send(status, headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a slow answer on purpose)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""
