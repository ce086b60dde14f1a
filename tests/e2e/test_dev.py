"""`make dev` itself: Ctrl-C stops everything it started, and a busy port is a clear error."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local.template import ROOT
from tests.e2e.conftest import start_dev

pytestmark = pytest.mark.xdist_group("e2e")


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
