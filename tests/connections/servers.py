"""Local listeners that count every hit: HTTP stubs for probes and SSRF targets."""

import json
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = tuple[int, dict[str, str], bytes]


@dataclass
class Hit:
    method: str
    path: str
    headers: Any  # the request's HTTPMessage: case-insensitive lookups
    body: bytes


@dataclass
class Listener:
    """An HTTP server on a thread; `routes` maps a path to (status, headers, body)."""

    host: str = "127.0.0.1"
    port: int = 0
    routes: dict[str, Route | Callable[[Hit], Route]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def __post_init__(self) -> None:
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hit = Hit(self.command, self.path, self.headers,
                          self.rfile.read(length) if length else b"")
                listener.hits.append(hit)
                route = listener.routes.get(self.path.split("?", 1)[0], (200, {}, b"ok"))
                status, headers, body = route(hit) if callable(route) else route
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = do_OPTIONS = do_PUT = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        family_server = type("Server", (ThreadingHTTPServer,), {"daemon_threads": True})
        if ":" in self.host:
            import socket

            family_server.address_family = socket.AF_INET6
        self.server = family_server((self.host, self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> "Listener":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def json_route(payload: Any, status: int = 200) -> Route:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


class LineServer:
    """A TCP server speaking a line protocol through `reply(line) -> bytes | None` (SMTP stubs)."""

    def __init__(self, greeting: bytes, reply: Callable[[bytes], bytes | None]) -> None:
        outer = self
        self.lines: list[bytes] = []

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(greeting)
                for line in self.rfile:
                    outer.lines.append(line.rstrip())
                    answer = reply(line.rstrip())
                    if answer is None:
                        return
                    self.wfile.write(answer)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> "LineServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
