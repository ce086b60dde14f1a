"""`make bench`: the function's cold start, warm path, size and memory against their targets, in one run.

    python -m benchmarks.run [--requests 1000] [--cold-samples 15] [--build-dir .aws-sam/build] [--record]

Prints a table (metric, figure, target, pass/miss) with the measured figures behind every miss, and writes
it with the raw figures, the machine and the commit to test-artifacts/benchmark.json (untracked), or with
--record to benchmarks/results.json, the reference run the README shows. Every count is the servers' (moto's
request recorder, the emulator); the run fails if the function's own count of its calls differs.

Needs `make build` first (the layer's size is measured on what `sam deploy` ships) and a Python 3.13 (the
runtime's version) for the processes that play the Lambda container.

Method
- The containers are child processes (benchmarks/child.py) under Python 3.13 with PYTHONPATH set to the built
  function directory, a layer built for this machine's architecture (arm64 wheels cannot load on x86_64)
  and a directory holding boto3, like /var/task, /opt/python and the runtime's packages on Lambda. All three
  are read-only copies and PYTHONDONTWRITEBYTECODE is set: /var/task and /opt are read-only on Lambda, so
  a module without shipped bytecode is compiled again in every cold start.
- The upstreams are the embedded stack (local/stack.py) in this process: moto's server for Secrets Manager
  and DynamoDB, with the table and secrets created from template.yaml, and the PortOne V1 emulator. The
  function's environment is template.yaml's, valued from events/env.json, with card-testing limits too high
  to matter. Every request has its own Idempotency-Key and customer_uid, so each one issues a key.
- Cold start: a fresh process per sample imports the handler module and serves one request; the figure is
  import time plus the first request's time minus its wait for upstream answers. Variants, interleaved: the
  function and layer as built; the same with the layer's bytecode removed; the same with the function's
  bytecode removed (what `sam build` alone ships); a minimal Powertools HTTP-resolver handler on the same
  layer (the baseline). The median of the samples is reported.
- Warm path: one process serves a first request (the container's cold one), then the measured ones. PortOne
  calls are the emulator's own count and AWS calls moto's request recorder, both read around the measured
  requests only. The child also records each HTTP request it makes (through urllib3: which service and
  operation, how long), which splits the counts per request and gives the upstream time (see child.py);
  handler overhead is the handler's time minus that.
- The same requests go through benchmarks/guide_handler.py, written the way PortOne's guide does it.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.artifacts import find_python313, measure
from local.moto_recorder import MotoRecorder

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
# The reference run the README's Performance section shows (--record); other runs go to LATEST, untracked.
RESULTS = BENCH / "results.json"
LATEST = ROOT / "test-artifacts" / "benchmark.json"
BILLING_HANDLER = "billing.app.lambda_handler"
# Far above anything a benchmark run reaches: the limits are tested elsewhere, here they must never answer.
BENCH_LIMITS = {
    "LIMIT_ATTEMPTS_PER_CALLER": "10000000",
    "LIMIT_FAILURES_PER_ADDRESS": "10000000",
    "LIMIT_ATTEMPTS_PER_CARD": "10000000",
    "LIMIT_FAILURES_PER_CALLER": "10000000",
}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}

# Targets (the issues' numbers).
# Issue 11 traded round trips for real DynamoDB: admission was one transaction (3 round trips in all, but 12
# write units, and cancelled by any concurrent write to one of its items); it is now single-item writes
# (7 round trips, each a few milliseconds in-region, against PortOne's card authorisation of about a second).
# Issue 12 adds one write: the customer's consent, recorded before PortOne sees the card (design.md D16).
MAX_DYNAMODB_ROUND_TRIPS = 8
MAX_DYNAMODB_WRITE_UNITS = 7
MAX_OVERHEAD_P50_MS = 5.0
MAX_COLD_VS_BASELINE = 1.2
MIN_BYTECODE_SPEEDUP = 2.5
MAX_LAYER_BYTES = 30_000_000
REQUESTS = 1000  # measured warm requests
COLD_SAMPLES = 15  # cold starts per variant
# Warm requests between two pauses of the warm process (see Bench.warm).
WARM_BATCH = 100
MAX_RSS_SHARE = 0.5  # "room to spare": at most half of the function's MemorySize


@dataclass
class Row:
    metric: str
    figure: str
    target: str
    passed: bool | None  # None: for information, no target
    note: str = ""

    @property
    def result(self) -> str:
        return "info" if self.passed is None else ("pass" if self.passed else "MISS")


@dataclass
class Container:
    """What a child process needs: its interpreter, its PYTHONPATH and the handler to import."""

    python: str
    paths: list[Path]
    handler: str
    label: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


# --- setup --------------------------------------------------------------------------------------------------


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run one of our own fixed commands quietly; show its output only when it fails."""
    result = subprocess.run(cmd, text=True, capture_output=True, check=False, **kwargs)  # noqa: S603
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed with {result.returncode}")
    return result


