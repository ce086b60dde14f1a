"""The verdicts of earlier runs of `make mutate` that still hold (tests/mutation-history.jsonl, checked in).

A whole run takes hours on two cores; a change touches a few functions and a few test files. So each verdict
is kept with what it was reached with, and a later run takes it over instead of running the mutant again,
by the rules of StrykerJS's incremental mode (https://stryker-mutator.io/docs/stryker-js/incremental):

- a mutant is the same when its function's text, with the mutation, is the same (mutmut's numbers shift);
- a kill holds while the test that killed it still executes the mutated code and its code has not changed
  (the code it runs from its file: itself and the top-level definitions it names, so that a test, a helper
  or an import added beside it for another test changes nothing);
- a survivor (or a mutant no test reaches) holds while the tests that execute the mutated code are the same
  tests, their code unchanged: whatever the cap, when it ran every one of them; when it ran fewer (the cap,
  MOST_TESTS), while the cap is no higher than it ran under and the tests that killed other mutants of its
  function and that it would run now (they go first, latest first, up to the cap) are among those it passed.
  The rest of its first tests are not compared: their order depends on the measured times (ties), which
  vary from run to run, and on the module's other killers, which grow with every run; a survivor that ran
  them once is not run again for that.

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
        self._test_files: dict[str, _TestFile] = {}  # each test file parsed once
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
        if verdict not in (SURVIVED, NO_TESTS):
            return False
        passed = kept.get("tried")
        if passed is None:  # it passed every test that reaches it: whatever the cap, it would again
            return kept.get("tests") == self._tests_hash(mutant, len(self._plan.reaching(mutant)))
        ran, runs = kept.get("planned", 0), len(self._plan.tests(mutant))
        return (
            ran >= runs  # a cap as high as the one it ran under, or lower
            and kept.get("tests") == self._tests_hash(mutant, ran)
            and isinstance(passed, list)
            and all(_hash([test]) in passed for test in self._plan.first_killers(mutant))
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
            tried = details.get("tried", [])
            entry = {"mutant": identity, "verdict": verdict, "tests": self._tests_hash(mutant, len(tried))}
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

    def _tests_hash(self, mutant: str, runs: int) -> str:
        """The tests that execute the mutated code, each with its code, and how many of them it ran."""
        reaching = sorted(self._plan.reaching(mutant))
        return _hash([f"runs {runs}", *(f"{test}\0{self._test_hash(test)}" for test in reaching)])

    def _test_hash(self, test: str) -> str:
        """The test's code as this run has it (in mutants/): what it runs from its file (`own_code`), so
        that a test or a helper added beside it, or another one changed, leaves its verdicts standing."""
        file, _, name = test.partition("::")
        function = name.partition("[")[0]  # a parametrized test's cases share its code
        key = f"{file}::{function}"
        if key not in self._test_hashes:
            if file not in self._test_files:
                text = (self._plan.mutants_dir / file).read_text(encoding="utf-8")
                self._test_files[file] = _TestFile(text)
            self._test_hashes[key] = _hash([self._test_files[file].own_code(function)])
        return self._test_hashes[key]


def _hash(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


class _TestFile:
    """A test file's top-level statements, read once for all its tests: what each binds, and what applies to
    every test."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._lines = text.splitlines()
        self._definitions: dict[str, list[ast.stmt | str]] = {}  # a name -> what binds it
        self._always: list[ast.stmt | str] = []
        for node in ast.parse(text).body:
            bound = _bound_names(node)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue  # a docstring
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name, line in _imports(node):
                    if name == "*" or line.startswith("from __future__ "):
                        self._always.append(line)
                    else:
                        self._definitions.setdefault(name, []).append(line)
            elif bound is None or "pytestmark" in bound or _applies_to_every_test(node, bound):
                self._always.append(node)
            else:
                for name in bound:
                    self._definitions.setdefault(name, []).append(node)

    def own_code(self, test: str) -> str:
        """The code `test` runs from the file: the test function (for a test in a class, `Class::test`: the
        class whole), the file's top-level definitions it names, what those name in turn, and what applies to
        every test: `pytestmark`, pytest's hooks (`pytest_*`, `setup_*`, `teardown_*`), an autouse fixture, a
        star import, a statement that binds no plain name. A name counts wherever it appears: in the code, as
        a parameter (a fixture, also by its `name=`), or as a string (`usefixtures("…")`). Each imported name
        is a definition of its own, so an import added for another test changes nothing. In the file's order;
        the whole file when the test is no `def` or `class` of it."""
        owner = test.partition("::")[0]  # the test function, or its class
        roots = self._definitions.get(owner, [])
        if not any(getattr(node, "name", None) == owner for node in roots):
            return self._text  # a test bound otherwise (an assignment, an import): all of it
        kept: list[ast.stmt | str] = [*self._always, *roots]
        pending = [name for node in kept if not isinstance(node, str) for name in _named(node)]
        seen = {owner}
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            for definition in self._definitions.get(name, []):
                if definition not in kept:
                    kept.append(definition)
                    pending.extend(_named(definition) if not isinstance(definition, str) else ())
        placed = sorted((_source(item, self._lines), index) for index, item in enumerate(kept))
        return "\n\n".join(code for (_, code), _ in placed)


def _source(item: ast.stmt | str, lines: list[str]) -> tuple[int, str]:
    """Where a kept statement starts (an import line: before the rest), and its text."""
    if isinstance(item, str):
        return 0, item
    first = min([item.lineno, *(decorator.lineno for decorator in getattr(item, "decorator_list", []))])
    return first, "\n".join(lines[first - 1 : item.end_lineno])


def _applies_to_every_test(node: ast.stmt, bound: set[str]) -> bool:
    """pytest calls it for every test of the file by its name (a hook), or it is an autouse fixture."""
    if any(name.startswith(("pytest_", "setup_", "teardown_")) for name in bound):
        return True
    return any(
        keyword.arg == "autouse" and not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
        for decorator in getattr(node, "decorator_list", [])
        if isinstance(decorator, ast.Call)
        for keyword in decorator.keywords
    )


def _imports(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """Each name the import binds, with an import of that name alone (`*` for a star import)."""
    source = f"from {'.' * node.level}{node.module or ''} " if isinstance(node, ast.ImportFrom) else ""
    return [
        ((alias.asname or alias.name).partition(".")[0], f"{source}import {alias.name}")
        if alias.asname is None
        else (alias.asname, f"{source}import {alias.name} as {alias.asname}")
        for alias in node.names
    ]


def _bound_names(node: ast.stmt) -> set[str] | None:
    """The plain names a top-level statement binds (a fixture also by its `name=`); None for one that binds
    none, or binds more than names (an `if`, a call, `os.environ[...] = ...`): it applies to every test."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        aliases = {
            keyword.value.value
            for decorator in node.decorator_list
            if isinstance(decorator, ast.Call)
            for keyword in decorator.keywords
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
        }
        return {node.name, *(alias for alias in aliases if isinstance(alias, str))}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    parts = [part for target in targets for part in ast.walk(target) if isinstance(part, ast.expr)]
    plain = ast.Name | ast.Tuple | ast.List | ast.Starred
    if not parts or not all(isinstance(part, plain) for part in parts):
        return None
    return {part.id for part in parts if isinstance(part, ast.Name)}


def _named(node: ast.AST) -> set[str]:
    """Every name the code mentions: as a name, a parameter, or a string that could name a fixture."""
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value.isidentifier():
            names.add(child.value)
    return names


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
