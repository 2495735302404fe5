"""Credit-bureau lookups over HTTP, sending only lookup keys (HMAC tokens), never who a person is.

Both sides derive a person's key with `credo.privacy.bureau_lookup_key` under a shared key, so a
request carries tokens only. The secret (Secrets Manager, JSON) holds the endpoint and both keys:

    {"base_url": "https://bureau.example", "api_key": "...", "lookup_key": "<hex, >= 16 bytes>"}

The API (the fake in `credo.fake_bureau` serves the same):

    POST {base_url}/v1/reports/lookup     header x-api-key: <api_key>
    body  {"lookup_keys": ["<32 hex>", ...]}                       1..100 keys
    200   {"results": [{"lookup_key": k, "status": "hit", "bureau_score": 300..900, "score_band": "A".."E",
                        "tradelines": n, "enquiries_6m": n, "max_dpd_24m": n}
                       | {"lookup_key": k, "status": "no_hit"}, ...]}
    401   bad API key          400  bad body (our bug)
    429   over the rate limit, with Retry-After          503  unavailable (retry later)

`BureauClient.lookup` retries timeouts, refused connections, 429 and 5xx with exponential backoff
(or the server's Retry-After, capped); keys whose request still fails are reported `unavailable` and
counted, never raised, so a mining run goes on and looks them up again next time. A 401/403 raises
`BureauConfigError` and any other 4xx but 429 `BureauError`: retrying cannot fix those. The client's
rate limiter spaces batches; the retries of one batch are spaced by the backoff instead.
"""

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

import urllib3
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from urllib3.exceptions import HTTPError, MaxRetryError
from urllib3.util import Retry

from credo.observability import logger
from credo.privacy import TOKEN_HEX_CHARS, SecretReader, hmac_key_from_secret

LOOKUP_PATH: Final = "/v1/reports/lookup"
API_KEY_HEADER: Final = "x-api-key"
MAX_KEYS_PER_REQUEST: Final = 100
LOOKUP_KEY_PATTERN: Final = rf"^[0-9a-f]{{{TOKEN_HEX_CHARS}}}$"
HEX_DIGITS: Final = frozenset("0123456789abcdef")
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
PYDANTIC_PREFIX: Final = "Value error, "
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
# (lowest score, band), best first; a score below every floor is band E
SCORE_BANDS: Final = ((800, "A"), (750, "B"), (700, "C"), (650, "D"))

ScoreBand = Literal["A", "B", "C", "D", "E"]
LookupKey = Annotated[str, Field(pattern=LOOKUP_KEY_PATTERN)]


class BureauError(RuntimeError):
    """The bureau refused a request that retrying cannot fix."""


class BureauConfigError(BureauError):
    """The bureau secret or API key is wrong."""


def score_band(score: int) -> ScoreBand:
    """The bureau's band for a score: A ≥ 800, B 750–799, C 700–749, D 650–699, E < 650."""
    for floor, band in SCORE_BANDS:
        if score >= floor:
            return band  # type: ignore[return-value]
    return "E"


class BureauConfig(BaseModel):
    """Where the bureau is and the keys to talk to it, from the Secrets Manager JSON."""

    # Errors must never echo the secret's values
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    base_url: str
    api_key: SecretStr
    lookup_key: SecretStr

    @field_validator("base_url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError("must use https (plain http only for a loopback fake bureau)")
        return value.strip().rstrip("/")

    @field_validator("api_key")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("lookup_key")
    @classmethod
    def _hex_key(cls, value: SecretStr) -> SecretStr:
        hmac_key_from_secret(value.get_secret_value())  # raises ValueError on bad hex or a short key
        return value

    @property
    def lookup_key_bytes(self) -> bytes:
        """The shared HMAC key for `credo.privacy.bureau_lookup_key`."""
        return hmac_key_from_secret(self.lookup_key.get_secret_value())

    @property
    def lookup_url(self) -> str:
        return self.base_url + LOOKUP_PATH

    @classmethod
    def from_secret_json(cls, text: str) -> "BureauConfig":
        """Parse the secret; a BureauConfigError names each missing or invalid field."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BureauConfigError(
                f"bureau secret is not JSON (line {error.lineno}, column {error.colno})"
            ) from None
        if not isinstance(data, dict):
            raise BureauConfigError("bureau secret must be a JSON object with base_url, api_key, lookup_key")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise BureauConfigError(f"bureau secret is invalid: {_field_problems(error)}") from None


def _field_problems(error: ValidationError) -> str:
    """'field: problem; …' without the values, which are secrets."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg'].removeprefix(PYDANTIC_PREFIX)}"
        for problem in error.errors(include_input=False, include_url=False)
    )


