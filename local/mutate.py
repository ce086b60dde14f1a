"""`make mutate`: mutation testing of functions/billing with the unit and integration tiers.

mutmut 3 writes the mutants; this runs them. mutmut would run each mutant in a pytest session of its own, and
each session of this suite starts moto's server, the PortOne emulator and the Lambda containers first: some
6 s a mutant, hours for the whole package. So:

1. mutmut writes mutants/: the tree, with each function of functions/billing beside its mutants. Its mutants
   are named after the module the tests import (`billing.cards`, from functions/ as Lambda's CodeUri), not
   after the file's path (`functions.billing.cards`), since mutmut's trampoline activates a mutant only when
   the two agree.
2. One pytest session per core (local/mutation_worker.py) runs every test once on the original code, under
   coverage: each test's time and the lines of functions/billing it executes (kept in mutants/measured.json
   until a file the tests read changes).
3. An earlier verdict that still holds is taken over from tests/mutation-history.jsonl (checked in; the rules
   are in local/mutation_history.py), so a run after a change runs only the mutants the change concerns.
4. Each other mutant runs in one of those sessions against the tests that execute the statement it changed
   (local/mutation_plan.py): its module's own, and at most MOST_TESTS others. First those that killed its
   function's other mutants, then its module's own (test_<module>[_*].py, test_portone_client.py for
   billing.portone.client), then those that killed its module's, then the others (in each group those that
   executed more of the function first, then the fastest), until one fails; one that passes them all is a
   survivor.
   The failing test is run again on the original code; if it fails there too, the mutant is tried once more
   in a new session, then recorded as suspicious (not killed). A test that runs past its time (15 s plus
   five times its measured time) ends the session, and the mutant counts as a timeout.
5. The verdicts go to mutmut's result files (mutants/**/*.py.meta), which local/mutation_report.py reads,
   and to the history.

    python -m local.mutate run ["billing.cards.*"] [--fresh]   # the mutants whose verdicts do not hold
    python -m local.mutate show billing.cards.x_card_brand__mutmut_3    # mutmut's own commands
    python -m local.mutate results

mutmut's configuration is [tool.mutmut] in pyproject.toml.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from local import mutation_history
from local.mutation_history import HISTORY, History
from local.mutation_plan import CODE_ROOT, MUTANTS, VERDICTS, MutatedFile, Plan, module_of
from local.mutation_worker import FD_VARIABLE

MEASURED = MUTANTS / "measured.json"

# mutmut's exit codes for the verdicts (mutmut/stats.py), which its commands and the report read.
SURVIVED, KILLED, NO_TESTS, SUSPICIOUS, TIMEOUT, TYPE_ERROR = 0, 1, 33, 35, 36, 37
# The verdicts the history keeps; a timeout or a suspicious mutant runs again.
KEPT = {
    KILLED: mutation_history.KILLED,
    SURVIVED: mutation_history.SURVIVED,
    NO_TESTS: mutation_history.NO_TESTS,
}
EXIT_CODE = {verdict: exit_code for exit_code, verdict in KEPT.items()}

TEST_SECONDS = 15.0  # a test's time limit: this, plus TIMES_MEASURED times its measured time
TIMES_MEASURED = 5.0
SESSION_START_SECONDS = 300.0  # collecting the tests
# A mutant that passes this many of the tests reaching it counts as a survivor: the score can only be too low.
MOST_TESTS = 10

T = TypeVar("T")


def _named_from_code_root(get_mutant_name: Callable[[Path, str], str]) -> Callable[[Path, str], str]:
    def named(relative_source_path: Path, mutant_method_name: str) -> str:
        path = Path(relative_source_path)
        if path.parts[: len(CODE_ROOT.parts)] == CODE_ROOT.parts:
            path = path.relative_to(CODE_ROOT)
        return get_mutant_name(path, mutant_method_name)

    return named


def _mutmut() -> Any:
    """mutmut's command line as a module, naming mutants from functions/ (importing it sets the fork start
    method its mutant generation needs)."""
    import mutmut.__main__ as mutmut_cli
    from mutmut.mutation import file_mutation
    from mutmut.utils import format_utils

    named = _named_from_code_root(format_utils.get_mutant_name)
    # Every module that imported the function by name (a newer mutmut that moves it fails here, not silently).
    for module in (format_utils, mutmut_cli, file_mutation):
        if not callable(getattr(module, "get_mutant_name", None)):
            raise SystemExit(f"{module.__name__} has no get_mutant_name: compare local/mutate.py with mutmut")
        module.get_mutant_name = named  # type: ignore[attr-defined]
    return mutmut_cli


def generate() -> None:
    """mutmut's first step of `mutmut run`: mutants/ with every mutant (unchanged files are kept)."""
    mutmut_cli = _mutmut()
    from mutmut.mutation.trampoline import set_mutant_under_test
    from mutmut.utils import file_utils

    set_mutant_under_test("mutant_generation")
    MUTANTS.mkdir(exist_ok=True)
    file_utils.copy_src_dir()
    file_utils.copy_also_copy_files()
    mutmut_cli.create_mutants(os.cpu_count() or 2)
    set_mutant_under_test("")


