"""The `apis` kind: JSON HTTP APIs fetched page by page, staged as NDJSON, loaded with `read_json`.

Settings (under `sources.apis.<name>`)::

    base_url: https://api.example.com
    auth: {type: bearer, token_env: EXAMPLE_TOKEN}   # none | bearer | api_key | basic; secrets by env var name
    headers: {}; params: {}                          # sent with every request
    connect_timeout_seconds: 10; read_timeout_seconds: 30
    retry: {max_attempts: 5, backoff_factor: 0.5}    # 429 and 5xx retried; Retry-After honoured
    max_pages: 1000                                  # safety limit per endpoint: more pages fail the load
    stale_after_minutes: 60                          # `adp run` refetches after this long
    endpoints:
      - name: posts
        path: /posts
        data_selector: data.items                    # dot path to the records (default: the body)
        pagination: {type: offset, limit: 100}       # none | offset | page_number | cursor | link_header
        incremental: {cursor_field: updated_at, initial_value: "2024-01-01", param: since}
        write: merge                                 # plus schema, primary_key, on_schema_change, database
        primary_key: [id]
        nested: struct                               # struct: nested objects stay STRUCT columns;
                                                     # flatten: {"a": {"b": 1}} becomes column a__b
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from adp.errors import ConfigError
from adp.ingest.source import Source, Target, check_identifier, check_target, require_env
from adp.ingest.job import Batch, Context, Job, JobState, Kind
from adp.ingest.sql import call, literal


@dataclass(frozen=True)
class Auth:
    type: Literal["none", "bearer", "api_key", "basic"] = "none"
    token_env: str | None = None  # bearer: env var holding the token
    key_env: str | None = None  # api_key: env var holding the key
    name: str = "X-API-Key"  # api_key: header or query parameter name
    location: Literal["header", "query"] = "header"  # api_key: where the key goes
    username_env: str | None = None  # basic
    password_env: str | None = None  # basic


@dataclass(frozen=True)
class Pagination:
    type: Literal["none", "offset", "page_number", "cursor", "link_header"] = "none"
    limit: int = 100  # page size sent with offset/page_number (0: send none); a shorter page is the last
    limit_param: str = "limit"
    offset_param: str = "offset"
    page_param: str = "page"
    start_page: int = 1
    cursor_param: str = "cursor"  # cursor: query parameter carrying the next cursor
    cursor_path: str = "next_cursor"  # cursor: dot path to the next cursor in the body (absent/null: last page)


@dataclass(frozen=True)
class Incremental:
    cursor_field: str | None = None  # a record field; the largest value loaded is kept in `_state`
    initial_value: Any = None  # sent on the first run
    param: str | None = None  # query parameter carrying the last value (default: cursor_field)


@dataclass(frozen=True)
class HttpRetry:
    max_attempts: int = 5  # tries per request, the first included
    backoff_factor: float = 0.5  # waits factor * 2**(n-1) seconds between tries
    backoff_max: float = 60.0
    statuses: tuple[int, ...] = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Endpoint(Target):
    name: str = ""
    path: str = ""
    table: str | None = None  # default: the endpoint name
    params: dict[str, Any] = field(default_factory=dict)
    data_selector: str | None = None  # dot path to the list of records in each response
    pagination: Pagination = field(default_factory=Pagination)
    incremental: Incremental = field(default_factory=Incremental)
    nested: Literal["struct", "flatten"] = "struct"


@dataclass(frozen=True)
class ApiSource:
    enabled: bool = True
    base_url: str = ""
    auth: Auth = field(default_factory=Auth)
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 30.0
    retry: HttpRetry = field(default_factory=HttpRetry)
    max_pages: int = 1000
    stale_after_minutes: float = 60.0
    endpoints: list[Endpoint] = field(default_factory=list)


def validate(source: Source, file: Path) -> None:
    s: ApiSource = source.settings
    if not s.base_url.startswith(("http://", "https://")):
        raise ConfigError(str(file), f"{source.key}.base_url", "must be an http(s) URL")
    if not s.endpoints:
        raise ConfigError(str(file), f"{source.key}.endpoints", "lists no endpoint")
    if s.max_pages < 1 or s.retry.max_attempts < 1:
        raise ConfigError(str(file), f"{source.key}.max_pages" if s.max_pages < 1 else f"{source.key}.retry.max_attempts", "must be >= 1")
    for i, ep in enumerate(s.endpoints):
        key = f"{source.key}.endpoints[{i}]"
        if not ep.name:
            raise ConfigError(str(file), f"{key}.name", "is required")
        check_identifier(ep.table or ep.name, file, f"{key}.table" if ep.table else f"{key}.name")
        check_target(ep, file, key)
        if ep.incremental.cursor_field and ep.write == "replace":
            raise ConfigError(str(file), f"{key}.write", "must be `append` or `merge` with an incremental cursor")
    if s.enabled:
        auth, key = s.auth, f"{source.key}.auth"
        needs = {"bearer": ("token_env",), "api_key": ("key_env",), "basic": ("username_env", "password_env")}
        for attr in needs.get(auth.type, ()):
            require_env(getattr(auth, attr), file, f"{key}.{attr}")


def targets(source: Source) -> list[tuple[str, Target, str]]:
    """Every endpoint's table (known from the settings alone)."""
    return [(f"{source.key}.endpoints[{i}]", ep, ep.table or ep.name) for i, ep in enumerate(source.settings.endpoints)]