def load_bureau_config(secrets: SecretReader, secret_name: str) -> BureauConfig:
    return BureauConfig.from_secret_json(secrets.get_string(secret_name))


class LookupRequest(BaseModel):
    """The body of a lookup: tokens only."""

    model_config = ConfigDict(extra="forbid")

    lookup_keys: list[LookupKey] = Field(min_length=1, max_length=MAX_KEYS_PER_REQUEST)


class BureauHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    lookup_key: str
    status: Literal["hit"] = "hit"
    bureau_score: int = Field(ge=300, le=900)
    score_band: ScoreBand
    tradelines: int = Field(ge=0)
    enquiries_6m: int = Field(ge=0)
    max_dpd_24m: int = Field(ge=0)


class BureauNoHit(BaseModel):
    """The bureau has no file for this key."""

    model_config = ConfigDict(frozen=True)

    lookup_key: str
    status: Literal["no_hit"] = "no_hit"


class BureauUnavailable(BaseModel):
    """The key's request still failed after every retry: no answer, to be looked up again later."""

    model_config = ConfigDict(frozen=True)

    lookup_key: str
    status: Literal["unavailable"] = "unavailable"


BureauAnswer = Annotated[BureauHit | BureauNoHit, Field(discriminator="status")]
BureauReport = BureauHit | BureauNoHit | BureauUnavailable


class LookupResponse(BaseModel):
    results: list[BureauAnswer]


@dataclass
class LookupOutcome:
    """One report per distinct key asked, and counts for metrics."""

    reports: dict[str, BureauReport] = field(default_factory=dict)
    requests: int = 0  # batches sent
    retries: int = 0  # extra attempts made for those batches
    failures: int = 0  # batches that left keys unavailable after the retries ran out

    def count(self, status: str) -> int:
        return sum(1 for report in self.reports.values() if report.status == status)

    @property
    def unavailable_keys(self) -> list[str]:
        return [key for key, report in self.reports.items() if report.status == "unavailable"]

    def metrics(self) -> dict[str, int]:
        """Counts only: safe to log and to publish as metrics."""
        return {
            "keys": len(self.reports),
            "hits": self.count("hit"),
            "no_hits": self.count("no_hit"),
            "unavailable": self.count("unavailable"),
            "requests": self.requests,
            "retries": self.retries,
            "failures": self.failures,
        }