def build_layer(directory: Path, arch: str, python313: str) -> Path:
    """The dependency layer built by its own Makefile for this machine's architecture; returns .../python."""
    run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT / "layers" / "deps"),
            "build-DepsLayer",
            f"ARTIFACTS_DIR={directory}",
            f"LAYER_ARCH={arch}",
            f"PYTHON={sys.executable}",
            f"PYTHON313={python313}",
            "REQUIRE_BYTECODE=1",
        ],
        env=_without_make_variables(),
    )
    return directory / "python"


def install_runtime_packages(directory: Path, arch: str, python313: str) -> Path:
    """boto3 as the Lambda runtime provides it (the layer leaves it out): same versions as .venv, compiled."""
    from importlib.metadata import version

    wheel_arch = "aarch64" if arch == "arm64" else "x86_64"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "--target",
            str(directory),
            f"boto3=={version('boto3')}",
            f"botocore=={version('botocore')}",
            "--platform",
            f"manylinux2014_{wheel_arch}",
            "--implementation",
            "cp",
            "--python-version",
            "3.13",
            "--only-binary=:all:",
            "--no-compile",
        ],
    )
    shutil.rmtree(directory / "bin", ignore_errors=True)
    # pip compiles what it installs (timestamp mode); the runtime's packages come with bytecode too.
    run([python313, "-m", "compileall", "-q", "-j", "0", str(directory)])
    return directory


def copy_tree(source: Path, target: Path, *, bytecode: bool) -> Path:
    shutil.copytree(source, target, ignore=None if bytecode else shutil.ignore_patterns("__pycache__"))
    return target


def handler_dir(directory: Path, module: str, python313: str) -> Path:
    """A /var/task holding one of the benchmark's own handlers, compiled like the function's code."""
    directory.mkdir(parents=True)
    shutil.copy(BENCH / f"{module}.py", directory)
    run([python313, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(directory)])
    return directory


def read_only(*directories: Path) -> None:
    """As /var/task and /opt on Lambda: Python cannot write bytecode next to the sources."""
    for directory in directories:
        for path in [directory, *directory.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)


def make_writable(directory: Path) -> None:
    for path in [directory, *directory.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def _without_make_variables() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}


# --- the stack and the children -----------------------------------------------------------------------------


