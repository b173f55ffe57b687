"""A scripted stand-in for the Anthropic Messages API on 127.0.0.1 (port 0), for the real Claude Code client.

A scenario is a list of assistant turns. Each POST to `/v1/messages` is answered with the turn whose index
is the number of assistant messages already in the request (a subagent's conversation gets its own list:
`agents={"<text in its system prompt>": [turns]}`), streamed as Server-Sent Events in the Messages
API format (`message_start`, `content_block_*` with `text_delta` / `input_json_delta`, `message_delta`,
`message_stop`). A turn is a list of blocks (`text(...)`, `tool(...)`) or a function of the request body
returning one, so a turn can take a command from what the client sent (a SKILL.md body, a tool result).
Past the end of the scenario the server answers a plain "done." so the client always terminates.
`count_tokens` is answered too. Every request body is kept in `server.requests` for assertions.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

Block = dict[str, Any]
Turn = Union[list[Block], Callable[[dict[str, Any]], list[Block]]]
_ids = itertools.count(1)


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool(name: str, **tool_input: Any) -> Block:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": tool_input}


@dataclass
class Exchange:
    """One recorded request: the path and the JSON body the client sent."""

    path: str
    body: dict[str, Any]


@dataclass
class ModelServer:
    """`with ModelServer(turns) as model: ... model.url ... model.requests` (the /v1/messages bodies)."""

    turns: list[Turn]
    agents: dict[str, list[Turn]] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.exchanges.append(Exchange(path, body))
                if path.endswith("/count_tokens"):
                    return self._json({"input_tokens": 100})
                if not path.endswith("/v1/messages"):
                    return self._json({"type": "error", "error": {"type": "not_found_error", "message": path}}, 404)
                try:
                    blocks = server.answer(body)
                except Exception as exc:  # a scripted turn that cannot find what it expects: end the session
                    server.errors.append(f"turn {assistant_turns(body)}: {exc!r}")
                    blocks = [text(f"scripted model error: {exc!r}")]
                if body.get("stream"):
                    self._stream(body, blocks)
                else:
                    self._json(message(body, blocks))

            def do_GET(self) -> None:  # noqa: N802
                self._json({"type": "error", "error": {"type": "not_found_error", "message": self.path}}, 404)

            def _json(self, obj: Any, status: int = 200) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], blocks: list[Block]) -> None:
                data = b"".join(sse(event) for event in stream_events(body, blocks))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The bodies of the /v1/messages requests, in order (count_tokens excluded)."""
        return [e.body for e in self.exchanges if e.path.endswith("/v1/messages")]

    def conversation(self, body: dict[str, Any]) -> str | None:
        """The `agents` key whose marker is in this request's system prompt (a subagent), else None."""
        system = "\n".join(texts(body.get("system", "")))
        return next((marker for marker in self.agents if marker in system), None)

    def answer(self, body: dict[str, Any]) -> list[Block]:
        marker = self.conversation(body)
        turns = self.turns if marker is None else self.agents[marker]
        n = assistant_turns(body)
        if n >= len(turns):
            return [text("done.")]
        turn = turns[n]
        return turn(body) if callable(turn) else turn

    def __enter__(self) -> "ModelServer":
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# -- the Messages API format --------------------------------------------------------------------


def assistant_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def message(body: dict[str, Any], blocks: list[Block]) -> dict[str, Any]:
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return {"id": f"msg_{next(_ids):06d}", "type": "message", "role": "assistant", "model": body.get("model", "scripted"),
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 100, "output_tokens": 10}}


def stream_events(body: dict[str, Any], blocks: list[Block]) -> list[dict[str, Any]]:
    msg = message(body, blocks)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {**msg, "content": [], "stop_reason": None,
                                                                          "usage": {"input_tokens": 100, "output_tokens": 1}}}]
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            events += [{"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
                       {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": block["text"]}}]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            events += [{"type": "content_block_start", "index": i, "content_block": start},
                       {"type": "content_block_delta", "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}]
        events.append({"type": "content_block_stop", "index": i})
    events += [{"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 10}},
               {"type": "message_stop"}]
    return events


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


# -- reading what the client sent ---------------------------------------------------------------


def texts(value: Any) -> list[str]:
    """Every string inside a request part (system, a message, a tool_result), depth first."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    if isinstance(value, dict):
        if value.get("type") == "tool_use":
            return [json.dumps(value.get("input"))]
        return [t for k, v in value.items() if k in ("text", "content", "system") for t in texts(v)]
    return []


def all_text(body: dict[str, Any]) -> str:
    return "\n".join(texts(body.get("system", "")) + texts(body.get("messages", [])))


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the latest user message: the tool results and skill bodies the client just sent."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return "\n".join(texts(users[-1]["content"])) if users else ""


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block in the request, in order."""
    return [b for m in body.get("messages", []) if isinstance(m.get("content"), list)
            for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    return "\n".join(texts(block.get("content", "")))


def fenced_command(source: str, starts_with: str) -> str:
    """The first command in a ```bash block of `source` (a SKILL.md body) that starts with `starts_with`."""
    for block in re.findall(r"```(?:bash|sh)\s*\n(.*?)```", source, flags=re.DOTALL):
        for line in block.splitlines():
            if line.strip().startswith(starts_with):
                return line.strip()
    raise LookupError(f"no ```bash command starting with {starts_with!r} in the text the client sent")
