"""HTTP plumbing: a threading HTTP/1.1 server on loopback that hands each request to an ``App``.

The app answers with a ``RawResponse`` or with ``RESET``, which drops the connection with an RST after the
request has been read. Nothing here knows about PortOne.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

logger = logging.getLogger("local.portone_emulator")

POLL_INTERVAL = 0.02  # how long stop() may wait for the accept loop


@dataclass(frozen=True)
class RawRequest:
    method: str
    path: str  # still URL-encoded, without the query
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"


class Reset:
    """The answer "drop the connection"; use the ``RESET`` instance."""

    def __repr__(self) -> str:
        return "RESET"


RESET: Final = Reset()

App = Callable[[RawRequest], RawResponse | Reset]


class _Handler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
    disable_nagle_algorithm = True  # headers and body go out in two writes; no delayed-ACK stalls
    reset_requested = False

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        headers = {name.lower(): value for name, value in self.headers.items()}
        result = self.server.app(RawRequest(self.command, path, query, headers, body))
        if isinstance(result, RawResponse):
            self._send(result)
        else:
            self.reset_requested = True
            self.close_connection = True

    def _send(self, response: RawResponse) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:  # the client gave up (e.g. its timeout fired during a latency fault)
            self.close_connection = True

    def finish(self) -> None:
        if not self.reset_requested:
            super().finish()
            return
        # SO_LINGER with a zero timeout turns close() into an RST: the client sees "connection reset".
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        super().finish()
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the app logs one line per request, without bodies."""


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0  # connections accepted since start: clients that keep theirs open make few

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take a DNS round trip; not needed here.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that hung up, or a connection closed by stop()
        logger.exception("unhandled error while serving %s", client_address)

    def close_connections(self) -> None:
        """End kept-alive connections, so no handler thread answers after stop()."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


def serve(app: App, host: str, port: int) -> tuple[EmulatorHTTPServer, threading.Thread]:
    server = EmulatorHTTPServer((host, port), app)
    thread = threading.Thread(
        target=server.serve_forever, args=(POLL_INTERVAL,), name="portone-emulator", daemon=True
    )
    thread.start()
    return server, thread


def stop_server(server: EmulatorHTTPServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.close_connections()
    server.server_close()
    thread.join()