def plan(source: Source, ctx: Context) -> list[Job]:
    s: ApiSource = source.settings
    jobs = []
    for ep in s.endpoints:
        db = ep.database or ctx.config.database
        jobs.append(Job(
            source, ep.table or ep.name, ep, ctx.config.resolve(db) if db else None,
            _extractor(s, ep), token=None, stale_after_seconds=s.stale_after_minutes * 60,
            cursor_field=ep.incremental.cursor_field, origin=s.base_url.rstrip("/") + "/" + ep.path.lstrip("/"),
        ))
    return jobs


class RecordingRetry(Retry):
    """urllib3 Retry whose waits (Retry-After or exponential backoff) go through `sleeper` and are recorded."""

    def __init__(self, *args: Any, sleeper: Callable[[float], None] = time.sleep, waits: list[float] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.sleeper, self.waits = sleeper, ([] if waits is None else waits)

    def new(self, **kw: Any) -> "RecordingRetry":
        retry = super().new(**kw)
        retry.sleeper, retry.waits = self.sleeper, self.waits
        return retry

    def sleep(self, response: Any = None) -> None:
        wait = self.get_retry_after(response) if (response is not None and self.respect_retry_after_header) else None
        if wait is None:
            wait = self.get_backoff_time()
        self.waits.append(wait)
        if wait > 0:
            self.sleeper(wait)


def session_for(s: ApiSource, sleeper: Callable[[float], None]) -> tuple[requests.Session, list[float]]:
    """A requests.Session with retries (429/5xx/timeouts, bounded, backoff) and the source's auth."""
    waits: list[float] = []
    retry = RecordingRetry(
        total=s.retry.max_attempts - 1, connect=s.retry.max_attempts - 1, read=s.retry.max_attempts - 1,
        status=s.retry.max_attempts - 1, status_forcelist=s.retry.statuses, backoff_factor=s.retry.backoff_factor,
        backoff_max=s.retry.backoff_max, raise_on_status=False, respect_retry_after_header=True,
        sleeper=sleeper, waits=waits,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"Accept": "application/json", **s.headers})
    auth = s.auth
    if auth.type == "bearer":
        session.headers["Authorization"] = f"Bearer {os.environ[auth.token_env or '']}"
    elif auth.type == "api_key" and auth.location == "header":
        session.headers[auth.name] = os.environ[auth.key_env or ""]
    elif auth.type == "api_key":
        session.params = {auth.name: os.environ[auth.key_env or ""]}
    elif auth.type == "basic":
        session.auth = (os.environ[auth.username_env or ""], os.environ[auth.password_env or ""])
    return session, waits