# mypy's findings that are mutmut's doing, not a mutant's: its copy of a method declares the method's
# attributes again (no-redef), and an attribute's type comes from its first assignment in the class, which is
# the original's in mutmut's copy, so a mutant's other value for it is refused (assignment) where the mutated
# source alone would pass.
COPYING_ARTEFACTS = {"no-redef"}


def _is_copying_artefact(error: dict[str, Any], source: MutatedFile) -> bool:
    if error["code"] in COPYING_ARTEFACTS:
        return True
    line: str = source.lines[error["line"] - 1]
    return error["code"] == "assignment" and line.lstrip().startswith("self.")


def type_check() -> dict[str, str]:
    """The mutants that mypy, as `make lint` runs it (strict), refuses, each with mypy's first message: `make
    test` fails on them before any test runs."""
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--output", "json", "--no-warn-unused-ignores", "-p", "billing"],
        cwd=MUTANTS,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode not in (0, 1):
        raise SystemExit(f"mypy failed on mutants/:\n{completed.stderr}")
    refused: dict[str, str] = {}
    files: dict[str, MutatedFile] = {}
    for line in completed.stdout.splitlines():
        error = json.loads(line)
        if error["file"] not in files:
            files[error["file"]] = MutatedFile((MUTANTS / error["file"]).read_text(encoding="utf-8"))
        if error["severity"] != "error" or _is_copying_artefact(error, files[error["file"]]):
            continue
        mutant = files[error["file"]].mutant_at(error["line"])
        if mutant is None:
            raise SystemExit(
                f"mypy: {error['file']}:{error['line']}: {error['message']} (outside any mutant)"
            )
        refused.setdefault(f"{module_of(Path(error['file']))}.{mutant}", error["message"])
    return refused


class Results:
    """The verdicts, in mutmut's result files: one per mutated source file."""

    def __init__(self) -> None:
        from mutmut.mutation.data import SourceFileMutationData

        self._files = {}
        for meta in sorted((MUTANTS / CODE_ROOT).rglob("*.py.meta")):
            data = SourceFileMutationData(path=meta.relative_to(MUTANTS).with_suffix(""))
            data.load()
            self._files.update({mutant: data for mutant in data.exit_code_by_key})
        self._lock = threading.Lock()
        self._unsaved: set[Any] = set()
        self.counts: Counter[int] = Counter()
        self.history: History | None = None

    def mutants(self, patterns: list[str]) -> list[str]:
        """The mutants these patterns name; without patterns, every mutant."""
        return [m for m in self._files if not patterns or any(fnmatch.fnmatchcase(m, p) for p in patterns)]

    def record(self, mutant: str, exit_code: int, details: dict[str, Any]) -> None:
        """A mutant's verdict, and how it was reached (its killer, its time) in mutants/verdicts.jsonl and,
        once the run has its history, in tests/mutation-history.jsonl."""
        if self.history:
            self.history.add(mutant, KEPT.get(exit_code), details)
        with self._lock:
            data = self._files[mutant]
            data.exit_code_by_key[mutant] = exit_code
            data.durations_by_key[mutant] = details["seconds"]
            self._unsaved.add(data)
            self.counts[exit_code] += 1
            with VERDICTS.open("a", encoding="utf-8") as verdicts:
                verdicts.write(json.dumps({"mutant": mutant, "exit_code": exit_code, **details}) + "\n")

    def save(self) -> None:
        with self._lock:
            for data in self._unsaved:
                data.save()
            self._unsaved.clear()
        if self.history:
            self.history.save()


