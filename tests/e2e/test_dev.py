"""`make dev` itself: Ctrl-C stops everything it started, even with connections held open, and a busy port is
a clear error."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from local.template import ROOT
from tests.e2e.conftest import DevStack, start_dev

pytestmark = pytest.mark.xdist_group("e2e")

# Issue 11: Ctrl-C and SIGTERM must stop the stack this soon, whatever clients hold open.
STOP_WITHIN_S = 2.0
# What a client may leave on a connection when it stops sending (every server gets each).
HELD_OPEN = {
    "idle": b"",  # connected, nothing sent (a browser's preconnect)
    "half-sent headers": b"GET / HTTP/1.1\r\nHost: localhost\r\n",
    "half-sent body": b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{",
    "kept alive": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",  # answered, then left open
}


def refuses(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection(("127.0.0.1", parts.port or 80), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_ctrl_c_stops_everything(dev_env_file: Path) -> None:
    stack = start_dev("ctrl-c", dev_env_file, "--jwt")
    urls = dict(stack.urls)
    assert set(urls) == {"page", "API", "emulator", "moto", "issuer"}
    assert not any(refuses(url) for url in urls.values())
    assert stack.stop(signal.SIGINT) == 0
    assert "local stack stopped" in stack.output()
    assert [name for name, url in urls.items() if not refuses(url)] == []


def test_the_banner_names_both_pages_and_both_are_served(dev_stack: DevStack) -> None:
    account = f"{dev_stack.page_url}account.html"
    assert f"  account   {account}" in dev_stack.output()
    assert requests.get(account, timeout=5).status_code == 200


def test_a_busy_port_is_named_and_nothing_starts() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "local.dev", "--web-port", str(port), "--api-port", "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert "cannot listen for the page" in done.stderr
    assert "--web-port" in done.stderr
    assert "Local stack is up" not in done.stdout


@contextlib.contextmanager
def held_open(urls: dict[str, str]) -> Iterator[None]:
    """Every kind of HELD_OPEN connection to every server, kept until the block ends."""
    with contextlib.ExitStack() as held:
        for name, url in urls.items():
            for kind, sent in HELD_OPEN.items():
                connection = held.enter_context(
                    socket.create_connection(("127.0.0.1", urlsplit(url).port or 80), timeout=10)
                )
                connection.sendall(sent)
                if kind == "kept alive":
                    assert connection.recv(12).startswith(b"HTTP/1.1 "), (name, kind)
        yield


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_held_connections_do_not_delay_stopping(dev_env_file: Path, sig: signal.Signals) -> None:
    stack = start_dev(f"held-{sig.name}", dev_env_file, "--jwt")
    assert set(stack.urls) == {"page", "API", "emulator", "moto", "issuer"}
    with held_open(stack.urls), requests.Session() as browser:
        # A notice the function checks with PortOne: it keeps its own connections to the emulator and moto.
        notice = {"imp_uid": "imp_held_open", "merchant_uid": "held_open", "status": "paid"}
        assert browser.post(f"{stack.api_url}/webhooks/portone", json=notice, timeout=30).status_code == 200
        started = time.monotonic()
        status = stack.stop(sig)
        took = time.monotonic() - started
    output = stack.output()
    assert status == 0, output[-3000:]
    assert took < STOP_WITHIN_S, f"stopping took {took:.1f} s"
    assert "local stack stopped" in output
    assert "Traceback" not in output
    assert "Fatal Python error" not in output
