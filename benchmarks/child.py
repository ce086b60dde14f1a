"""One Lambda container in a process of its own: import a handler, serve events, write what it measured.

benchmarks/run.py starts this file under the runtime's Python (3.13) with PYTHONPATH set to the function's
directory, the layer's directory and a directory holding boto3, as /var/task, /opt/python and the runtime's
own packages are on Lambda, and with the function's environment. It imports nothing but the standard library
before the handler, so the cold-start figure is the handler's own cost:

    python child.py CONFIG.json

CONFIG: {"handler": "billing.app.lambda_handler", "events": "events.json", "out": "result.json",
         "mode": "cold" | "warm", "ready": "path", "go": "path", "batch": 100, "timeout": 25,
         "memory_mb": 512, "profile": "" | "path"}

- cold: time the handler module's import, then the first event (the time spent waiting on HTTP is
  measured apart: see Upstream), and report CPU time and peak RSS.
- warm: serve the first event (the container's cold request), then the others one by one, timing each, in
  batches: before each batch it creates the file `ready-N` and waits for `go-N` (N: the batch's first event),
  so the parent can read its counters, or empty the local table, while no request runs.

Upstream time is the wall time inside urllib3's HTTPConnectionPool.urlopen, which both requests (PortOne)
and botocore (DynamoDB, Secrets Manager) call for every HTTP request: from taking a connection (opening it if
needed) through sending the request to reading the response's status and headers. Both local servers build
the whole answer before sending its headers, so the body is already in the socket buffer when urlopen
returns. Closing a connection is upstream time too: moto's server closes each one after an answer (AWS keeps
them open), so every AWS call here ends with a close that would not happen on Lambda. Handler overhead is the
handler's wall time minus the upstream time.
"""

import json
import os
import resource
import sys
import time

# Nothing above this line but the standard library: everything below is the handler's to pay for.
START = time.perf_counter()
START_CPU = resource.getrusage(resource.RUSAGE_SELF)


class Upstream:
    """Every HTTP request the process makes through urllib3: where it went, what it was, how long it took."""

    def __init__(self, portone_port: int, aws_port: int) -> None:
        self.portone_port = portone_port
        self.aws_port = aws_port
        self.calls: list[tuple[str, str, float]] = []  # (service, operation, seconds)
        self.connections: list[str] = []  # the service of each connection opened
        self.upstream_s = 0.0  # all upstream time so far
        # Closing connections outside urlopen: moto's server (werkzeug) answers `Connection: close`, so
        # here every AWS call ends with a close that AWS, which keeps connections open, never causes.
        self.close_s = 0.0
        # Time inside each HTTP client library's call, less the upstream time inside it: what botocore
        # (validate, serialise, sign, parse) and requests cost the handler.
        self.clients_s = {"botocore": 0.0, "requests": 0.0}
        self._depth = 0

    def install(self) -> bool:
        """Wrap urllib3's request and connect methods; False when the handler has not imported urllib3."""
        if "urllib3.connectionpool" not in sys.modules:
            return False
        import urllib3.connection
        import urllib3.connectionpool

        recorder = self
        urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen
        connect = urllib3.connection.HTTPConnection.connect

        def timed_urlopen(pool, *args, **kwargs):  # type: ignore[no-untyped-def]
            recorder._depth += 1
            started = time.perf_counter()
            try:
                return urlopen(pool, *args, **kwargs)
            finally:
                recorder._depth -= 1
                if recorder._depth == 0:  # a retry inside urllib3 calls urlopen again: count the outer call
                    method = kwargs.get("method") or (args[0] if args else "?")
                    url = kwargs.get("url") or (args[1] if len(args) > 1 else "?")
                    recorder._record(pool.port, method, url, kwargs.get("headers"), started)

        def counted_connect(conn):  # type: ignore[no-untyped-def]
            recorder.connections.append(recorder._service(conn.port))
            return connect(conn)

        close = urllib3.connection.HTTPConnection.close

        def timed_close(conn):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return close(conn)
            finally:
                if recorder._depth == 0:  # inside urlopen it is already upstream time
                    seconds = time.perf_counter() - started
                    recorder.close_s += seconds
                    recorder.upstream_s += seconds

        urllib3.connectionpool.HTTPConnectionPool.urlopen = timed_urlopen  # type: ignore[method-assign]
        urllib3.connection.HTTPConnection.connect = counted_connect  # type: ignore[method-assign]
        urllib3.connection.HTTPConnection.close = timed_close  # type: ignore[method-assign]
        if "botocore.client" in sys.modules:
            client_class = sys.modules["botocore.client"].BaseClient
            client_class._make_api_call = self._timed("botocore", client_class._make_api_call)
        if "requests.sessions" in sys.modules:
            session_class = sys.modules["requests.sessions"].Session
            session_class.request = self._timed("requests", session_class.request)
        return True

    def _timed(self, library, method):  # type: ignore[no-untyped-def]
        recorder = self

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            started, upstream_before = time.perf_counter(), recorder.upstream_s
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                recorder.clients_s[library] += elapsed - (recorder.upstream_s - upstream_before)

        return timed

    def _service(self, port: int) -> str:
        return {self.portone_port: "portone", self.aws_port: "aws"}.get(port, "other")

    def _record(self, port: int, method: str, url: str, headers: object, started: float) -> None:
        seconds = time.perf_counter() - started
        self.upstream_s += seconds
        if port == self.portone_port:
            path = url.split("?", 1)[0]
            if path.startswith("/subscribe/customers/"):
                path = "/subscribe/customers/{customer_uid}"
            self.calls.append(("portone", f"{method} {path}", seconds))
        elif port == self.aws_port:
            target = "?"
            if isinstance(headers, dict) or hasattr(headers, "items"):
                for name, value in headers.items():  # type: ignore[union-attr]
                    if name.lower() == "x-amz-target":
                        target = value.decode() if isinstance(value, bytes) else str(value)
            self.calls.append(("aws", target, seconds))
        else:
            self.calls.append(("other", f"{method} port {port}", seconds))


