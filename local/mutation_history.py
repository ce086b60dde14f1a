"""The verdicts of earlier runs of `make mutate` that still hold (tests/mutation-history.jsonl, checked in).

A whole run takes hours on two cores; a change touches a few functions and a few test files. So each verdict
is kept with what it was reached with, and a later run takes it over instead of running the mutant again,
by the rules of StrykerJS's incremental mode (https://stryker-mutator.io/docs/stryker-js/incremental):

- a mutant is the same when its function's text, with the mutation, is the same (mutmut's numbers shift);
- a kill holds while the test that killed it still executes the mutated code and its code has not changed
  (its file, less the file's other test functions: a test added beside it changes nothing);
- a survivor (or a mutant no test reaches) holds while the tests that execute the mutated code are the same
  tests, their code unchanged, and a mutant may run as many of them as before.

What neither rule sees: a change elsewhere (another function, a fixture, the emulator) that makes a test blind
to a mutant it killed. `make mutate FRESH=1` runs every mutant again and writes the history anew.

One verdict a line, sorted, so that a change to the history shows as the mutants whose verdicts changed:

    {"mutant": "billing.cards.x_brand@3f2a…", "verdict": "killed", "killer": "tests/…::test_a", "code": "9c…"}
    {"mutant": "billing.cards.x_shows@77b0…", "verdict": "survived", "tests": "51d4…", "planned": 5, …}
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from local.mutation_plan import Plan

HISTORY = Path("tests/mutation-history.jsonl")

KILLED, SURVIVED, NO_TESTS = "killed", "survived", "no tests"  # the verdicts that are kept (not timeouts)


class History:
    """The kept verdicts, and the verdicts of this run as it reaches them."""

    def __init__(self, plan: Plan, path: Path = HISTORY) -> None:
        """`plan`: this run's mutants and the tests that reach each."""
        self._plan = plan
        self._path = path
        self._kept: dict[str, dict[str, Any]] = _read(path) if path.exists() else {}
        self._now: dict[str, dict[str, Any]] = {}
        self._test_hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    def take_over(self, mutant: str) -> dict[str, Any] | None:
        """An earlier verdict on this mutant that still holds (it now belongs to this run), or None."""
        identity = self._plan.identity(mutant)
        kept = self._kept.get(identity)
        if kept is None:
            return None
        if kept["verdict"] == KILLED:
            killer = kept["killer"]
            holds = killer in self._plan.reaching(mutant) and kept["code"] == self._test_hash(killer)
        else:
            holds = kept["tests"] == self._tests_hash(mutant)
        if not holds:
            return None
        with self._lock:
            self._now[identity] = kept
        return kept

    def add(self, mutant: str, verdict: str | None, details: dict[str, Any]) -> None:
        """A verdict this run reached, with the killer of a kill or how many tests a survivor passed of how
        many reach it; None for one that is not kept (a timeout, a suspicious mutant), which runs again next
        time. Neither is a kill by a test that does not execute the mutated code (a late exception's):
        nothing would tell when it stops holding."""
        identity = self._plan.identity(mutant)
        entry: dict[str, Any] | None = None
        if verdict == KILLED and details["killer"] in self._plan.reaching(mutant):
            killer = details["killer"]
            entry = {"mutant": identity, "verdict": KILLED, "killer": killer, "code": self._test_hash(killer)}
        elif verdict in (SURVIVED, NO_TESTS):
            entry = {"mutant": identity, "verdict": verdict, "tests": self._tests_hash(mutant)}
            entry |= {key: details[key] for key in ("planned", "reaching") if key in details}
        with self._lock:
            if entry is None:
                self._now.pop(identity, None)
            else:
                self._now[identity] = entry

    def save(self) -> None:
        """This run's verdicts, taken over or reached (an earlier one that no longer holds is gone)."""
        with self._lock:
            lines = [json.dumps(self._now[key], ensure_ascii=False) + "\n" for key in sorted(self._now)]
        partial = self._path.with_suffix(".partial")
        partial.write_text("".join(lines), encoding="utf-8")
        partial.replace(self._path)

    def _tests_hash(self, mutant: str) -> str:
        """The tests that execute the mutated code, each with its code, and how many of them a mutant runs."""
        digest = hashlib.sha256(f"at most {self._plan.most_tests} tests\0".encode())
        for test in sorted(self._plan.reaching(mutant)):
            digest.update(f"{test}\0{self._test_hash(test)}\0".encode())
        return digest.hexdigest()[:16]

    def _test_hash(self, test: str) -> str:
        """The test's code as this run has it (in mutants/): its file without the file's other test
        functions, so that a test added beside it, or another one changed, leaves its verdicts standing."""
        file, _, name = test.partition("::")
        function = name.partition("[")[0]  # a parametrized test's cases share its code
        key = f"{file}::{function}"
        if key not in self._test_hashes:
            code = _without_other_tests((self._plan.mutants_dir / file).read_text(encoding="utf-8"), function)
            self._test_hashes[key] = hashlib.sha256(code.encode()).hexdigest()[:16]
        return self._test_hashes[key]


def _without_other_tests(text: str, test: str) -> str:
    """The file's text without its test functions other than `test` (for a test in a class, `Class::test`:
    without all of them, the class whole)."""
    others: set[int] = set()
    for node in ast.parse(text).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name.startswith("test") and node.name != test:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            assert node.end_lineno is not None, "ast.parse gives every statement its end"
            others |= set(range(first, node.end_lineno + 1))
    kept = (line for number, line in enumerate(text.splitlines(), start=1) if number not in others)
    return "\n".join(line for line in kept if line.strip())  # the blank lines around them went too


def _read(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return {entry["mutant"]: entry for entry in map(json.loads, lines)}