class SessionEnded(Exception):
    """A worker session ended (crashed, or was stopped)."""


class SessionTimedOut(SessionEnded):
    """A worker session gave no answer within a test's time limit."""


class Worker:
    """A pytest session in mutants/ (local/mutation_worker.py), and the socket the two talk over."""

    running: ClassVar[set[Worker]] = set()  # stopped however the run ends (its Lambda containers with them)
    registry: ClassVar[threading.Lock] = threading.Lock()  # guards `running` against a stop while one starts

    def __init__(self, number: int, tests: list[str]) -> None:
        ours, theirs = socket.socketpair()
        with (MUTANTS / f"worker-{number}.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (this interpreter, running pytest)
                [sys.executable, "-m", "pytest", "-p", "local.mutation_worker", *tests],
                cwd=MUTANTS,
                env={**os.environ, FD_VARIABLE: str(theirs.fileno()), "MUTANT_UNDER_TEST": ""},
                pass_fds=[theirs.fileno()],
                start_new_session=True,  # its Lambda containers are stopped with it
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        theirs.close()
        self.connection = Connection(ours.detach())
        with Worker.registry:
            Worker.running.add(self)
        if STOPPING.is_set():  # the run stopped while this session started: it ends now, not after a mutant
            self.kill()
            raise SessionEnded("the run is stopping")
        self.tests: list[str] = self._receive(SESSION_START_SECONDS)[1]

    def measure(self, tests: list[str]) -> tuple[dict[str, float], dict[str, bool], dict[str, Any]]:
        self.connection.send(("measure", tests))
        _, seconds, passed, lines = self._answer(lambda test: 120.0)
        return seconds, passed, lines

    def try_mutant(self, mutant: str, tests: list[str], seconds: dict[str, float]) -> dict[str, Any]:
        self.connection.send(("mutant", mutant, tests))
        verdict: dict[str, Any] = self._answer(lambda test: TEST_SECONDS + TIMES_MEASURED * seconds[test])[1]
        return verdict

    def _answer(self, limit: Callable[[str], float]) -> Any:
        """The answer to the last message; each test it runs has `limit(test)` seconds."""
        message = self._receive(SESSION_START_SECONDS)
        while message[0] == "test":
            message = self._receive(limit(message[1]))
        return message

    def _receive(self, seconds: float) -> Any:
        try:
            if self.connection.poll(seconds):
                return self.connection.recv()
        except (EOFError, OSError) as ended:
            raise SessionEnded(f"the session ended (exit status {self.process.poll()})") from ended
        raise SessionTimedOut(f"no answer within {seconds:.0f} s")

    def stop(self) -> None:
        try:
            self.connection.send(("stop",))
            self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def kill(self) -> None:
        """Once, whoever comes first: a stop, or the thread whose session it ended."""
        with Worker.registry:
            if self not in Worker.running:
                return
            Worker.running.discard(self)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, 9)
        self.process.wait()
        self.connection.close()


def _test_selection() -> list[str]:
    from mutmut.configuration import config

    return ["-q", "--rootdir=.", "-p", "no:cacheprovider", *config().pytest_add_cli_args_test_selection]


def _inputs_digest() -> str:
    """What the verdicts depend on: the function, the tests, every file they read, this tooling, and the
    versions of the tools."""
    from mutmut.configuration import config

    digest = hashlib.sha256()
    for tool in ("mutmut", "coverage", "pytest", "mypy", "hypothesis"):
        digest.update(f"{tool} {version(tool)}\0".encode())
    roots = [*config().source_paths, "tests", *config().also_copy, "pyproject.toml"]
    for root in sorted(Path(str(r)) for r in roots):
        for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
            if path.is_file() and "__pycache__" not in path.parts and not _is_history(path):
                digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _is_history(path: Path) -> bool:
    """The history, or its next version being written: it changes with every run, and no test reads it."""
    return path in (HISTORY, HISTORY.with_suffix(".partial"))


