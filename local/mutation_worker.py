"""The pytest side of `make mutate`: a test session that runs the tests it is sent, under mutant after mutant.

mutmut's trampolines pick the active mutant when a mutated function is called, so a session that keeps its
fixtures (moto's server, the PortOne emulator, the Lambda containers) can switch mutants between tests, where
a session per mutant would spend seconds starting them each time. local/mutate.py starts this as

    python -m pytest -p local.mutation_worker <the unit and integration tiers>

in mutants/, with MUTATION_WORKER_FD naming its end of a socket. The session collects the tests and then
answers, one message at a time:

    ("measure", [test, ...])    run each test on the original code, recording the lines of functions/billing
                                that each one executes -> ("measured", {test: seconds}, {test: passed},
                                {file: {line: [test, ...]}})
    ("mutant", name, [test, ...])   run the tests in order under the mutant until one fails, then run that one
                                again on the original code -> ("verdict", {"killer": test or None,
                                "passes_on_original": bool, "tests_run": n, "seconds": s})
    ("stop",)

Before each test it sends ("test", test), which the supervisor's per-test timeout counts from.
"""

from __future__ import annotations

import gc
import os
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest
from _pytest.runner import runtestprotocol
from _pytest.unraisableexception import collect_unraisable
from hypothesis import settings

FD_VARIABLE = "MUTATION_WORKER_FD"
CODE = Path("functions")  # template.yaml's CodeUri, where the tests import billing from


def pytest_runtestloop(session: pytest.Session) -> bool:
    if session.testsfailed:  # as pytest's own loop: a test that cannot be collected is not left out silently
        raise session.Interrupted(f"{session.testsfailed} errors during collection")
    # Examples that failed under one mutant are not replayed against the next (make test starts without them).
    settings.register_profile("mutation", parent=settings(), database=None)
    settings.load_profile("mutation")
    with Connection(int(os.environ[FD_VARIABLE])) as supervisor:
        tests = _Tests(session, supervisor)
        tests.warm_up()
        supervisor.send(("collected", list(tests.items)))
        while (message := supervisor.recv())[0] != "stop":
            if message[0] == "measure":
                supervisor.send(tests.measure(message[1]))
            elif message[0] == "mutant":
                supervisor.send(tests.under_mutant(message[1], message[2]))
            else:
                raise ValueError(f"unknown message {message[0]!r}")
        tests.finish()
    return True


class _Tests:
    def __init__(self, session: pytest.Session, supervisor: Connection) -> None:
        self.session = session
        self.supervisor = supervisor
        self.items = {item.nodeid: item for item in session.items}
        # Tearing down after a test as if this one came next keeps the session's fixtures up between runs.
        self._anchors = list(session.items[:2])

    def warm_up(self) -> None:
        """Set up every session fixture now, on the original code, so that no test's time limit pays for it
        (twenty Lambda containers take a minute to start on two cores)."""
        firsts: dict[str, pytest.Item] = {}
        for item in self.session.items:
            for name, definitions in item._fixtureinfo.name2fixturedefs.items():  # type: ignore[attr-defined]
                if definitions[-1].scope == "session":
                    firsts.setdefault(name, item)
        for item in dict.fromkeys(firsts.values()):
            self._passes(item.nodeid, None, announce=False)
        self._drain()  # raises what the warm-up's garbage raises: this session does not start
        # What the session keeps for good stays out of the collection after each mutant (a fifth of a second).
        gc.freeze()

    def measure(self, tests: list[str]) -> tuple[str, dict[str, float], dict[str, bool], dict[str, Any]]:
        import coverage

        code = (CODE / "billing").resolve()
        measuring = coverage.Coverage(data_file=None, include=[f"{code}/*"], config_file=False)
        seconds: dict[str, float] = {}
        passed: dict[str, bool] = {}
        measuring.start()
        try:
            for position, test in enumerate(tests):
                measuring.switch_context(test)
                start = perf_counter()
                passed[test] = self._passes(test, _after(tests, position), report_failure=True)
                seconds[test] = perf_counter() - start
        finally:
            measuring.stop()
        data = measuring.get_data()
        lines = {
            str(Path(file).relative_to(code.parent.resolve())): {
                line: sorted(set(contexts) - {""}) for line, contexts in data.contexts_by_lineno(file).items()
            }
            for file in data.measured_files()
        }
        return "measured", seconds, passed, lines

    def under_mutant(self, mutant: str, tests: list[str]) -> tuple[str, dict[str, Any]]:
        from mutmut.mutation.trampoline import set_mutant_under_test

        start = perf_counter()
        set_mutant_under_test(mutant)
        ran = 0
        killer = None
        try:
            for position, test in enumerate(tests):
                ran += 1
                if not self._passes(test, _after(tests, position)):
                    killer = test
                    break
            self._drain()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a module fixture's teardown, or a late exception, under the mutant
            killer = killer or f"(after the tests: {type(exc).__name__})"
        finally:
            set_mutant_under_test("")
        verdict: dict[str, Any] = {"tests_run": ran, "seconds": perf_counter() - start, "killer": killer}
        if killer is not None:
            # The kill counts only if the test that failed (after a late exception: the last one run) passes
            # on the original code and leaves nothing behind; else one mutant's leftovers failed it, and the
            # supervisor starts a new session rather than let them kill the next mutant.
            verdict["passes_on_original"] = self._passes_cleanly(tests[ran - 1])
        return "verdict", verdict

    def _drain(self) -> None:
        """End what the tests run so far left behind, so that none of it is pinned on the next test: all but
        the session's fixtures, the function's warm caches, and their garbage (an exception raised while it is
        collected is raised here)."""
        _forget_warm_state()
        self._only_the_session()
        gc.collect()
        collect_unraisable(self.session.config)

    def _passes_cleanly(self, test: str) -> bool:
        try:
            passed = self._passes(test, None)
            self._drain()
        except KeyboardInterrupt:
            raise
        except BaseException:
            return False
        return passed

    def _only_the_session(self) -> None:
        """Tear down all but the session's fixtures."""
        self.session._setupstate.teardown_exact(_SessionOnly(self.session))  # type: ignore[arg-type]

    def _passes(
        self, test: str, following: str | None, *, announce: bool = True, report_failure: bool = False
    ) -> bool:
        if announce:
            self.supervisor.send(("test", test))
        item = self.items[test]
        # pytest sets up only what the previous test's teardown left standing on the way to this one.
        self.session._setupstate.teardown_exact(item)
        after = self.items[following] if following not in (None, test) else None
        after = after or next(anchor for anchor in self._anchors if anchor is not item)
        reports = runtestprotocol(item, log=False, nextitem=after)
        failures = [report for report in reports if report.failed]
        for report in failures if report_failure else []:  # to mutants/worker-<n>.log: why it failed
            print(f"{test} failed in its {report.when}:\n{report.longreprtext}", file=sys.stderr, flush=True)
        return not failures

    def finish(self) -> None:
        self.session._setupstate.teardown_exact(None)


def _after(tests: list[str], position: int) -> str | None:
    """The test that runs after tests[position], if any: pytest tears down only what it does not share."""
    return tests[position + 1] if position + 1 < len(tests) else None


class _SessionOnly:
    """Stands for a next test that needs only the session (what SetupState.teardown_exact asks of one)."""

    def __init__(self, session: pytest.Session) -> None:
        self._session = session

    def listchain(self) -> list[pytest.Session]:
        return [self._session]


def _forget_warm_state() -> None:
    """Empty every cache the function keeps between invocations (a mutant may have filled them wrongly)."""
    for name, module in list(sys.modules.items()):
        if name == "billing" or name.startswith("billing."):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()
