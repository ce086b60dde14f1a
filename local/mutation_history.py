"""The verdicts of earlier runs of `make mutate` that still hold (tests/mutation-history.jsonl, checked in).

A whole run takes hours on two cores; a change touches a few functions and a few test files. So each verdict
is kept with what it was reached with, and a later run takes it over instead of running the mutant again,
by the rules of StrykerJS's incremental mode (https://stryker-mutator.io/docs/stryker-js/incremental):

- a mutant is the same when its function's text, with the mutation, is the same (mutmut's numbers shift);
- a kill holds while the test that killed it still executes the mutated code and its code has not changed
  (its file, less the file's other test functions: a test added beside it changes nothing);
- a survivor (or a mutant no test reaches) holds while the tests that execute the mutated code are the same
  tests, their code unchanged, and a mutant still runs as many of them; when that is fewer than reach it
  (MOST_TESTS), while the tests that killed other mutants of its function and that it would run now (they go
  first, latest first, up to the cap) are among the tests it passed. The rest of its first tests are not
  compared: their order depends on the measured times (ties), which vary from run to run, and on the
  module's other killers, which grow with every run; a survivor that ran them once is not run again for
  that.

What the rules do not see: a change elsewhere (another function, a fixture, the emulator, this tooling, the
tools' versions) that makes a test blind to a mutant it killed. `make mutate FRESH=1` runs the mutants again.
A verdict stays in the history until a run reaches another for its mutant, whether or not it still holds
(a run of one module, or one stopped half-way, leaves the others as they were); a mutant that no longer
exists leaves with it.

One verdict a line, sorted, so that a change to the history shows as the mutants whose verdicts changed:

    {"mutant": "billing.cards.x_brand@3f2a…", "verdict": "killed", "killer": "tests/…::test_a", "code": "9c…"}
    {"mutant": "billing.cards.x_shows@77b0…", "verdict": "survived", "tests": "51d4…", "tried": ["e0…", …], …}
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from local.mutation_plan import Plan

HISTORY = Path("tests/mutation-history.jsonl")

KILLED, SURVIVED, NO_TESTS = "killed", "survived", "no tests"  # the verdicts that are kept (not timeouts)


class History:
    """The verdicts kept, and the verdicts of this run as it reaches them."""

    def __init__(self, plan: Plan, path: Path = HISTORY) -> None:
        """`plan`: this run's mutants and the tests that reach each."""
        self._plan = plan
        self._path = path
        self._kept, self.unreadable = _read(path)
        self._now: dict[str, dict[str, Any]] = {}
        self._test_hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    def earlier(self, mutant: str) -> dict[str, Any] | None:
        """The kept verdict on this mutant, whether or not it still holds: it stays in the history until this
        run reaches another."""
        identity = self._plan.identity(mutant)
        kept = self._kept.get(identity)
        if kept is not None:
            with self._lock:
                self._now.setdefault(identity, kept)
        return kept

    def holds(self, mutant: str, kept: dict[str, Any]) -> bool:
        """Whether an earlier verdict on this mutant holds for this run's code and tests (after the earlier
        kills have been told to the plan: a capped mutant's first tests depend on them)."""
        verdict = kept.get("verdict")
        if verdict == KILLED:
            killer = kept.get("killer")
            return killer in self._plan.reaching(mutant) and kept.get("code") == self._test_hash(killer)
        if verdict not in (SURVIVED, NO_TESTS) or kept.get("tests") != self._tests_hash(mutant):
            return False
        runs = len(self._plan.tests(mutant))
        if runs == len(self._plan.reaching(mutant)):
            return "tried" not in kept  # it ran every test that reaches it
        passed = kept.get("tried")
        return isinstance(passed, list) and all(
            _hash([test]) in passed for test in self._plan.killers_of(mutant)[:runs]
        )

    def add(self, mutant: str, verdict: str | None, details: dict[str, Any]) -> None:
        """A verdict this run reached: a kill with its killer, a survivor with the tests it passed (`tried`)
        and how many reach it; None for one that is not kept (a timeout, a suspicious mutant), which runs
        again next time. Neither is a kill by a test that does not execute the mutated code (a late
        exception's): nothing would tell when it stops holding."""
        identity = self._plan.identity(mutant)
        entry: dict[str, Any] | None = None
        if verdict == KILLED and details["killer"] in self._plan.reaching(mutant):
            killer = details["killer"]
            entry = {"mutant": identity, "verdict": KILLED, "killer": killer, "code": self._test_hash(killer)}
        elif verdict in (SURVIVED, NO_TESTS):
            entry = {"mutant": identity, "verdict": verdict, "tests": self._tests_hash(mutant)}
            tried = details.get("tried", [])
            if len(tried) < len(self._plan.reaching(mutant)):
                passed = sorted(_hash([test]) for test in tried)
                entry |= {"tried": passed, "planned": len(tried), "reaching": details["reaching"]}
        with self._lock:
            if entry is None:
                self._now.pop(identity, None)
            else:
                self._now[identity] = entry

    def save(self) -> None:
        """The verdicts of this run's mutants: reached by it, or kept (a mutant that is gone is left out)."""
        with self._lock:
            lines = [json.dumps(self._now[key], ensure_ascii=False) + "\n" for key in sorted(self._now)]
        partial = self._path.with_suffix(".partial")
        partial.write_text("".join(lines), encoding="utf-8")
        partial.replace(self._path)

    def _tests_hash(self, mutant: str) -> str:
        """The tests that execute the mutated code, each with its code, and how many of them a mutant runs."""
        reaching = sorted(self._plan.reaching(mutant))
        runs = len(reaching) if self._plan.most_tests is None else min(self._plan.most_tests, len(reaching))
        return _hash([f"runs {runs}", *(f"{test}\0{self._test_hash(test)}" for test in reaching)])

    def _test_hash(self, test: str) -> str:
        """The test's code as this run has it (in mutants/): its file without the file's other test
        functions, so that a test added beside it, or another one changed, leaves its verdicts standing."""
        file, _, name = test.partition("::")
        function = name.partition("[")[0]  # a parametrized test's cases share its code
        key = f"{file}::{function}"
        if key not in self._test_hashes:
            code = _without_other_tests((self._plan.mutants_dir / file).read_text(encoding="utf-8"), function)
            self._test_hashes[key] = _hash([code])
        return self._test_hashes[key]


def _hash(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _without_other_tests(text: str, test: str) -> str:
    """The file's text without its test functions other than `test` and the blank lines after each (for a
    test in a class, `Class::test`: without all of them, the class whole)."""
    lines = text.splitlines()
    others: set[int] = set()  # indexes into lines
    for node in ast.parse(text).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if node.name.startswith("test") and node.name != test:
            first = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
            assert node.end_lineno is not None, "ast.parse gives every statement its end"
            last = node.end_lineno
            while last < len(lines) and not lines[last].strip():
                last += 1
            others |= set(range(first - 1, last))
    return "\n".join(line for index, line in enumerate(lines) if index not in others).rstrip()


def _read(path: Path) -> tuple[dict[str, dict[str, Any]], list[int]]:
    """The kept verdicts by mutant, and the numbers of the lines that are not one (a merge's leftovers)."""
    kept: dict[str, dict[str, Any]] = {}
    unreadable: list[int] = []
    if not path.exists():
        return kept, unreadable
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
            kept[entry["mutant"]] = entry
        except (ValueError, TypeError, KeyError):
            unreadable.append(number)
    return kept, unreadable