def pages(session: requests.Session, url: str, params: dict[str, Any], s: ApiSource, ep: Endpoint) -> Iterator[tuple[list[Any], str]]:
    """(records, url) for every page of one endpoint, following its pagination style."""
    p = ep.pagination
    params = dict(params)
    if p.type == "offset":
        params[p.offset_param] = 0
    if p.type == "page_number":
        params[p.page_param] = p.start_page
    if p.type in ("offset", "page_number") and p.limit:
        params[p.limit_param] = p.limit
    next_url: str | None = url
    count = 0
    while next_url:
        count += 1
        if count > s.max_pages:
            raise RuntimeError(f"{url}: more than max_pages={s.max_pages} pages; raise `max_pages` if this is expected")
        resp = _get(session, next_url, params, s)
        body = _json(resp)
        records = select(body, ep.data_selector, resp.url)
        yield records, resp.url
        if p.type == "offset":
            next_url = next_url if records and (not p.limit or len(records) >= p.limit) else None
            params[p.offset_param] += len(records)
        elif p.type == "page_number":
            next_url = next_url if records and (not p.limit or len(records) >= p.limit) else None
            params[p.page_param] += 1
        elif p.type == "cursor":
            cursor = dig(body, p.cursor_path)
            next_url = next_url if cursor not in (None, "") else None
            params[p.cursor_param] = cursor
        elif p.type == "link_header":
            next_url, params = resp.links.get("next", {}).get("url"), {}
        else:
            next_url = None


def _get(session: requests.Session, url: str, params: dict[str, Any], s: ApiSource) -> requests.Response:
    try:
        resp = session.get(url, params=params or None, timeout=(s.connect_timeout_seconds, s.read_timeout_seconds))
    except requests.RequestException as exc:
        raise RuntimeError(f"GET {url} failed after {s.retry.max_attempts} attempt(s): {exc}") from exc
    if resp.status_code >= 400:
        raise RuntimeError(f"GET {resp.url}: HTTP {resp.status_code} {resp.reason}: {resp.text[:200]}")
    return resp


def _json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise RuntimeError(f"GET {resp.url}: response is not valid JSON ({exc}; {len(resp.content)} bytes received)") from exc


def dig(body: Any, path: str | None) -> Any:
    """The value at a dot path (`data.items`), None when any step is missing."""
    for part in (path or "").split(".") if path else ():
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def select(body: Any, selector: str | None, url: str) -> list[Any]:
    records = dig(body, selector) if selector else body
    if records is None:
        return []
    if isinstance(records, dict):
        if selector is None:
            return [records]
        raise RuntimeError(f"GET {url}: `{selector}` is an object, not a list of records")
    if not isinstance(records, list):
        raise RuntimeError(f"GET {url}: `{selector or '<body>'}` is a {type(records).__name__}, not a list of records")
    return records


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": 2} -> {"a__b": 1, "c": 2}; lists stay as they are."""
    if not isinstance(record, dict):
        return {prefix or "value": record}
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}__{key}" if prefix else str(key)
        out.update(flatten(value, name) if isinstance(value, dict) else {name: value})
    return out


def _extractor(s: ApiSource, ep: Endpoint):
    def extract(ctx: Context, state: JobState) -> Batch:
        session, waits = session_for(s, ctx.sleep)
        url = s.base_url.rstrip("/") + "/" + ep.path.lstrip("/")
        params = {**s.params, **ep.params}
        inc = ep.incremental
        since = state.cursor if state.cursor is not None else inc.initial_value
        if inc.cursor_field and since is not None:
            params[inc.param or inc.cursor_field] = since
        out = ctx.workdir / f"{ep.table or ep.name}-{os.getpid()}-{time.monotonic_ns()}.ndjson"
        rows = size = n_pages = 0
        started = time.monotonic()
        with session, out.open("w", encoding="utf-8") as fh:
            for records, page_url in pages(session, url, params, s, ep):
                n_pages += 1
                for rec in records:
                    line = json.dumps(flatten(rec) if ep.nested == "flatten" else (rec if isinstance(rec, dict) else {"value": rec}))
                    fh.write(line + "\n")
                    size += len(line) + 1
                rows += len(records)
                elapsed = time.monotonic() - started
                ctx.progress({"event": "page", "table": f"{ep.schema}.{ep.table or ep.name}", "page": n_pages,
                              "rows": rows, "mb_per_s": round(size / 1e6 / elapsed, 2) if elapsed else None})
        stats = {"pages": n_pages, "records": rows, "retries": len(waits), "waits": waits, "url": url,
                 "since": since if inc.cursor_field else None}
        if rows == 0:
            note = "no new records" if inc.cursor_field and since is not None else "the API returned no records"
            return Batch(None, bytes=size, warnings=[f"{url}: {note}"], stats=stats)
        sql = (f"SELECT *, {literal(url)} AS _source_file FROM "
               + call("read_json", str(out), {"format": "newline_delimited", "sample_size": -1}))
        return Batch(sql, files=n_pages, bytes=size, stats=stats)

    return extract


KIND = Kind("apis", ApiSource, plan, validate, targets)
