"""A tiny threaded HTTP server on 127.0.0.1 with a scriptable queue of canned answers."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    """One scripted answer. ``delay`` > client timeout simulates a timeout; ``drop`` closes."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class FakeServer:
    """Subclasses implement ``default(request) -> Reply``; ``script`` overrides the next answers."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Reply | Callable[[Received], Reply]] = deque()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body in one write: unbuffered, they go out as two segments and
            # Nagle plus the client's delayed ACK stall every answer by ~40 ms.
            wbufsize = 1 << 16

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Received(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query, keep_blank_values=True)),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                with fake._lock:
                    fake.received.append(req)
                    queue = fake.script_for(req)
                    scripted = queue.popleft() if queue else None
                reply = scripted(req) if callable(scripted) else scripted
                if reply is None:
                    reply = fake.default(req)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.close()
                    return
                body = reply.body
                if isinstance(body, (dict, list)):
                    raw = json.dumps(body).encode()
                    ctype = "application/json"
                elif isinstance(body, bytes):
                    raw, ctype = body, "application/octet-stream"
                else:
                    raw, ctype = str(body or "").encode(), "text/plain; charset=utf-8"
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.headers.get("Content-Type", ctype))
                self.send_header("Content-Length", str(len(raw)))
                for k, v in reply.headers.items():
                    if k.lower() != "content-type":
                        self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = _handle
            do_POST = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a dropped connection is the point of some faults, not an error

        self.server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def default(self, req: Received) -> Reply:
        return Reply(404, {"title": "Not Found"})

    def script_for(self, req: Received) -> deque[Reply | Callable[[Received], Reply]]:
        """The queue of scripted answers ``req`` takes from (one queue unless overridden)."""
        return self.script

    def then(self, *replies: Reply | Callable[[Received], Reply]) -> None:
        """Answer the next requests with ``replies``, in order, then go back to the default."""
        with self._lock:
            self.script.extend(replies)