class Bench:
    def __init__(self, stack: Any, environment: dict[str, str], workdir: Path, child: Path) -> None:
        self.stack = stack
        self.environment = environment
        self.workdir = workdir
        self.child = child
        self.recorder = MotoRecorder(stack.aws_endpoint_url)
        self.profile_to: Path | None = None  # --profile: cProfile statistics of the billing warm path

    def env(self, container: Container) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **self.environment,
            **self.stack.environment(),
            **BENCH_LIMITS,
            **container.extra_env,
            "PYTHONPATH": os.pathsep.join(str(p) for p in container.paths),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
        }

    @contextmanager
    def _child(
        self, container: Container, events: list[dict[str, Any]], mode: str, flags: list[str] | None = None
    ) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
        run_dir = Path(tempfile.mkdtemp(dir=self.workdir, prefix=f"{mode}-"))
        (run_dir / "events.json").write_text(json.dumps(events))
        config = {
            "handler": container.handler,
            "events": str(run_dir / "events.json"),
            "out": str(run_dir / "result.json"),
            "mode": mode,
            "ready": str(run_dir / "ready"),
            "go": str(run_dir / "go"),
            "batch": WARM_BATCH,
            "timeout": 25,
            "memory_mb": 512,
            "profile": str(self.profile_to) if self.profile_to and mode == "warm" else "",
        }
        (run_dir / "config.json").write_text(json.dumps(config))
        # -S: no site-packages of this interpreter, only the directories Lambda would have.
        cmd = [container.python, "-S", *(flags or []), str(self.child), str(run_dir / "config.json")]
        with (run_dir / "stdout.log").open("wb") as out, (run_dir / "stderr.log").open("wb") as err:
            process = subprocess.Popen(cmd, env=self.env(container), stdout=out, stderr=err)  # noqa: S603
            info: dict[str, Any] = {"dir": run_dir}
            try:
                yield process, info
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        if process.returncode != 0:
            raise RuntimeError(
                f"{container.label or container.handler} ({mode}) failed with {process.returncode}:\n"
                + (run_dir / "stderr.log").read_text()[-3000:]
            )
        info["result"] = json.loads((run_dir / "result.json").read_text())
        info["stderr"] = (run_dir / "stderr.log").read_text()

    def cold(self, container: Container, event: dict[str, Any], flags: list[str] | None = None) -> Any:
        with self._child(container, [event], "cold", flags) as (process, info):
            process.wait(timeout=120)
        return info

    def warm(self, container: Container, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Serve events[0], then the others in batches, counting PortOne and AWS calls at the servers: for
        the first request apart (the container's cold one), then for the measured ones.

        Between batches the table is emptied (with the recorder paused): moto copies the whole table for
        every item of a transaction, so a table that grows by two items a request would make moto, not the
        function, slower and slower, until the function's 3-second DynamoDB timeout fires.
        """
        calls_at_launch = len(self.stack.emulator.calls)
        self.recorder.start()
        with self._child(container, events, "warm") as (process, info):
            ready, go = info["dir"] / "ready", info["dir"] / "go"
            calls_before = connections_before = 0
            first_aws = collections.Counter[str]()
            for start in range(1, len(events), WARM_BATCH):
                deadline = time.monotonic() + 600
                while not Path(f"{ready}-{start}").exists():
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{container.label}: the warm process stopped before request {start}"
                        )
                    time.sleep(0.005)
                if start == 1:
                    self.recorder.pause()
                    first_aws = self.recorder.calls()
                    empty_table(self.stack, self.environment["TABLE_NAME"])
                    calls_before = len(self.stack.emulator.calls)
                    connections_before = self.stack.emulator.connections_accepted
                    self.recorder.start()
                else:
                    self.recorder.pause()
                    empty_table(self.stack, self.environment["TABLE_NAME"])
                    self.recorder.resume()
                Path(f"{go}-{start}").write_text("go")
            process.wait(timeout=1800)
            self.recorder.pause()
            aws = self.recorder.calls()
            write_units = self.recorder.write_units()
            portone = collections.Counter(
                f"{c.method} {c.route}" for c in self.stack.emulator.calls[calls_before:]
            )
            first_portone = collections.Counter(
                f"{c.method} {c.route}" for c in self.stack.emulator.calls[calls_at_launch:calls_before]
            )
        result: dict[str, Any] = info["result"]
        result["server_counts"] = {
            "portone": dict(portone),
            "aws": dict(aws),
            "write_units": write_units,
            "portone_connections": self.stack.emulator.connections_accepted - connections_before,
        }
        result["first_server_counts"] = {"portone": dict(first_portone), "aws": dict(first_aws)}
        return result


def empty_table(stack: Any, table: str) -> None:
    """Delete every item: idempotency and ownership records of earlier requests, counters."""
    client = stack.client("dynamodb")
    keys = [
        {"pk": item["pk"]}
        for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk")
        for item in page["Items"]
    ]
    for i in range(0, len(keys), 25):
        batch = [{"DeleteRequest": {"Key": key}} for key in keys[i : i + 25]]
        client.batch_write_item(RequestItems={table: batch})


def billing_event(prefix: str) -> dict[str, Any]:
    from tests.integration.support import http_event, sample_body

    uid = f"{prefix}_{uuid.uuid4().hex[:20]}"
    return http_event({**sample_body(), "customer_uid": uid}, key=f"{prefix}-{uuid.uuid4()}")


# --- figures ------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class CountsDisagree(RuntimeError):
    """The function's own count of its upstream calls differs from the servers' count of them."""


def disagreements(function: Mapping[str, int], servers: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Each operation ("aws:DynamoDB_20120810.PutItem", "portone:POST /users/getToken") whose count by the
    function's own instrumentation differs from the servers' (moto's request recorder, the emulator)."""
    server = {
        f"{service}:{op}": count for service in ("aws", "portone") for op, count in servers[service].items()
    }
    return [
        f"{op}: {function.get(op, 0)} by the function, {server.get(op, 0)} by the server"
        for op in sorted(set(function) | set(server))
        if function.get(op, 0) != server.get(op, 0)
    ]


def summarize_warm(result: dict[str, Any]) -> dict[str, Any]:
    """The warm run's figures. Counts come from the servers; the function's own per-request split (for the
    maximum and the timings) is used only when its totals equal theirs, else ``CountsDisagree``."""
    measured = result["requests"]
    n = len(measured)
    per_request_ops = collections.Counter[str]()
    dynamodb_trips = []
    for r in measured:
        per_request_ops.update(r["operations"])
        dynamodb_trips.append(sum(c for op, c in r["operations"].items() if op.startswith("aws:DynamoDB")))
    server, first = result["server_counts"], result["first_server_counts"]
    portone_connections = sum(r["connections"].get("portone", 0) for r in measured)
    mismatch = disagreements(per_request_ops, server)
    mismatch += [f"first request: {m}" for m in disagreements(result["first"]["operations"], first)]
    if portone_connections != server["portone_connections"]:
        mismatch.append(
            f"PortOne connections: {portone_connections} by the function, "
            f"{server['portone_connections']} by the server"
        )
    if mismatch:
        raise CountsDisagree("; ".join(mismatch))
    dynamodb = {
        op.split(".", 1)[1]: count for op, count in server["aws"].items() if op.startswith("DynamoDB")
    }
    overhead = [r["overhead_ms"] for r in measured]
    cpu = [r["cpu_ms"] for r in measured]
    handler = [r["handler_ms"] for r in measured]
    connections = collections.Counter[str]()
    for r in measured:
        connections.update(r["connections"])
    upstream = [r["upstream_ms"] for r in measured]
    return {
        "requests": n,
        "statuses": dict(collections.Counter(str(r["status"]) for r in measured)),
        "overhead_ms": {"p50": percentile(overhead, 50), "p99": percentile(overhead, 99)},
        "cpu_ms": {"p50": percentile(cpu, 50), "p99": percentile(cpu, 99)},
        # Medians of the overhead's parts: botocore's and requests' own work, and everything else.
        "overhead_split_p50_ms": {
            "botocore": statistics.median(r["clients_ms"]["botocore"] for r in measured),
            "requests": statistics.median(r["clients_ms"]["requests"] for r in measured),
            "rest": statistics.median(
                r["overhead_ms"] - r["clients_ms"]["botocore"] - r["clients_ms"]["requests"] for r in measured
            ),
        },
        "handler_ms": {"p50": percentile(handler, 50), "p99": percentile(handler, 99)},
        "upstream_ms": {"p50": percentile(upstream, 50), "p99": percentile(upstream, 99)},
        "portone_calls_per_request": sum(server["portone"].values()) / n,
        "portone_calls": server["portone"],
        "first_request_portone_calls": first["portone"],
        "first_request_secrets_reads": first["aws"].get("secretsmanager.GetSecretValue", 0),
        "aws_calls_per_request": sum(server["aws"].values()) / n,
        "aws_calls": server["aws"],
        "secrets_reads_per_request": server["aws"].get("secretsmanager.GetSecretValue", 0) / n,
        "dynamodb_write_units_per_request": server["write_units"] / n,
        "dynamodb_round_trips_per_request": {
            "mean": sum(dynamodb.values()) / n,  # moto's recorder
            "max": max(
                dynamodb_trips
            ),  # the function's own split (not in the table), whose totals are moto's
            "by_operation": {op: count / n for op, count in sorted(dynamodb.items())},
        },
        # The function's own count of what it sent, equal to the servers' counts (checked above).
        "client_counts": dict(per_request_ops),
        "portone_connections_per_request": server["portone_connections"] / n,  # the emulator's count
        # New connections per request by service, as the function counted them. moto's server (werkzeug)
        # closes each connection after one answer, so the AWS figure is an artefact of the local stack;
        # botocore keeps them open on AWS.
        "connections_per_request": {service: count / n for service, count in sorted(connections.items())},
        "first_request": result["first"],
        "import_ms": result["import_ms"],
        "peak_rss_mib": result["peak_rss_mib"],
        "python": result["python"],
    }


def import_totals(stderr: str) -> collections.Counter[str]:
    """`-X importtime` self times (microseconds) summed per top-level package."""
    totals: collections.Counter[str] = collections.Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        totals[name.strip().split(".")[0]] += int(self_us)
    return totals


def import_profile(totals: collections.Counter[str], top: int = 8) -> list[dict[str, Any]]:
    """The largest packages by import self time, with their share of it."""
    everything = sum(totals.values())
    return [
        {"package": name, "self_ms": us / 1000, "share": us / everything}
        for name, us in totals.most_common(top)
    ]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory = ""
    if Path("/proc/cpuinfo").exists():
        models = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = models[0] if models else cpu
    if Path("/proc/meminfo").exists():
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    # Untracked files count: `sam build` ships a new module whether git tracks it or not.
    commit, changed = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain")
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "os": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory": memory,
        "arch": platform.machine(),
        "commit": commit,
        # Whether the tree held changes the commit does not: then the figures are not the commit's.
        "clean": not changed,
    }


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


# --- the run ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--cold-samples", type=int, default=COLD_SAMPLES)
    parser.add_argument("--build-dir", type=Path, default=ROOT / ".aws-sam" / "build")
    parser.add_argument(
        "--record",
        action="store_true",
        help=f"record this run as the reference run ({RESULTS.relative_to(ROOT)}); needs a clean tree",
    )
    parser.add_argument(
        "--profile", type=Path, help="also write cProfile statistics of the billing warm path here (slower)"
    )
    args = parser.parse_args(argv)

    try:
        out = output_path(args, clean=machine()["clean"])
    except RecordRefused as refused:
        print(f"--record: {refused}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    shipped_layer = args.build_dir / "DepsLayer"
    built_function = args.build_dir / "BillingFunction"
    if not (shipped_layer / "python").is_dir() or not built_function.is_dir():
        print(f"{args.build_dir} holds no build: run `make build` first (make bench does)", file=sys.stderr)
        return 2
    python313 = find_python313()
    if python313 is None:
        print(
            "No Python 3.13 found: the benchmark plays the python3.13 runtime and needs one "
            "(pyenv install 3.13, uv python install 3.13, or PYTHON313=/path/to/python3.13).",
            file=sys.stderr,
        )
        return 2
    arch = HOST_ARCH.get(platform.machine().lower())
    if sys.platform != "linux" or arch is None:
        print("The layer's manylinux wheels load on Linux (x86_64 or aarch64) only.", file=sys.stderr)
        return 2

    # moto's request recorder reads its file location when moto is imported.
    workdir = Path(tempfile.mkdtemp(prefix="portone-bench-"))
    os.environ["MOTO_RECORDER_FILEPATH"] = str(workdir / "moto-recording.jsonl")
    from local.invoke import function_environment
    from local.stack import embedded_stack
    from local.template import function_definition

    definition = function_definition("BillingFunction")
    environment = {**function_environment(definition, ROOT / "events" / "env.json"), **BENCH_LIMITS}

    try:
        print(f"Preparing (layer for {arch}, boto3 for the runtime, read-only copies) in {workdir} ...")
        layer = build_layer(workdir / "layer-build", arch, python313)
        layer_src = copy_tree(layer, workdir / "layer-without-bytecode" / "python", bytecode=False)
        runtime = install_runtime_packages(workdir / "runtime", arch, python313)
        task = copy_tree(built_function, workdir / "task", bytecode=True)
        task_src = copy_tree(built_function, workdir / "task-without-bytecode", bytecode=False)
        baseline_task = handler_dir(workdir / "baseline-task", "baseline_handler", python313)
        guide_task = handler_dir(workdir / "guide-task", "guide_handler", python313)
        child = workdir / "bin" / "child.py"  # alone in its directory: sys.path[0] holds nothing else
        child.parent.mkdir()
        shutil.copy(BENCH / "child.py", child)
        read_only(layer, layer_src, runtime, task, task_src, baseline_task, guide_task)

        variants = {
            "billing": Container(python313, [task, layer, runtime], BILLING_HANDLER, "as built"),
            "layer_without_bytecode": Container(
                python313, [task, layer_src, runtime], BILLING_HANDLER, "layer without bytecode"
            ),
            "function_without_bytecode": Container(
                python313, [task_src, layer, runtime], BILLING_HANDLER, "function without bytecode"
            ),
            "baseline": Container(
                python313, [baseline_task, layer, runtime], "baseline_handler.lambda_handler", "baseline"
            ),
        }
        guide = Container(python313, [guide_task, layer, runtime], "guide_handler.lambda_handler", "guide")

        with embedded_stack(definition, environment) as stack:
            bench = Bench(stack, environment, workdir, child)
            bench.profile_to = args.profile.resolve() if args.profile else None
            try:
                results = measure_everything(bench, variants, guide, args)
            except CountsDisagree as error:
                print(
                    f"FAIL: the function's and the servers' counts of its calls disagree: {error}",
                    file=sys.stderr,
                )
                return 1
    finally:
        make_writable(workdir)
        shutil.rmtree(workdir, ignore_errors=True)

    results["layer"] = asdict(measure(shipped_layer))
    results["layer"]["bytecode_bytes"] = sum(p.stat().st_size for p in shipped_layer.rglob("*.pyc"))
    native = [p.name for p in shipped_layer.rglob("*.so")]
    results["layer"]["arch"] = "arm64" if any("aarch64" in name for name in native) else "x86_64"
    results["function_artifact"] = asdict(measure(built_function))
    results["memory_mb"] = definition.memory_mb
    results["machine"] = {
        **machine(),
        "python313": python313,
        "layer_arch_measured": arch,
        # Other work on the machine slows the wall-clock figures; the CPU figures are immune to it.
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
    }
    rows = evaluate(results)
    results["table"] = [{**asdict(r), "result": r.result} for r in rows]
    print_report(results, rows)
    if out == RESULTS and not results["machine"]["clean"]:
        print("--record: the tree changed during the run; nothing recorded", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nWritten to {out.relative_to(ROOT)}")
    return 0


class RecordRefused(ValueError):
    """This run cannot be the reference run."""


def output_path(args: argparse.Namespace, *, clean: bool) -> Path:
    """Where this run's results go. The reference run (``--record``), which the README shows as a commit's
    figures, only from a clean tree, with the default counts and no profiling; any other run to LATEST."""
    if not args.record:
        return LATEST
    if not clean:
        raise RecordRefused("it measures a commit: commit or stash the changes first")
    if (args.requests, args.cold_samples, args.profile) != (REQUESTS, COLD_SAMPLES, None):
        raise RecordRefused("it takes the default --requests and --cold-samples, without --profile")
    return RESULTS


def measure_everything(
    bench: Bench, variants: dict[str, Container], guide: Container, args: argparse.Namespace
) -> dict[str, Any]:
    results: dict[str, Any] = {"requests": args.requests, "cold_samples": args.cold_samples}

    print(f"Cold start: {args.cold_samples} fresh processes for each of {len(variants)} variants ...")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for i in range(args.cold_samples):
        # Interleaved, in a rotating order, so a busy moment of the machine hits every variant alike.
        names = list(variants)
        names = names[i % len(names) :] + names[: i % len(names)]
        for name in names:
            info = bench.cold(variants[name], billing_event(f"cold{i}"))
            samples[name].append(info["result"])
    bad = {n: [s["first"]["status"] for s in v if s["first"]["status"] != 200] for n, v in samples.items()}
    if any(bad.values()):
        raise RuntimeError(f"a cold-start request did not answer 200: {bad}")
    profile = bench.cold(variants["billing"], billing_event("profile"), ["-X", "importtime"])
    results["cold_start"] = {
        name: {
            "median_ms": statistics.median(s["cold_ms"] for s in runs),
            "import_median_ms": statistics.median(s["import_ms"] for s in runs),
            "first_request_overhead_median_ms": statistics.median(s["first"]["overhead_ms"] for s in runs),
            "first_request_upstream_median_ms": statistics.median(s["first"]["upstream_ms"] for s in runs),
            "cpu_median_ms": statistics.median(s["cold_cpu_ms"] for s in runs),
            "peak_rss_mib": max(s["peak_rss_mib"] for s in runs),
            "samples_ms": [round(s["cold_ms"], 1) for s in runs],
            "label": variants[name].label,
        }
        for name, runs in samples.items()
    }
    totals = import_totals(profile["stderr"])
    results["import_profile"] = import_profile(totals)
    # How much of the import the layer's own packages are: only their compile time is at stake.
    layer_packages = {p.name.split(".")[0] for p in variants["billing"].paths[1].iterdir()}
    results["import_layer_share"] = sum(us for name, us in totals.items() if name in layer_packages) / sum(
        totals.values()
    )

    n = args.requests
    print(f"Warm path: {n} billing-key requests in one process, the billing handler ...")
    ours = summarize_warm(bench.warm(variants["billing"], [billing_event(f"warm{i}") for i in range(n + 1)]))
    bench.profile_to = None
    print(f"Warm path: the same {n} requests through the guide-style handler ...")
    theirs = summarize_warm(bench.warm(guide, [billing_event(f"guide{i}") for i in range(n + 1)]))
    for name, summary in (("billing", ours), ("guide", theirs)):
        if summary["statuses"] != {"200": n}:
            raise RuntimeError(f"{name}: not every warm request answered 200: {summary['statuses']}")
    results["warm"] = ours
    results["guide"] = theirs
    return results


def evaluate(r: dict[str, Any]) -> list[Row]:
    n = r["requests"]
    warm, guide, cold = r["warm"], r["guide"], r["cold_start"]
    rows: list[Row] = []

    # PortOne: one POST per request; the container's one getToken happened in its first request.
    portone = warm["portone_calls"]
    token_calls_warm = portone.get("POST /users/getToken", 0)
    token_calls_first = warm["first_request_portone_calls"].get("POST /users/getToken", 0)
    rows.append(
        Row(
            "PortOne calls per warm billing-key request",
            f"{warm['portone_calls_per_request']:.2f} (getToken: {token_calls_first} in the first request, "
            f"{token_calls_warm} in the {n:,})",
            "1.00 + 1 getToken per container per token lifetime",
            warm["portone_calls_per_request"] == 1.0 and token_calls_warm == 0 and token_calls_first == 1,
        )
    )
    rows.append(
        Row(
            "Secrets Manager reads per warm request",
            f"{warm['secrets_reads_per_request']:.2f} "
            f"({warm['first_request_secrets_reads']} in the first request)",
            "0",
            warm["secrets_reads_per_request"] == 0,
        )
    )
    trips = warm["dynamodb_round_trips_per_request"]
    by_op = ", ".join(f"{op} {count:.2f}" for op, count in trips["by_operation"].items())
    rows.append(
        Row(
            "DynamoDB round trips per request (moto's recorder)",
            f"{trips['mean']:.2f} ({by_op})",
            f"<= {MAX_DYNAMODB_ROUND_TRIPS}",
            trips["mean"] <= MAX_DYNAMODB_ROUND_TRIPS,
        )
    )
    write_units = warm["dynamodb_write_units_per_request"]
    rows.append(
        Row(
            "DynamoDB write units per request (moto's recorder)",
            f"{write_units:.2f}",
            f"<= {MAX_DYNAMODB_WRITE_UNITS}",
            write_units <= MAX_DYNAMODB_WRITE_UNITS,
        )
    )
    rows.append(
        Row(
            "AWS calls per warm request (moto's recorder)",
            f"{warm['aws_calls_per_request']:.2f}",
            "",
            None,
        )
    )
    overhead = warm["overhead_ms"]
    rows.append(
        Row(
            "Handler overhead p50 (handler time - upstream time)",
            f"{overhead['p50']:.2f} ms (p99 {overhead['p99']:.2f}; CPU p50 {warm['cpu_ms']['p50']:.2f} ms)",
            f"<= {MAX_OVERHEAD_P50_MS:.0f} ms",
            overhead["p50"] <= MAX_OVERHEAD_P50_MS,
            "" if overhead["p50"] <= MAX_OVERHEAD_P50_MS else overhead_note(r),
        )
    )

    built, baseline = cold["billing"]["median_ms"], cold["baseline"]["median_ms"]
    ratio = built / baseline
    rows.append(
        Row(
            "Cold start with the built layer (import + 1st request)",
            f"{built:.0f} ms = {ratio:.2f} x baseline ({baseline:.0f} ms); CPU "
            f"{cold['billing']['cpu_median_ms']:.0f} vs {cold['baseline']['cpu_median_ms']:.0f} ms",
            f"<= {MAX_COLD_VS_BASELINE} x baseline",
            ratio <= MAX_COLD_VS_BASELINE,
            "" if ratio <= MAX_COLD_VS_BASELINE else cold_note(r),
        )
    )
    without = cold["layer_without_bytecode"]["median_ms"]
    speedup = without / built
    import_speedup = cold["layer_without_bytecode"]["import_median_ms"] / cold["billing"]["import_median_ms"]
    rows.append(
        Row(
            "Cold start speed-up from the layer's bytecode",
            f"{speedup:.2f} x ({without:.0f} ms without it); import alone {import_speedup:.2f} x; "
            f"CPU {cold['layer_without_bytecode']['cpu_median_ms'] / cold['billing']['cpu_median_ms']:.2f} x",
            f">= {MIN_BYTECODE_SPEEDUP} x",
            speedup >= MIN_BYTECODE_SPEEDUP,
            "" if speedup >= MIN_BYTECODE_SPEEDUP else bytecode_note(r),
        )
    )
    plain = cold["function_without_bytecode"]["median_ms"]
    rows.append(
        Row(
            "Cold start without the function's bytecode (plain sam build)",
            f"{plain:.0f} ms ({plain - built:+.0f} ms)",
            "",
            None,
        )
    )
    layer = r["layer"]
    rows.append(
        Row(
            f"Layer size unzipped, with its bytecode (shipped, {layer['arch']})",
            f"{layer['unzipped'] / 1e6:.1f} MB ({layer['bytecode_bytes'] / 1e6:.1f} MB of it .pyc); "
            f"zipped {layer['zipped'] / 1e6:.1f} MB",
            f"<= {MAX_LAYER_BYTES / 1e6:.0f} MB",
            layer["unzipped"] <= MAX_LAYER_BYTES,
        )
    )
    memory = r["memory_mb"]
    rss = warm["peak_rss_mib"]
    rows.append(
        Row(
            f"Peak RSS after {n + 1:,} requests in one process",
            f"{rss:.0f} MiB of {memory} MB ({rss / memory:.0%}); "
            f"cold start {cold['billing']['peak_rss_mib']:.0f} MiB",
            f"<= {MAX_RSS_SHARE:.0%} of MemorySize ({memory * MAX_RSS_SHARE:.0f} MiB)",
            rss <= memory * MAX_RSS_SHARE,
        )
    )

    # The guide-style baseline, side by side.
    rows.append(
        Row(
            "vs guide style: handler overhead p50 (ours vs theirs)",
            f"{overhead['p50']:.2f} ms vs {guide['overhead_ms']['p50']:.2f} ms "
            f"(ratio {overhead['p50'] / guide['overhead_ms']['p50']:.2f})",
            "",
            None,
        )
    )
    rows.append(
        Row(
            "vs guide style: round trips per request (ours vs theirs)",
            f"PortOne {warm['portone_calls_per_request']:.2f} vs {guide['portone_calls_per_request']:.2f}, "
            f"Secrets Manager {warm['secrets_reads_per_request']:.2f} vs "
            f"{guide['secrets_reads_per_request']:.2f}, DynamoDB {trips['mean']:.2f} vs "
            f"{guide['dynamodb_round_trips_per_request']['mean']:.2f}",
            "",
            None,
        )
    )
    rows.append(
        Row(
            "vs guide style: new PortOne connections per request (the emulator's count)",
            f"{warm['portone_connections_per_request']:.2f} vs "
            f"{guide['portone_connections_per_request']:.2f}",
            "",
            None,
        )
    )
    return rows


def _profile_text(r: dict[str, Any], top: int = 5) -> str:
    return ", ".join(f"{p['package']} {p['share']:.0%}" for p in r["import_profile"][:top])


def cold_note(r: dict[str, Any]) -> str:
    cold, baseline = r["cold_start"]["billing"], r["cold_start"]["baseline"]
    return (
        f"import {cold['import_median_ms']:.0f} ms against the baseline's "
        f"{baseline['import_median_ms']:.0f} ms, first request "
        f"{cold['first_request_overhead_median_ms']:.0f} ms against "
        f"{baseline['first_request_overhead_median_ms']:.0f} ms; import self time by package: "
        f"{_profile_text(r)}"
    )


def bytecode_note(r: dict[str, Any]) -> str:
    built, without = r["cold_start"]["billing"], r["cold_start"]["layer_without_bytecode"]
    return (
        f"import {without['import_median_ms']:.0f} ms without the layer's bytecode, "
        f"{built['import_median_ms']:.0f} ms with it; the layer's packages are {r['import_layer_share']:.0%} "
        f"of the import's self time; first request {without['first_request_overhead_median_ms']:.0f} ms "
        f"without, {built['first_request_overhead_median_ms']:.0f} ms with"
    )


def overhead_note(r: dict[str, Any]) -> str:
    split, load = r["warm"]["overhead_split_p50_ms"], r["machine"]["load_average_1min"]
    return (
        f"medians: botocore {split['botocore']:.1f} ms, requests {split['requests']:.1f} ms, the rest "
        f"{split['rest']:.1f} ms; the guide-style handler {r['guide']['overhead_ms']['p50']:.1f} ms; load "
        f"average {load['before']} before the run, {load['after']} after"
    )


def print_report(r: dict[str, Any], rows: list[Row]) -> None:
    m = r["machine"]
    commit = m["commit"] + ("" if m["clean"] else " with uncommitted changes")
    print()
    print(
        f"Machine: {m['cpu']}, {m['cpus']} vCPU, {m['memory']}, {m['os']}; Python {r['warm']['python']} "
        f"({m['python313']}), layer built for {m['layer_arch_measured']}; commit {commit}; {m['date']}; "
        f"load average {m['load_average_1min']['before']} before, {m['load_average_1min']['after']} after"
    )
    cells = [("metric", "figure", "target"), *((row.metric, row.figure, row.target) for row in rows)]
    widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
    header = f"| {'metric':<{widths[0]}} | {'figure':<{widths[1]}} | {'target':<{widths[2]}} | result |"
    print(header)
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|{'-' * (widths[2] + 2)}|--------|")
    for row in rows:
        print(
            f"| {row.metric:<{widths[0]}} | {row.figure:<{widths[1]}} | {row.target:<{widths[2]}} "
            f"| {row.result:<6} |"
        )
    notes = [row for row in rows if row.note]
    if notes:
        print("\nWhere a target is missed:")
        for row in notes:
            print(f"- {row.metric}: {row.note}")
    cold = r["cold_start"]
    print("\nCold start medians (ms): import + first request without upstream wait [import, first request]:")
    for c in cold.values():
        print(
            f"  {c['label']:<26} {c['median_ms']:7.0f}  [{c['import_median_ms']:.0f}, "
            f"{c['first_request_overhead_median_ms']:.0f}]  cpu {c['cpu_median_ms']:.0f}  "
            f"samples {c['samples_ms']}"
        )
    print(f"Import time by package (billing, as built): {_profile_text(r, 8)}")
    print(
        "Upstream time: wall time inside urllib3's HTTPConnectionPool.urlopen (requests and botocore), "
        "from taking a connection to the response headers (the local servers send whole answers at once), "
        "plus closing the connections moto's server will not keep open. "
        f"Warm upstream p50 {r['warm']['upstream_ms']['p50']:.2f} ms (ours), "
        f"{r['guide']['upstream_ms']['p50']:.2f} ms (guide) on loopback; against AWS and api.iamport.kr "
        "each round trip costs milliseconds and each new TLS connection several round trips more."
    )


if __name__ == "__main__":
    sys.exit(main())
