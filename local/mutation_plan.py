"""Which tests can kill a mutant, and in which order to run them (`make mutate`).

A mutant changes one place in one function. A test that never executes that place cannot tell the mutant from
the original, so only the tests that execute the statement holding the change are run: the module's own tests,
and at most a few others; the likeliest to kill it first (those that killed its neighbours, the module's own,
those that ran more of its function), then the fastest. Which lines each test executes is measured once, on
the original code, in mutmut's copy of the file (mutants/), where each function's original is
`<name>__mutmut_orig` and each mutant `<name>__mutmut_<n>` beside it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

MUTANTS = Path("mutants")  # mutmut's copy of the project, with the mutants
CODE_ROOT = Path("functions")  # the mutated package is mutants/functions/billing
VERDICTS = MUTANTS / "verdicts.jsonl"  # each verdict of local/mutate.py and how it was reached, one a line

Function = ast.FunctionDef | ast.AsyncFunctionDef


def read_verdicts(path: Path = VERDICTS) -> list[dict[str, Any]]:
    """Every verdict line of a run, oldest first (a line cut off by a run that was stopped is left out)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.endswith("\n")]


def source_file(mutant: str) -> Path:
    """billing.keys.xǁSecretsǁread__mutmut_1 -> functions/billing/keys.py (a package's __init__.py)."""
    path = CODE_ROOT.joinpath(*_module(mutant).split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _module(mutant: str) -> str:
    """billing.keys.xǁSecretsǁread__mutmut_1 -> billing.keys"""
    return mutant.rpartition(".")[0]


def module_of(path: Path) -> str:
    """functions/billing/portone/client.py -> billing.portone.client (a package's __init__.py: the package)"""
    parts = path.relative_to(CODE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def function_of(mutant: str) -> str:
    """billing.keys.xǁSecretsǁread__mutmut_1 -> billing.keys.xǁSecretsǁread: the mutants of one function."""
    return mutant.rpartition("__mutmut_")[0]


class MutatedFile:
    """One file of mutants/: the original of each mutated function and its mutants, as mutmut wrote them."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self._functions: dict[str, Function] = {
            node.name: node
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }

    def mutant_at(self, line: int) -> str | None:
        """The mutant (its function's name in the file) whose code holds `line`, or None outside mutants."""
        return next(
            (
                name
                for name, node in self._functions.items()
                if "__mutmut_" in name
                and not name.endswith("__mutmut_orig")
                and node.lineno <= line <= _end(node)
            ),
            None,
        )

    def original_lines(self) -> set[int]:
        """The lines of every mutated function's original."""
        return {
            line
            for name, node in self._functions.items()
            if name.endswith("__mutmut_orig")
            for line in range(node.lineno, _end(node) + 1)
        }

    def function_lines(self, mutant: str) -> range:
        """The lines of the original of the mutant's function."""
        original = self._original(mutant)
        return range(original.lineno, _end(original) + 1)

    def reached_by(self, mutant: str) -> set[int]:
        """The lines of the original function of which executing any shows that the mutated code would run.

        These are the lines of each statement the mutant changed, without the statements nested in it; for a
        change in the signature (a default value), every line of the function.
        """
        original = self._original(mutant)
        reached: set[int] = set()
        for line in self._changed_lines(original, self._functions[mutant.rpartition(".")[2]]):
            if line < original.body[0].lineno:
                return set(self.function_lines(mutant))
            reached |= _own_lines(_innermost_statement(original, line))
        return reached

    def fingerprint(self, mutant: str) -> str:
        """What the mutant is, whatever mutmut numbered it: a hash of its function's text under the original's
        name (a changed function changes the text of each of its mutants)."""
        name = mutant.rpartition(".")[2]
        original_name = name.rpartition("__mutmut_")[0]
        text = "\n".join(self._text(self._functions[name]))
        text = text.replace(f"def {name}(", f"def {original_name}(", 1)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _original(self, mutant: str) -> Function:
        return self._functions[mutant.rpartition(".")[2].rpartition("__mutmut_")[0] + "__mutmut_orig"]

    def _changed_lines(self, original: Function, mutant: Function) -> set[int]:
        """Line numbers, in the original function, of the lines the mutant changed."""
        before = self._text(original)
        renamed = f"def {original.name}("
        after = [line.replace(f"def {mutant.name}(", renamed, 1) for line in self._text(mutant)]
        changed: set[int] = set()
        for tag, start, end, _, _ in SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
            if tag != "equal":
                # A pure insertion changes none of the original's lines: count the lines around it.
                around = {max(start - 1, 0), min(start, len(before) - 1)}
                changed |= set(range(start, end)) if end > start else around
        return {original.lineno + index for index in changed}

    def _text(self, function: Function) -> list[str]:
        return self.lines[function.lineno - 1 : _end(function)]


def _is_own(test: str, module: str) -> bool:
    """test_records.py and test_records_store.py hold billing.records's own tests, test_recordings.py not;
    test_portone_client.py holds billing.portone.client's (test_client.py would not: test_errors.py is
    billing.errors's, not billing.portone.errors's)."""
    stem = Path(test.partition("::")[0]).stem
    own = "test_" + "_".join(module.split(".")[1:])
    return stem == own or stem.startswith(own + "_")


def _end(node: ast.AST) -> int:
    end = getattr(node, "end_lineno", None)
    assert end is not None, "ast.parse gives every statement its end"
    return int(end)


def _innermost_statement(function: Function, line: int) -> ast.stmt:
    holding = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.stmt) and node is not function and node.lineno <= line <= _end(node)
    ]
    return max(holding, key=lambda node: (node.lineno, -_end(node)))


def _own_lines(statement: ast.stmt) -> set[int]:
    own = set(range(statement.lineno, _end(statement) + 1))
    for node in ast.walk(statement):
        if isinstance(node, ast.stmt) and node is not statement:
            own -= set(range(node.lineno, _end(node) + 1))
    return own


class Plan:
    """The tests to run against each mutant, from the lines each test executed on the original code."""

    def __init__(
        self,
        seconds: dict[str, float],
        lines: Mapping[str, Mapping[int, Iterable[str]]],
        mutants_dir: Path,
        *,
        most_tests: int | None = None,
    ) -> None:
        """`seconds`: each test's measured time; `lines`: for each file under functions/, the tests that ran
        each of its lines; `most_tests`: how many tests beside its module's own a mutant runs at most (None:
        every test that reaches it)."""
        self.seconds = seconds
        self.most_tests = most_tests
        self._lines = lines
        self.mutants_dir = mutants_dir
        self._files: dict[Path, MutatedFile] = {}
        self._killers: dict[str, list[str]] = {}  # function -> tests that killed its mutants, latest first
        self._module_killers: dict[str, set[str]] = {}  # module -> tests that killed any of its mutants
        self._reached: dict[str, set[str]] = {}  # mutant -> tests that execute its change
        self._breadths: dict[str, Counter[str]] = {}  # function -> lines of it each test executed
        self._lock = threading.Lock()  # one plan serves every session's thread

    def tests(self, mutant: str) -> list[str]:
        """The tests that execute the mutated code: first those that killed this function's other mutants
        (latest first), then the module's own tests (test_<module>.py or test_<module>_*.py, the module named
        by its path under billing: test_portone_client.py for billing.portone.client), then those that killed
        other mutants of its module, then the rest. Every one of its own tests (written for it, and usually
        quick), and at most `most_tests` others, its function's killers first. In each group the tests that
        run more of the function's lines go first (a survivor's killer tends to be the test that takes the
        rare branch, not the fastest one), then the fastest. Empty when no test executes it."""
        reaching = self._reaching(mutant)
        first = self.first_killers(mutant)
        own = {test for test in reaching if _is_own(test, _module(mutant))} - set(first)
        with self._lock:
            neighbours = self._module_killers.get(_module(mutant), set()) & reaching - set(first) - own
        rest = reaching - set(first) - own - neighbours
        breadth = self._breadth(mutant)
        own_ranked, neighbours_ranked, rest_ranked = (
            sorted(group, key=lambda test: (-breadth[test], *self._speed(test)))
            for group in (own, neighbours, rest)
        )
        others = neighbours_ranked + rest_ranked
        if self.most_tests:
            others = others[: self.most_tests - len(first)]
        return first + own_ranked + others

    def first_killers(self, mutant: str) -> list[str]:
        """The tests that killed other mutants of its function and execute its change, latest first, as many
        as the cap lets it run."""
        reaching = self._reaching(mutant)
        with self._lock:
            killers = [test for test in self._killers.get(function_of(mutant), []) if test in reaching]
        return killers[: self.most_tests] if self.most_tests else killers

    def reaching(self, mutant: str) -> frozenset[str]:
        """Every test that executes the mutated code."""
        return frozenset(self._reaching(mutant))

    def identity(self, mutant: str) -> str:
        """The mutant across runs: its function's name and its fingerprint (mutmut's numbers shift when the
        function changes)."""
        return f"{function_of(mutant)}@{self._file(source_file(mutant)).fingerprint(mutant)}"

    def killed(self, mutant: str, test: str) -> None:
        """Remember the test that killed `mutant`: a function's mutants, and a module's, tend to fall to the
        same tests."""
        with self._lock:
            killers = self._killers.setdefault(function_of(mutant), [])
            if test in killers:
                killers.remove(test)
            killers.insert(0, test)
            self._module_killers.setdefault(_module(mutant), set()).add(test)

    def _reaching(self, mutant: str) -> set[str]:
        if mutant not in self._reached:
            executed = self._executed(mutant)
            lines = self._file(source_file(mutant)).reached_by(mutant)
            self._reached[mutant] = {test for line in lines for test in executed.get(line, ())}
        return self._reached[mutant]

    def _breadth(self, mutant: str) -> Counter[str]:
        """How many lines of the mutant's function each test executed."""
        function = function_of(mutant)
        if function not in self._breadths:
            executed = self._executed(mutant)
            lines = self._file(source_file(mutant)).function_lines(mutant)
            self._breadths[function] = Counter(test for line in lines for test in executed.get(line, ()))
        return self._breadths[function]

    def _executed(self, mutant: str) -> Mapping[int, Iterable[str]]:
        """The tests that executed each line of the mutant's file, on the original code."""
        return self._lines.get(str(source_file(mutant).relative_to(CODE_ROOT)), {})

    def _speed(self, test: str) -> tuple[float, str]:
        return self.seconds[test], test

    def _file(self, path: Path) -> MutatedFile:
        if path not in self._files:
            self._files[path] = MutatedFile((self.mutants_dir / path).read_text(encoding="utf-8"))
        return self._files[path]

    def fastest_reaching_test(self) -> str:
        """The fastest test that runs the original of a mutated function (a test that runs only module-level
        code, or functions mutmut leaves alone, calls no trampoline)."""
        reaching = {
            test
            for file, by_line in self._lines.items()
            for line in self._file(CODE_ROOT / file).original_lines()
            for test in by_line.get(line, ())
        }
        return min(reaching, key=self._speed)
