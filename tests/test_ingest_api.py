"""API ingestion against a real local HTTP server: pagination, auth, retries, timeouts, bad JSON, incremental."""
from __future__ import annotations

import base64

import pytest

from adp.ingest import run_ingest
from http_server import ApiServer, Reply
from ingest_helpers import make_repo, query, write_sources

ITEMS = [{"id": i, "name": f"item{i}", "meta": {"colour": "red" if i % 2 else "blue"}} for i in range(1, 8)]


def api_yaml(url: str, endpoint: str, **source: str) -> str:
    extra = "".join(f"\n      {k}: {v}" for k, v in source.items())
    return f"""
sources:
  apis:
    shop:
      base_url: "{url}"
      retry: {{max_attempts: 3, backoff_factor: 0.1}}{extra}
      endpoints:
        - {endpoint}
"""


@pytest.fixture
def api():
    with ApiServer() as server:
        yield server


class Sleeps(list):
    """Stands in for time.sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def ingest(ws, sleeps=None):
    (summary,) = run_ingest(ws, sleep=sleeps if sleeps is not None else Sleeps())
    return summary


def offset_route(req):
    off, lim = int(req.query.get("offset", 0)), int(req.query.get("limit", 100))
    return Reply(body={"data": ITEMS[off:off + lim]})


def page_route(req):
    page, size = int(req.query.get("page", 1)), int(req.query.get("per_page", 3))
    return Reply(body=ITEMS[(page - 1) * size: page * size])


def cursor_route(req):
    start = int(req.query.get("after", 0))
    chunk = ITEMS[start:start + 3]
    nxt = start + 3 if start + 3 < len(ITEMS) else None
    return Reply(body={"results": chunk, "paging": {"next": nxt}})


def link_route_for(api):
    def route(req):
        page = int(req.query.get("p", 1))
        headers = {"Link": f'<{api.url}/linked?p={page + 1}>; rel="next"'} if page < 3 else {}
        return Reply(body=ITEMS[(page - 1) * 3: page * 3], headers=headers)
    return route


@pytest.mark.parametrize("path, endpoint, route, pages", [
    ("/offset", "{name: items, path: /offset, data_selector: data, pagination: {type: offset, limit: 3}}", offset_route, 3),
    ("/pages", "{name: items, path: /pages, pagination: {type: page_number, limit: 3, limit_param: per_page}}", page_route, 3),
    ("/cursor", "{name: items, path: /cursor, data_selector: results, pagination: {type: cursor, cursor_path: paging.next, cursor_param: after}}", cursor_route, 3),
    ("/linked", "{name: items, path: /linked, pagination: {type: link_header}}", None, 3),
    ("/all", "{name: items, path: /all}", lambda req: Reply(body=ITEMS), 1),
])
def test_every_pagination_style_loads_all_records(tmp_path, api, path, endpoint, route, pages):
    api.routes[path] = route or link_route_for(api)
    ws = make_repo(tmp_path, api_yaml(api.url, endpoint))

    s = ingest(ws)

    assert (s.status, s.rows, s.stats["pages"]) == ("loaded", 7, pages)
    assert query(ws, "SELECT count(DISTINCT id), min(id), max(id) FROM raw.items") == [(7, 1, 7)]
    assert query(ws, "SELECT meta.colour FROM raw.items WHERE id = 2") == [("blue",)]
    assert query(ws, "SELECT DISTINCT _source_file FROM raw.items") == [(api.url + path,)]


def test_nested_objects_can_be_flattened(tmp_path, api):
    api.routes["/all"] = lambda req: Reply(body=ITEMS)
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /all, nested: flatten}"))
    ingest(ws)
    assert query(ws, "SELECT meta__colour FROM raw.items WHERE id = 1") == [("red",)]


def _auth_route(expected):
    def route(req):
        ok = req.headers.get(expected[0]) == expected[1] if expected[0] != "query" else req.query.get("api_key") == expected[1]
        return Reply(body=ITEMS[:2]) if ok else Reply(401, {"error": "unauthorized"})
    return route


@pytest.mark.parametrize("auth, env, expected", [
    ("{type: bearer, token_env: ADP_T_TOKEN}", {"ADP_T_TOKEN": "s3cret"}, ("Authorization", "Bearer s3cret")),
    ("{type: api_key, key_env: ADP_T_KEY, name: X-Key}", {"ADP_T_KEY": "k1"}, ("X-Key", "k1")),
    ("{type: api_key, key_env: ADP_T_KEY, name: api_key, location: query}", {"ADP_T_KEY": "k2"}, ("query", "k2")),
    ("{type: basic, username_env: ADP_T_USER, password_env: ADP_T_PASS}", {"ADP_T_USER": "u", "ADP_T_PASS": "p"},
     ("Authorization", "Basic " + base64.b64encode(b"u:p").decode())),
])
def test_auth_secrets_come_from_env_vars(tmp_path, api, monkeypatch, auth, env, expected):
    api.routes["/secure"] = _auth_route(expected)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /secure}", auth=auth))
    assert ingest(ws).rows == 2
    assert "s3cret" not in (tmp_path / "config" / "sources.yml").read_text()


def test_wrong_credentials_fail_and_keep_the_previous_table(tmp_path, api, monkeypatch):
    api.routes["/secure"] = _auth_route(("Authorization", "Bearer right"))
    monkeypatch.setenv("ADP_T_TOKEN", "right")
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /secure}", auth="{type: bearer, token_env: ADP_T_TOKEN}"))
    assert ingest(ws).rows == 2
    monkeypatch.setenv("ADP_T_TOKEN", "wrong")

    s = ingest(ws)

    assert s.status == "error" and "HTTP 401" in s.error
    assert query(ws, "SELECT count(*) FROM raw.items") == [(2,)]


def test_429_honours_retry_after(tmp_path, api):
    calls = []

    def route(req):
        calls.append(1)
        return Reply(429, {"error": "slow down"}, {"Retry-After": "7"}) if len(calls) == 1 else Reply(body=ITEMS)

    api.routes["/limited"] = route
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /limited}"))
    sleeps = Sleeps()

    s = ingest(ws, sleeps)

    assert (s.status, s.rows, s.stats["retries"]) == ("loaded", 7, 1)
    assert sleeps == [7.0]
    assert len(api.hits("/limited")) == 2


def test_500_then_success_backs_off_exponentially(tmp_path, api):
    calls = []

    def route(req):
        calls.append(1)
        return Reply(500, {"error": "boom"}) if len(calls) <= 2 else Reply(body=ITEMS)

    api.routes["/flaky"] = route
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /flaky}"))
    sleeps = Sleeps()

    s = ingest(ws, sleeps)

    assert (s.status, s.rows, s.stats["retries"]) == ("loaded", 7, 2)
    assert s.stats["waits"] == [0.0, 0.2]  # urllib3: no wait before the first retry, then factor * 2**(n-1)
    assert sleeps == [0.2]


def test_persistent_500_fails_after_bounded_attempts_and_keeps_the_table(tmp_path, api):
    api.routes["/items"] = lambda req: Reply(body=ITEMS[:3])
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /items}"))
    ingest(ws)
    api.routes["/items"] = lambda req: Reply(503, {"error": "down"})
    before = len(api.requests)

    s = ingest(ws)

    assert s.status == "error" and "HTTP 503" in s.error
    assert len(api.requests) - before == 3  # max_attempts
    assert query(ws, "SELECT count(*) FROM raw.items") == [(3,)]
    assert query(ws, "SELECT status FROM raw._loads ORDER BY started_at") == [("loaded",), ("error",)]


def test_slow_response_past_the_read_timeout_fails_and_keeps_the_table(tmp_path, api):
    api.routes["/items"] = lambda req: Reply(body=ITEMS[:3])
    yml = api_yaml(api.url, "{name: items, path: /items}", read_timeout_seconds="0.2")
    ws = make_repo(tmp_path, yml)
    ingest(ws)
    api.routes["/items"] = lambda req: Reply(body=ITEMS, delay=0.6)
    write_sources(tmp_path, yml.replace("max_attempts: 3", "max_attempts: 2"))

    s = ingest(ws)

    assert s.status == "error" and "timed out" in s.error.lower()
    assert len(api.hits("/items")) == 1 + 2
    assert query(ws, "SELECT count(*) FROM raw.items") == [(3,)]


def test_truncated_json_fails_and_keeps_the_table(tmp_path, api):
    api.routes["/items"] = lambda req: Reply(body=ITEMS[:3])
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /items}"))
    ingest(ws)
    api.routes["/items"] = lambda req: Reply(body=b'[{"id": 1, "name": "ite')

    s = ingest(ws)

    assert s.status == "error" and "not valid JSON" in s.error and "/items" in s.error
    assert query(ws, "SELECT count(*) FROM raw.items") == [(3,)]


def test_page_count_is_bounded(tmp_path, api):
    api.routes["/endless"] = lambda req: Reply(body={"results": [{"id": 1}], "paging": {"next": "again"}})
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /endless, data_selector: results, "
                                      "pagination: {type: cursor, cursor_path: paging.next}}", max_pages="4"))
    s = ingest(ws)
    assert s.status == "error" and "max_pages=4" in s.error
    assert len(api.hits("/endless")) == 4


def test_incremental_fetches_only_new_records_and_merge_updates_by_key(tmp_path, api):
    rows = [{"id": 1, "v": "a", "updated": 10}, {"id": 2, "v": "b", "updated": 20}]

    def route(req):
        since = int(req.query.get("since", 0))
        return Reply(body=[r for r in rows if r["updated"] > since])

    api.routes["/changes"] = route
    ws = make_repo(tmp_path, api_yaml(api.url, "{name: items, path: /changes, write: merge, primary_key: [id], "
                                      "incremental: {cursor_field: updated, initial_value: 0, param: since}}"))
    first = ingest(ws)
    assert (first.rows, first.cursor) == (2, "20")

    rows.extend([{"id": 2, "v": "B", "updated": 30}, {"id": 3, "v": "c", "updated": 31}])
    second = ingest(ws)

    assert api.hits("/changes")[-1].query["since"] == "20"
    assert (second.rows, second.cursor) == (2, "31")
    assert query(ws, "SELECT id, v FROM raw.items ORDER BY id") == [(1, "a"), (2, "B"), (3, "c")]
    assert query(ws, "SELECT cursor_value FROM raw._state") == [("31",)]

    third = ingest(ws)
    assert third.status == "empty" and any("no new records" in w for w in third.warnings)
    assert query(ws, "SELECT count(*) FROM raw.items") == [(3,)]