def _measured(digest: str) -> tuple[dict[str, float], dict[str, Any]] | None:
    """The last run's measurement, if it was of these inputs."""
    if MEASURED.exists():
        kept = json.loads(MEASURED.read_text(encoding="utf-8"))
        if kept["digest"] == digest:
            return kept["seconds"], kept["lines"]
    return None


def measure(workers: list[Worker], digest: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Every test on the original code, split between the sessions by file: its time and the lines it ran."""
    files: dict[str, list[str]] = {}
    for test in workers[0].tests:
        files.setdefault(test.split("::")[0], []).append(test)
    shares: list[list[str]] = [[] for _ in workers]
    for tests in sorted(files.values(), key=len, reverse=True):
        min(shares, key=len).extend(tests)
    measured = _in_each_session(
        lambda index: workers[index].measure(shares[index]), len(workers), "a session ended while measuring"
    )
    seconds: dict[str, float] = {}
    lines: dict[str, dict[str, list[str]]] = {}
    failed: list[str] = []
    for share_seconds, passed, share_lines in measured:
        seconds.update(share_seconds)
        failed += [test for test, ok in passed.items() if not ok]
        for file, by_line in share_lines.items():
            for line, tests in by_line.items():
                lines.setdefault(file, {}).setdefault(str(line), []).extend(tests)
    if failed:
        raise SystemExit(
            "these tests fail on the original code, fix them first (why: mutants/worker-*.log):\n  "
            + "\n  ".join(failed)
        )
    MEASURED.write_text(json.dumps({"digest": digest, "seconds": seconds, "lines": lines}), encoding="utf-8")
    return seconds, lines


# Set when the run ends (Ctrl-C, or a session that cannot start): sessions stop, nothing more is recorded.
STOPPING = threading.Event()


def run(patterns: list[str], sessions: int, most_tests: int | None, fresh: bool) -> int:
    try:
        return _run(patterns, sessions, most_tests, fresh)
    except KeyboardInterrupt:
        print("Stopped: the verdicts reached so far are kept; `make mutate` goes on from them")
        return 130
    finally:
        _end_sessions()


def _stop_on_signals() -> None:
    """Ctrl-C, and a plain `kill`, stop the run the same way, even one started in the background (where the
    shell ignores SIGINT for it). Set after mutmut's forked processes are gone: they would inherit it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _end_sessions() -> None:
    """Stop every session now (their Lambda containers with them); one that starts later stops itself."""
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)  # a second Ctrl-C would leave sessions running
    with Worker.registry:
        STOPPING.set()
        running = list(Worker.running)
    for worker in running:
        worker.kill()


