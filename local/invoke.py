"""Docker-free `sam local invoke`: run the handler on an event file with the same env file and a real context.

    python -m local.invoke --event events/issue_billing.json --env-vars events/env.json
    python -m local.invoke --event events/view_subscription.json --env-vars events/env.signed_in.json \
        --before events/schedule_plan_with_card.json

Like `sam local invoke`, the function sees only the environment variables template.yaml declares, valued from
the env file (`Parameters` for every function, then the function's own section), and the logs go to stderr
while the response goes to stdout. When the env file leaves PORTONE_BASE_URL empty, the embedded default
(moto + the PortOne emulator, local/stack.py) is started and stopped around the call; set it to use a real
PortOne with the AWS account of your environment.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any
from unittest import mock

from local.lambda_context import LocalLambdaContext
from local.stack import embedded_stack
from local.template import FunctionDefinition, function_definition

FUNCTION = "BillingFunction"


def function_environment(definition: FunctionDefinition, env_file: Path) -> dict[str, str]:
    sections = json.loads(env_file.read_text())
    values = {**sections.get("Parameters", {}), **sections.get(definition.logical_id, {})}
    return {name: str(values.get(name, default)) for name, default in definition.environment.items()}


def invoke(definition: FunctionDefinition, event: dict[str, Any], environment: dict[str, str]) -> Any:
    """Import the handler with `environment` applied and call it once, as the Lambda runtime would."""
    module_name, function_name = definition.handler.rsplit(".", 1)
    context = LocalLambdaContext(
        function_name=definition.logical_id,
        memory_limit_in_mb=definition.memory_mb,
        timeout_seconds=definition.timeout,
    )
    with mock.patch.dict(os.environ, environment), contextlib.redirect_stdout(sys.stderr):
        sys.path.insert(0, str(definition.code_uri))
        handler = getattr(importlib.import_module(module_name), function_name)
        return handler(event, context)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--event", "-e", type=Path, required=True)
    parser.add_argument("--env-vars", "-n", type=Path, required=True)
    parser.add_argument("--function", default=FUNCTION, help="logical id in template.yaml")
    parser.add_argument(
        "--before",
        type=Path,
        action="append",
        default=[],
        help="an event to invoke first, in the same container and stack (repeatable): sets up what the "
        "event needs, e.g. a subscription to view",
    )
    args = parser.parse_args(argv)

    definition = function_definition(args.function)
    event = json.loads(args.event.read_text())
    environment = function_environment(definition, args.env_vars)
    with contextlib.ExitStack() as stack:
        if not environment.get("PORTONE_BASE_URL"):
            local = stack.enter_context(embedded_stack(definition, environment))
            environment.update(local.environment())
            print(
                f"embedded stack: moto {local.aws_endpoint_url}, PortOne emulator {local.emulator.url}",
                file=sys.stderr,
            )
        for before in args.before:
            answer = invoke(definition, json.loads(before.read_text()), environment)
            print(f"before: {before} -> {answer.get('statusCode', answer)}", file=sys.stderr)
        try:
            response = invoke(definition, event, environment)
        except Exception as exc:
            # The runtime's shape for a failed invocation; the traceback is in the log above.
            traceback.print_exc()
            print(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}))
            return 1
    print(json.dumps(response, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