class RateLimiter:
    """A token bucket: up to `burst` requests at once, refilled at `rate_per_second`."""

    def __init__(
        self,
        rate_per_second: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        self._rate = rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        # A sleep may return a little early: never let time run backwards
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._updated = max(now, self._updated)

    def acquire(self) -> float:
        """Take one token, sleeping until one is there; returns the seconds waited."""
        with self._lock:
            self._refill()
            wait = max(0.0, (1.0 - self._tokens) / self._rate)
            if wait > 0:
                self._sleep(wait)
                # The wait earned exactly the missing fraction of a token
                self._tokens, self._updated = 1.0, self._updated + wait
            self._tokens -= 1.0
            return wait

    def try_acquire(self) -> float:
        """Take a token if one is there (returns 0.0); otherwise the seconds until one will be."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self._rate


class BureauClient:
    """Looks keys up in batches, with timeouts, retries with backoff and a client-side rate limit."""

    def __init__(
        self,
        config: BureauConfig,
        *,
        batch_size: int = MAX_KEYS_PER_REQUEST,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        attempts: int = 4,
        backoff_factor: float = 0.5,
        backoff_max: float = 20.0,
        retry_after_max: int = 30,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        if not 1 <= batch_size <= MAX_KEYS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1..{MAX_KEYS_PER_REQUEST}")
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._url = config.lookup_url
        self._batch_size = batch_size
        self._attempts = attempts
        self._rate_limiter = rate_limiter
        retry = Retry(
            total=attempts - 1,
            # A lookup only reads, so repeating a POST is safe
            allowed_methods=frozenset({"POST"}),
            status_forcelist=RETRYABLE_STATUSES,
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            retry_after_max=retry_after_max,
            respect_retry_after_header=True,
            raise_on_status=False,  # hand back the last 5xx/429 so it is counted, not raised
            redirect=False,  # never forward the API key to another host
        )
        self._http = urllib3.PoolManager(
            retries=retry,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            headers={
                API_KEY_HEADER: config.api_key.get_secret_value(),
                "content-type": "application/json",
                "user-agent": "credo-bureau-client/1",
            },
        )

    @classmethod
    def from_secrets(cls, secrets: SecretReader, secret_name: str, **options: Any) -> "BureauClient":
        """A client for the bureau named in the secret; `options` as for the constructor."""
        return cls(load_bureau_config(secrets, secret_name), **options)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.clear()

    def lookup(self, keys: Sequence[str]) -> LookupOutcome:
        """A report per distinct key: hit, no_hit, or unavailable when the bureau could not answer."""
        distinct = list(dict.fromkeys(keys))
        _check_lookup_keys(distinct)
        outcome = LookupOutcome()
        for batch in _batches(distinct, self._batch_size):
            if self._rate_limiter is not None:
                self._rate_limiter.acquire()
            answers, retries = self._post(batch)
            outcome.requests += 1
            outcome.retries += retries
            for key in batch:
                outcome.reports[key] = answers.get(key) or BureauUnavailable(lookup_key=key)
            if len(answers) < len(batch):
                outcome.failures += 1
        log = logger.warning if outcome.failures else logger.info
        log("bureau lookup finished", extra=outcome.metrics())
        return outcome

    def _post(self, batch: Sequence[str]) -> tuple[dict[str, BureauHit | BureauNoHit], int]:
        """The answers for one batch (empty when it failed) and the retries it took."""
        body = LookupRequest(lookup_keys=list(batch)).model_dump_json().encode()
        try:
            response = self._http.request("POST", self._url, body=body)
        except MaxRetryError:
            return {}, self._attempts - 1  # timeouts or refused connections on every attempt
        except HTTPError:  # anything urllib3 does not count as retryable: as unavailable as a timeout
            return {}, 0
        retries = len(response.retries.history) if response.retries is not None else 0
        if response.status in (401, 403):
            raise BureauConfigError(f"bureau refused the API key ({response.status})")
        if response.status in RETRYABLE_STATUSES:
            return {}, retries
        if response.status != 200:
            raise BureauError(f"bureau answered {response.status}: {_short(response.data)}")
        try:
            results = LookupResponse.model_validate_json(response.data).results
        except ValidationError:
            logger.warning("bureau answered 200 with an unreadable body", extra={"keys": len(batch)})
            return {}, retries
        asked = set(batch)
        return {answer.lookup_key: answer for answer in results if answer.lookup_key in asked}, retries


def _check_lookup_keys(keys: Sequence[str]) -> None:
    """Refuse anything that is not a lookup token, so a phone or a name can never be sent."""
    malformed = sum(1 for key in keys if not _is_lookup_key(key))
    if malformed:
        # The count only: a malformed key may be the very PII we refuse to send or log
        raise BureauError(f"{malformed} lookup key(s) are not {TOKEN_HEX_CHARS}-hex tokens; nothing was sent")


def _is_lookup_key(key: object) -> bool:
    return isinstance(key, str) and len(key) == TOKEN_HEX_CHARS and set(key) <= HEX_DIGITS


def _batches(keys: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _short(data: bytes, limit: int = 200) -> str:
    return data[:limit].decode("utf-8", errors="replace")