def _run(patterns: list[str], sessions: int, most_tests: int | None, fresh: bool) -> int:
    started = time.monotonic()
    digest = _inputs_digest()
    measured = None if fresh else _measured(digest)
    if measured is None and MUTANTS.exists():
        # mutmut's copy keeps deleted tests, and the verdicts in it hold for the code they were reached on.
        print("The code, the tests or the tools changed since the last run (or FRESH=1): new mutants/")
        shutil.rmtree(MUTANTS)
    print("Writing the mutants (mutmut)")
    generate()
    _stop_on_signals()
    results = Results()
    chosen = set(results.mutants(patterns))
    if not chosen:
        raise SystemExit(f"No mutant matches {' '.join(patterns)}")
    everything = results.mutants([])
    print(f"Type-checking the {len(everything)} mutants as `make lint` does ({_minutes(started)})")
    refused = type_check()
    for mutant, message in refused.items():
        results.record(mutant, TYPE_ERROR, {"seconds": 0.0, "mypy": message})
    print(f"    mypy refuses {len(refused)}")
    selection = _test_selection()
    print(f"Starting {sessions} test sessions")
    workers = _start(sessions, selection)
    if measured is None:
        print(f"Measuring the {len(workers[0].tests)} tests on the original code ({_minutes(started)})")
        measured = measure(workers, digest)
    else:
        print("The tests' times and lines: kept from the last run (nothing they depend on changed)")
    seconds, lines = measured
    executed = {file: {int(number): tests for number, tests in by.items()} for file, by in lines.items()}
    plan = Plan(seconds, executed, MUTANTS, most_tests=most_tests)
    history = History(plan)
    if history.unreadable:
        print(f"    {HISTORY}: lines {history.unreadable} are not verdicts (a merge's leftovers?): left out")
    tested = sorted(m for m in everything if m not in refused)
    # A mutant a FRESH run chose runs again (its verdict kept until then); any other that holds is taken over.
    taken = _take_over(history, tested, results, plan, again=chosen if fresh else set())
    results.history = history  # from now on each verdict goes to the history too
    results.save()
    print(f"    still holding in {HISTORY}: {_counted(results.counts, KEPT)}")
    mutants = [m for m in tested if m in chosen and m not in taken]
    results.counts.clear()
    if not mutants:
        print(f"Done: no mutant to run ({_minutes(started)})")
        return 0
    _check_mutants_are_active(workers[0], plan)
    print(f"Running {len(mutants)} mutants ({_minutes(started)})")
    todo: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
    for mutant in sorted(mutants):  # a function's mutants together: its killers are tried first
        todo.put((mutant, 0))
    threads = [
        threading.Thread(target=_run_mutants, args=(worker, todo, plan, results, selection, number))
        for number, worker in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=30 / len(threads))
            results.save()
            _progress(results, len(mutants), started)
    finally:
        _end_sessions()  # at the end each has stopped already; after Ctrl-C this unblocks their threads
        for thread in threads:
            thread.join()
        results.save()
    if sum(results.counts.values()) < len(mutants):
        print(f"Stopped after {sum(results.counts.values())} of {len(mutants)} mutants ({_minutes(started)})")
        return 1
    print(f"Done: {len(mutants)} mutants in {_minutes(started)}")
    return 0


def _take_over(
    history: History, mutants: list[str], results: Results, plan: Plan, *, again: set[str]
) -> set[str]:
    """Record each earlier verdict on these mutants that still holds, but for those to run `again`. Every
    earlier killer still among the tests goes first against its mutant's neighbours, the kill holding or
    not: it is the likeliest killer."""
    earlier = {mutant: kept for mutant in mutants if (kept := history.earlier(mutant)) is not None}
    for mutant, kept in earlier.items():
        if kept.get("verdict") == mutation_history.KILLED and kept.get("killer") in plan.seconds:
            plan.killed(mutant, kept["killer"])
    taken = set()
    for mutant, kept in earlier.items():  # after the killers: they choose a capped survivor's first tests
        if mutant not in again and history.holds(mutant, kept):
            how: dict[str, Any] = {key: kept[key] for key in ("killer", "planned", "reaching") if key in kept}
            results.record(mutant, EXIT_CODE[kept["verdict"]], {"seconds": 0.0, "taken_over": True, **how})
            taken.add(mutant)
    return taken


def _counted(counts: Counter[int], names: dict[int, str]) -> str:
    return ", ".join(f"{counts[code]} {name}" for code, name in names.items())


def _start(sessions: int, selection: list[str]) -> list[Worker]:
    def start(number: int) -> Worker:
        return Worker(number, selection)

    return _in_each_session(start, sessions, "a test session did not start")


def _in_each_session(work: Callable[[int], T], sessions: int, failure: str) -> list[T]:
    """work(0) ... work(sessions - 1) at once, one thread each; the run stops if a session ends meanwhile."""
    with ThreadPoolExecutor(sessions) as pool:
        futures = [pool.submit(work, number) for number in range(sessions)]
    try:
        return [future.result() for future in futures]
    except SessionEnded as ended:
        raise SystemExit(f"{failure} ({ended}): see mutants/worker-*.log") from ended


def _check_mutants_are_active(worker: Worker, plan: Plan) -> None:
    """mutmut's own check: with its `fail` mutant active, every mutated function raises, so a test fails."""
    test = plan.fastest_reaching_test()
    if worker.try_mutant("fail", [test], plan.seconds)["killer"] is None:
        raise SystemExit(f"{test} passed with every mutated function failing: the mutants are not active")


