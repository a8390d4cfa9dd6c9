"""A REST pull: JSON records from an HTTP API, page after page, into Arrow batches.

Each answer is JSON; the records are the array at ``records`` (a dotted path such as
``data.items``; empty: the body itself). A record's fields become columns — nested objects by
dotted path (``amount.value``), or only those ``fields`` names (column -> dotted path). Numbers
stay numbers: a column is text only where the source mixes numbers and text.

Pages (``pagination.kind``): ``next_link`` (a URL at ``next`` in the body), ``link_header``
(``Link: <…>; rel="next"``), ``page`` or ``offset`` (a query parameter counting pages or rows,
until a page comes back short or empty), ``cursor`` (a token at ``next`` in the body, sent back
as a query parameter). A next link keeps its own query and gets the configured parameters it
lacks (the watermark among them), so a server that drops them from its links still filters.

Incremental (``incremental``): the watermark is sent as a query parameter, and the highest
value of the records' watermark field is the new one. Authentication: one header whose value is
a secret (``auth.secret`` names it; ``auth.prefix`` such as ``Bearer `` goes before it).

Failures: a 429 waits as its ``Retry-After`` says (seconds or an HTTP date, at most
``max_retry_after_s``), a 5xx and a connection error or time-out wait an exponentially growing,
jittered time (``backoff_s`` doubled per attempt, at most ``max_backoff_s``, a uniformly random
part of it); each request is tried at most ``max_retries`` + 1 times. Any other 4xx, an answer
that is not JSON, or records that are not an array fail the pull at once. ``max_rows`` bounds
what one run may fetch (a run over it fails rather than loading part of the source).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import ConnectorType, Pull, PullFailed, Watermark, highest, record_batch

sleep = time.sleep  # tests replace it to hear the waits
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
Scalar = str | int | float | bool


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: str = Field("Authorization", min_length=1, max_length=255)
    secret: str = Field(min_length=1, max_length=255, description="the secret holding the value")
    prefix: str = Field("", max_length=64, description='e.g. "Bearer " before the secret')


class Pagination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "next_link", "link_header", "page", "offset", "cursor"] = "none"
    next: str | None = Field(
        None, max_length=255, description="next_link, cursor: dotted path of it in the body"
    )
    param: str | None = Field(
        None, max_length=255, description="page, offset, cursor: the query parameter"
    )
    start: int = Field(1, description="page: the first page's number (offset starts at 0)")
    size_param: str | None = Field(None, max_length=255, description="the page size parameter")
    size: int | None = Field(None, ge=1, le=100_000, description="the page size asked for")
    max_pages: int = Field(10_000, ge=1, le=1_000_000)


class Incremental(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=255, description="dotted path in a record")
    param: str = Field(min_length=1, max_length=255, description="the query parameter")


class RestConfig(BaseModel):
    """A REST source (docs/connectors.md)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, description="http:// or https://")
    params: dict[str, Scalar] = Field(default_factory=dict, description="query parameters")
    headers: dict[str, str] = Field(default_factory=dict, description="headers (not secret)")
    records: str = Field("", max_length=255, description="dotted path of the records array")
    fields: dict[str, str] = Field(
        default_factory=dict, description="column -> dotted path (default: every field)"
    )
    auth: Auth | None = None
    pagination: Pagination = Field(default_factory=lambda: Pagination.model_validate({}))
    incremental: Incremental | None = None
    initial_watermark: Scalar | None = None
    timeout_s: float = Field(30.0, gt=0, le=600)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_s: float = Field(0.5, ge=0, le=60)
    max_backoff_s: float = Field(30.0, ge=0, le=600)
    max_retry_after_s: float = Field(120.0, ge=0, le=3600)
    max_rows: int = Field(1_000_000, ge=1, le=100_000_000)

    @field_validator("headers")
    @classmethod
    def _not_secret(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if name.strip().lower() in SECRET_HEADERS:
                raise ValueError(
                    f"header {name!r} carries a credential: give it as `auth` with a secret, "
                    "so that it is neither shown nor logged"
                )
        return headers

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.lower().startswith(("http://", "https://")):
            raise ValueError("the url must start with http:// or https://")
        try:
            httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from None
        return url


def path(value: Any, dotted: str) -> Any:
    """The value at a dotted path (``data.items``, ``rows.0.id``); None where it is not."""
    if not dotted:
        return value
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects' fields by dotted path; arrays kept as their JSON-ish text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _backoff(config: RestConfig, attempt: int) -> float:
    cap = min(config.max_backoff_s, config.backoff_s * 2**attempt)
    return random.uniform(0, cap)  # full jitter: retries of many clients spread out


def _get(client: httpx.Client, config: RestConfig, url: httpx.URL) -> httpx.Response:
    """One page, with the retries; the answer is a 2xx."""
    where = f"{url.copy_with(query=None)}"
    for attempt in range(config.max_retries + 1):
        last = attempt == config.max_retries
        try:
            response = client.get(url)
        except httpx.TransportError as exc:
            if last:
                raise PullFailed(
                    f"GET {where}: {type(exc).__name__} after {attempt + 1} attempt(s)"
                ) from None
            sleep(_backoff(config, attempt))
            continue
        status = response.status_code
        if status < 400:
            return response
        if status != 429 and status < 500:
            raise PullFailed(f"GET {where}: HTTP {status} {response.reason_phrase}")
        if last:
            raise PullFailed(
                f"GET {where}: HTTP {status} {response.reason_phrase} after {attempt + 1} "
                "attempt(s)"
            )
        wait = _retry_after(response) if status == 429 else None
        if wait is not None and wait > config.max_retry_after_s:
            raise PullFailed(
                f"GET {where}: HTTP 429 asks to wait {wait:g} s, more than max_retry_after_s "
                f"({config.max_retry_after_s:g})"
            )
        sleep(wait if wait is not None else _backoff(config, attempt))
    raise AssertionError("unreachable")


def _with_params(url: httpx.URL, params: Mapping[str, Scalar]) -> httpx.URL:
    """The URL with each parameter it does not carry already."""
    missing = {k: v for k, v in params.items() if k not in url.params}
    return url.copy_merge_params(missing) if missing else url


def _json(response: httpx.Response, where: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise PullFailed(f"GET {where}: the answer is not JSON") from None


def pull(config: RestConfig, secrets: Mapping[str, str], watermark: Watermark) -> Pull:
    params: dict[str, Scalar] = dict(config.params)
    since = watermark if watermark is not None else config.initial_watermark
    if config.incremental is not None and since is not None:
        params[config.incremental.param] = since
    headers = dict(config.headers)
    if config.auth is not None:
        if config.auth.secret not in secrets:
            raise PullFailed(f"the connector has no secret {config.auth.secret!r} (auth.secret)")
        headers[config.auth.header] = config.auth.prefix + secrets[config.auth.secret]
    state: dict[str, Watermark] = {"watermark": watermark}

    def pages() -> Iterator[pa.RecordBatch]:
        p = config.pagination
        page_params = dict(params)
        if p.size_param and p.size:
            page_params[p.size_param] = p.size
        number = p.start if p.kind == "page" else 0
        if p.kind in ("page", "offset"):
            if not p.param:
                raise PullFailed(f"pagination {p.kind} needs `param`")
            page_params[p.param] = number
        url: httpx.URL | None = httpx.URL(config.url).copy_merge_params(page_params)
        rows = 0
        with httpx.Client(
            headers=headers, timeout=config.timeout_s, follow_redirects=True
        ) as client:
            for _ in range(p.max_pages):
                if url is None:
                    return
                where = str(url.copy_with(query=None))
                response = _get(client, config, url)
                body = _json(response, where)
                records = path(body, config.records)
                if not isinstance(records, list):
                    raise PullFailed(
                        f"GET {where}: no array of records at {config.records or '(the body)'!r}"
                    )
                if any(not isinstance(r, dict) for r in records):
                    raise PullFailed(f"GET {where}: a record is not a JSON object")
                rows += len(records)
                if rows > config.max_rows:
                    raise PullFailed(
                        f"the source has more than max_rows ({config.max_rows:,}) rows; "
                        "nothing was loaded"
                    )
                if records:
                    yield _batch(config, records, state)
                url = _next(config, url, response, body, len(records), params)
            raise PullFailed(f"more than max_pages ({p.max_pages:,}) pages; nothing was loaded")

    return Pull(pages(), lambda: state["watermark"])


def _batch(
    config: RestConfig, records: list[dict[str, Any]], state: dict[str, Watermark]
) -> pa.RecordBatch:
    if config.fields:
        rows = [{c: path(r, p) for c, p in config.fields.items()} for r in records]
        columns = list(config.fields)
    else:
        rows = [flatten(r) for r in records]
        columns = list(dict.fromkeys(c for r in rows for c in r))
    if config.incremental is not None:
        marks = [path(r, config.incremental.field) for r in records]
        try:
            column = pa.array(marks)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            column = pa.array([None if m is None else str(m) for m in marks], pa.string())
        state["watermark"] = highest(state["watermark"], column)
    return record_batch(rows, columns)


def _next(
    config: RestConfig,
    url: httpx.URL,
    response: httpx.Response,
    body: Any,
    count: int,
    params: Mapping[str, Scalar],
) -> httpx.URL | None:
    p = config.pagination
    if p.kind == "none":
        return None
    if p.kind in ("next_link", "link_header"):
        link = path(body, p.next or "next") if p.kind == "next_link" else None
        if p.kind == "link_header":
            link = response.links.get("next", {}).get("url")
        if not link or not isinstance(link, str):
            return None
        return _with_params(url.join(link), params)
    if p.kind == "cursor":
        cursor = path(body, p.next or "next_cursor")
        if cursor in (None, "") or not p.param:
            return None
        return url.copy_set_param(p.param, cursor)
    # page, offset: on until a page is empty, or shorter than the size asked for
    if count == 0 or (p.size is not None and count < p.size):
        return None
    assert p.param is not None
    current = int(url.params.get(p.param, p.start if p.kind == "page" else 0))
    return url.copy_set_param(p.param, current + (1 if p.kind == "page" else count))


REST = ConnectorType(
    name="rest",
    config=RestConfig,
    pull=pull,
    description="JSON records from an HTTP API: pages, an auth header, incremental pulls",
)