class Context:
    """The Lambda context object, as the runtime hands it to the handler."""

    function_name = "BillingFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:BillingFunction"
    log_group_name = "/aws/lambda/BillingFunction"
    log_stream_name = "benchmark"

    def __init__(self, timeout: float, memory_mb: int) -> None:
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = os.urandom(16).hex()
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _port(variable: str) -> int:
    url = os.environ.get(variable, "")
    return int(url.rsplit(":", 1)[1].split("/")[0]) if url.count(":") == 2 else -1


def _serve(handler, event, config, upstream):  # type: ignore[no-untyped-def]
    """One invocation: status, wall and CPU seconds, the upstream calls made and connections opened."""
    calls_before, connections_before = len(upstream.calls), len(upstream.connections)
    clients_before, close_before = dict(upstream.clients_s), upstream.close_s
    context = Context(config.get("timeout", 25), config.get("memory_mb", 512))
    cpu_started = time.thread_time()
    started = time.perf_counter()
    response = handler(event, context)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu_started
    status = response.get("statusCode", 0) if isinstance(response, dict) else 0
    clients = {name: upstream.clients_s[name] - clients_before[name] for name in clients_before}
    calls, opened = upstream.calls[calls_before:], upstream.connections[connections_before:]
    return status, elapsed, cpu, calls, opened, clients, upstream.close_s - close_before


def _request_record(status, elapsed, cpu, calls, connections, clients, close_s):  # type: ignore[no-untyped-def]
    upstream_s = sum(seconds for _, _, seconds in calls) + close_s
    opened: dict[str, int] = {}
    for service in connections:
        opened[service] = opened.get(service, 0) + 1
    operations: dict[str, int] = {}
    for service, operation, _ in calls:
        key = f"{service}:{operation}"
        operations[key] = operations.get(key, 0) + 1
    return {
        "status": status,
        "handler_ms": elapsed * 1000,
        "upstream_ms": upstream_s * 1000,
        "close_ms": close_s * 1000,
        "overhead_ms": (elapsed - upstream_s) * 1000,
        # CPU time of the handler's thread: the overhead without the waits, immune to a busy machine.
        "cpu_ms": cpu * 1000,
        "operations": operations,
        "connections": opened,
        "clients_ms": {name: seconds * 1000 for name, seconds in clients.items()},
    }


def _handshake(config, step: int) -> None:  # type: ignore[no-untyped-def]
    """Tell the parent this process is between requests (file `ready-STEP`); wait for `go-STEP`."""
    with open(f"{config['ready']}-{step}", "w") as f:
        f.write("ready")
    while not os.path.exists(f"{config['go']}-{step}"):
        time.sleep(0.005)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main() -> None:
    with open(sys.argv[1]) as f:
        config = json.load(f)
    with open(config["events"]) as f:
        events = json.load(f)
    module_name, function_name = config["handler"].rsplit(".", 1)
    upstream = Upstream(_port("PORTONE_BASE_URL"), _port("AWS_ENDPOINT_URL"))

    import_started = time.perf_counter()
    module = __import__(module_name, fromlist=[function_name])
    handler = getattr(module, function_name)
    import_s = time.perf_counter() - import_started
    instrumented = upstream.install()

    first = _request_record(*_serve(handler, events[0], config, upstream))
    end_cpu = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "python": sys.version.split()[0],
        "instrumented": instrumented,
        "import_ms": import_s * 1000,
        "first": first,
        # The whole cold start the handler pays for: its import and its first request, without the wait
        # for upstream answers (the speed of this machine's moto and emulator, not of the function).
        "cold_ms": import_s * 1000 + first["overhead_ms"],
        "cold_cpu_ms": (end_cpu.ru_utime + end_cpu.ru_stime - START_CPU.ru_utime - START_CPU.ru_stime) * 1000,
        "since_start_ms": (time.perf_counter() - START) * 1000,
    }
    if config["mode"] == "warm":
        profiler = None
        if config.get("profile"):
            import cProfile

            profiler = cProfile.Profile()
        result["requests"] = []
        batch = config.get("batch") or len(events)
        for start in range(1, len(events), batch):
            # Between batches the parent reads its counters or tidies the local stack; no request is running.
            _handshake(config, start)
            if profiler is not None:
                profiler.enable()
            for event in events[start : start + batch]:
                result["requests"].append(_request_record(*_serve(handler, event, config, upstream)))
            if profiler is not None:
                profiler.disable()
        if profiler is not None:
            profiler.dump_stats(config["profile"])
    result["peak_rss_mib"] = _peak_rss_mib()
    with open(config["out"], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
