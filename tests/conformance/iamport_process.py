"""``IamportProcess``: PortOne's official Python client (``iamport-rest-client``) in its own interpreter.

The client pins ``requests==2.26.0`` and this project ``requests==2.34.2``, so the client lives in its own
virtualenv (``.venv-iamport``, built by ``make venv``/``make test`` from ``requirements-iamport.txt``;
``IAMPORT_PYTHON`` names its interpreter). ``iamport_driver.py`` runs there and calls the client's methods,
unchanged, one JSON line at a time; the emulator stays in the test's process, so its calls and contract
violations can be asserted.

``process.customer_get("cu_1")`` returns what ``Iamport.customer_get`` returned, or raises ``LibraryRaised``
carrying what the client raised: its ``kind`` (``"Iamport.ResponseError"``, ``"Iamport.HttpError"``,
``"KeyError"``...), ``code`` and ``detail`` (the envelope's ``message``, or the HTTP reason phrase).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import pytest

from local.template import ROOT

DRIVER = Path(__file__).with_name("iamport_driver.py")
REPLY_SECONDS = 30.0  # the client sets no timeouts of its own


def iamport_python() -> Path:
    """The interpreter of ``.venv-iamport``; ``make test`` names it in ``IAMPORT_PYTHON``."""
    python = Path(os.environ.get("IAMPORT_PYTHON", str(ROOT / ".venv-iamport" / "bin" / "python")))
    if not python.exists():
        pytest.fail(
            f"{python} is missing: run `make venv` (builds .venv-iamport from requirements-iamport.txt)"
        )
    return python


class LibraryRaised(Exception):
    """What the client raised in its own process."""

    def __init__(self, kind: str, code: Any = None, detail: Any = None) -> None:
        super().__init__(kind, code, detail)
        self.kind = kind
        self.code = code
        self.detail = detail


class IamportProcess:
    """``iamport.Iamport(imp_key, imp_secret, imp_url=base_url + "/")`` in ``.venv-iamport``."""

    def __init__(self, imp_key: str, imp_secret: str, base_url: str) -> None:
        # The client joins paths as f"{imp_url}users/getToken": its imp_url must end with a slash.
        self.imp_url = base_url.rstrip("/") + "/"
        self._process = subprocess.Popen(
            [str(iamport_python()), str(DRIVER), imp_key, imp_secret, self.imp_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=ROOT,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True)
        self._reader.start()
        self.versions: dict[str, str] = json.loads(self._next_line())

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put("")  # end of output: the driver has exited

    def _next_line(self) -> str:
        try:
            line = self._lines.get(timeout=REPLY_SECONDS)
        except queue.Empty:
            pytest.fail(f"the iamport driver gave no answer in {REPLY_SECONDS} s")
        if not line:
            self._process.wait(timeout=REPLY_SECONDS)
            stderr = self._process.stderr.read() if self._process.stderr else ""
            pytest.fail(f"the iamport driver exited ({self._process.returncode}): {stderr}")
        return line

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"method": method, "args": args, "kwargs": kwargs}) + "\n")
        self._process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._next_line())
        if "raised" in answer:
            kind = answer["raised"]
            if kind == "Iamport.ResponseError":
                raise LibraryRaised(kind, answer["code"], answer["message"])
            if kind == "Iamport.HttpError":
                raise LibraryRaised(kind, answer["code"], answer["reason"])
            raise LibraryRaised(kind, None, answer["args"])
        return answer["returned"]

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("__"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self.call(method, *args, **kwargs)

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=REPLY_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=REPLY_SECONDS)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