def _run_mutants(
    worker: Worker | None,
    todo: queue.SimpleQueue[tuple[str, int]],
    plan: Plan,
    results: Results,
    selection: list[str],
    number: int,
) -> None:
    """Take mutants until none are left or the run stops; start a new session when one ends. A mutant whose
    session ends, or whose killing test fails on the original code too, is tried once more in a new session
    before it is recorded as a timeout, or as suspicious."""
    while not STOPPING.is_set():
        try:
            mutant, tries = todo.get_nowait()
        except queue.Empty:
            break
        tests = plan.tests(mutant)
        if not tests:
            results.record(mutant, NO_TESTS, {"seconds": 0.0})
            continue
        worker = worker or _new_session(number, selection)
        if worker is None:
            break
        started = time.monotonic()
        try:
            verdict = worker.try_mutant(mutant, tests, plan.seconds)
        except SessionEnded as ended:
            worker.kill()
            worker = None
            if STOPPING.is_set():
                break
            details = {"seconds": time.monotonic() - started, "ended": str(ended)}
            if not tries:
                print(f"    {mutant}: {ended}; trying it again in a new session")
                todo.put((mutant, tries + 1))
            else:
                results.record(mutant, TIMEOUT if isinstance(ended, SessionTimedOut) else SUSPICIOUS, details)
            continue
        verdict |= {"planned": len(tests), "reaching": len(plan.reaching(mutant)), "tried": tests}
        if verdict["killer"] is None:
            results.record(mutant, SURVIVED, verdict)
        elif verdict["passes_on_original"]:
            plan.killed(mutant, verdict["killer"])
            results.record(mutant, KILLED, verdict)
        else:
            print(f"    {mutant}: {verdict['killer']} fails on the original code too; starting a new session")
            worker.kill()
            worker = None
            if tries:
                results.record(mutant, SUSPICIOUS, verdict)
            else:
                todo.put((mutant, tries + 1))
    if worker:
        worker.stop()


def _new_session(number: int, selection: list[str]) -> Worker | None:
    """A session in place of one that ended; None, and the run stops, when it cannot start (its mutant is not
    the cause: it has none yet)."""
    try:
        return Worker(number, selection)
    except SessionEnded as ended:
        if not STOPPING.is_set():
            print(f"    a new session did not start ({ended}), see mutants/worker-{number}.log: stopping")
            STOPPING.set()
        return None


def _progress(results: Results, total: int, started: float) -> None:
    done = sum(results.counts.values())
    c = results.counts
    print(
        f"    {done}/{total} ({_minutes(started)}): {c[KILLED]} killed, {c[SURVIVED]} survived, "
        f"{c[NO_TESTS]} no tests, {c[TIMEOUT]} timeouts, {c[SUSPICIOUS]} suspicious",
        flush=True,
    )


def _minutes(started: float) -> str:
    elapsed = time.monotonic() - started
    return f"{int(elapsed // 60)} min {int(elapsed % 60):02d} s"


def _at_least_zero(text: str) -> int:
    number = int(text)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{number} is below 0")
    return number


def main(argv: list[str]) -> int:
    if argv[:1] != ["run"]:
        # mutmut's other commands (show, results, apply, browse) read mutants/ as they are.
        _mutmut().cli.main(args=argv, prog_name="mutmut")
        return 0
    parser = argparse.ArgumentParser(prog="python -m local.mutate run", description=__doc__.splitlines()[0])
    parser.add_argument("patterns", nargs="*", help="mutants to run (again), e.g. 'billing.cards.*'")
    parser.add_argument("--sessions", type=int, default=os.cpu_count() or 2, help="test sessions at once")
    parser.add_argument(
        "--most-tests",
        type=_at_least_zero,
        default=MOST_TESTS,
        help=f"tests a mutant runs at most beside its module's own (default {MOST_TESTS}; 0: every test)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help=f"run the chosen mutants again whatever {HISTORY} says, after measuring every test again",
    )
    args = parser.parse_args(argv[1:])
    return run(args.patterns, args.sessions, args.most_tests or None, args.fresh)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
