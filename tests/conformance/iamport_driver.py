"""Drives PortOne's official V1 Python client, unchanged, from its own virtualenv (``.venv-iamport``).

Run as ``<.venv-iamport>/bin/python iamport_driver.py IMP_KEY IMP_SECRET IMP_URL``; imports nothing of this
project. It makes one ``iamport.Iamport`` and writes a first line with the versions it runs. Then each line
read from stdin, ``{"method": ..., "args": [...], "kwargs": {...}}``, calls that method of the client and
writes one line back: ``{"returned": <what the method returned>}``, or what it raised:
``{"raised": "Iamport.ResponseError", "code", "message"}`` (the envelope's ``code`` != 0),
``{"raised": "Iamport.HttpError", "code", "reason"}`` (any status but 200), or another exception's class
name and ``args`` (the client's own ``KeyError`` for a missing parameter).
"""

import json
import sys
from importlib.metadata import version
from typing import Any

import iamport
import requests
from iamport import Iamport


def _answer(client: Any, call: dict[str, Any]) -> dict[str, Any]:
    try:
        returned = getattr(client, call["method"])(*call["args"], **call["kwargs"])
    except Iamport.ResponseError as error:
        return {"raised": "Iamport.ResponseError", "code": error.code, "message": error.message}
    except Iamport.HttpError as error:
        return {"raised": "Iamport.HttpError", "code": error.code, "reason": error.reason}
    except Exception as error:  # the client's own checks (KeyError), reported rather than ending the driver
        return {"raised": type(error).__name__, "args": [str(arg) for arg in error.args]}
    return {"returned": returned}


def main() -> None:
    imp_key, imp_secret, imp_url = sys.argv[1:4]
    client = Iamport(imp_key, imp_secret, imp_url=imp_url)
    versions = {
        "iamport-rest-client": version("iamport-rest-client"),
        "requests": requests.__version__,
        "module": iamport.__file__,
    }
    sys.stdout.write(json.dumps(versions) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        sys.stdout.write(json.dumps(_answer(client, json.loads(line)), ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
