"""The mutation score of the last `make mutate`: killed / total per module, the survivors, the equivalents.

Reads mutmut's results (mutants/**/*.py.meta, one per mutated file) and tests/mutation-equivalents.txt, the
checked-in list of surviving mutants that no test can kill because they behave like the original, each named
as tests/mutation-history.jsonl names it (its function and the hash of its code: mutmut's numbers shift, and a
shifted number would name another mutant), with its reason:

    billing.cards.x_shows@77b0c1d2e3f40516  # `<` or `<=` against a bound the input never reaches

The raw score counts every mutant (killed / all mutants): killed by a test, refused by mypy (`make test`
fails on it before any test runs), or a timeout; equivalents are reported beside it, never subtracted from
it. Exit status 1 when the equivalents file names an unknown mutant or gives no reason, or when the
equivalents are more than 5% of the mutants (the most issue 14 allows).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from local.mutation_plan import CODE_ROOT, MUTANTS, VERDICTS, MutatedFile, function_of, read_verdicts

EQUIVALENTS = Path("tests/mutation-equivalents.txt")
MOST_EQUIVALENT = 0.05  # of all mutants

# mutmut's exit codes (mutmut/stats.py) folded into what the report shows.
KILLED = "killed"
TYPE_ERROR = "mypy"  # refused by mypy as `make lint` runs it: `make test` fails before any test runs
SURVIVED = "survived"
NO_TESTS = "no tests"
TIMEOUT = "timeout"
NOT_CHECKED = "not checked"
OTHER = "other"  # suspicious, segfault, interrupted: look at `python -m local.mutate results`
_STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    None: NOT_CHECKED,
    0: SURVIVED,
    1: KILLED,
    3: KILLED,  # pytest's internal error: mutmut counts it as killed
    5: NO_TESTS,
    33: NO_TESTS,
    36: TIMEOUT,
    37: TYPE_ERROR,
    24: TIMEOUT,
    -24: TIMEOUT,
    152: TIMEOUT,
    255: TIMEOUT,
}


def status(exit_code: int | None) -> str:
    return _STATUS_BY_EXIT_CODE.get(exit_code, OTHER)


@dataclass
class ModuleResult:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> status
    identities: dict[str, str] = field(default_factory=dict)  # mutant name -> function@hash of its code

    def count(self, *wanted: str) -> int:
        return sum(1 for s in self.statuses.values() if s in wanted)


def module_name(meta: Path, mutants: Path = MUTANTS) -> str:
    """mutants/functions/billing/cards.py.meta -> billing.cards (a package's __init__ -> the package)."""
    source = meta.relative_to(mutants / CODE_ROOT).with_suffix("")  # drops .meta, keeps .py
    parts = source.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_results(mutants: Path = MUTANTS) -> list[ModuleResult]:
    results = []
    for meta in sorted((mutants / CODE_ROOT).rglob("*.py.meta")):
        exit_codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        if exit_codes:
            statuses = {name: status(code) for name, code in exit_codes.items()}
            mutated = MutatedFile(meta.with_suffix("").read_text(encoding="utf-8"))
            identities = {name: _identity(mutated, name) for name in exit_codes}
            results.append(ModuleResult(module_name(meta, mutants), statuses, identities))
    return results


def _identity(mutated: MutatedFile, name: str) -> str:
    """The mutant as the history and the equivalents name it; `<function>@?` for one mutmut's results name
    but its file no longer holds (results older than the file), which no equivalent can match."""
    try:
        return f"{function_of(name)}@{mutated.fingerprint(name)}"
    except KeyError:
        return f"{function_of(name)}@?"


def load_equivalents(path: Path = EQUIVALENTS) -> tuple[dict[str, str], list[str]]:
    """Mutant (function@hash of its code) -> reason, and the lines that are not `mutant  # reason`."""
    equivalents: dict[str, str] = {}
    problems: list[str] = []
    if not path.exists():
        return equivalents, problems
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, _, reason = (part.strip() for part in text.partition("#"))
        if not name or " " in name or "@" not in name or not reason:
            hint = " (mutmut's name: give the one the report prints after it)" if "__mutmut_" in name else ""
            problems.append(f"{path}:{number}: expected `<function>@<hash>  # <reason>`, got {text!r}{hint}")
        else:
            equivalents[name] = reason
    return equivalents, problems


def capped_survivors(verdicts: Path = VERDICTS) -> dict[str, tuple[int, int]]:
    """Survivors that ran only some of the tests reaching them (make mutate's --most-tests): name -> (tests
    run, tests reaching). A verdict taken over from the history says so only when it was capped."""
    latest = {verdict["mutant"]: verdict for verdict in read_verdicts(verdicts)}
    return {
        name: (verdict["planned"], verdict["reaching"])
        for name, verdict in latest.items()
        if verdict["exit_code"] == 0 and verdict.get("reaching", 0) > verdict.get("planned", 0)
    }


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def report(
    results: list[ModuleResult],
    equivalents: dict[str, str],
    module: str | None,
    capped: dict[str, tuple[int, int]] | None = None,
) -> list[str]:
    """The report's lines, and the problems with the equivalents file (unknown or no longer surviving)."""
    if module:
        results = [r for r in results if r.module == module or r.module.startswith(module + ".")]
    lines = [
        f"{'module':<32} {'killed':>6} / {'total':<6} {'raw':>6}  {'survived':>8} {'equiv.':>6} "
        f"{'no tests':>8} {'mypy':>5} {'timeout':>7} {'unrun':>5}"
    ]
    totals: Counter[str] = Counter()
    survivors: list[tuple[str, str, str]] = []  # name, identity, status
    for result in results:
        killed = result.count(KILLED, TYPE_ERROR, TIMEOUT)
        total = len(result.statuses)
        equivalent = sum(
            1 for n, s in result.statuses.items() if result.identities[n] in equivalents and s == SURVIVED
        )
        row = {
            "killed": killed,
            "total": total,
            "survived": result.count(SURVIVED) - equivalent,
            "equivalent": equivalent,
            "no tests": result.count(NO_TESTS),
            "mypy": result.count(TYPE_ERROR),
            "timeout": result.count(TIMEOUT),
            "unrun": result.count(NOT_CHECKED, OTHER),
        }
        totals.update(row)
        lines.append(_row(result.module, row))
        survivors += [
            (name, result.identities[name], s)
            for name, s in sorted(result.statuses.items())
            if s in (SURVIVED, NO_TESTS, OTHER) and result.identities[name] not in equivalents
        ]
    lines.append(_row("all", totals))
    lines.append("")
    lines.append(
        f"raw score: {totals['killed']} killed / {totals['total']} mutants = "
        f"{_percent(totals['killed'], totals['total']).strip()} (of them {totals['mypy']} refused by mypy, "
        f"{totals['timeout']} timeouts); "
        f"{totals['equivalent']} survivors recorded as equivalent in {EQUIVALENTS}"
    )
    if totals["unrun"]:
        lines.append(f"{totals['unrun']} mutants without a verdict (not run yet, interrupted, or suspicious)")
    surviving = {name for name, _, _ in survivors}
    capped = {name: ran for name, ran in (capped or {}).items() if name in surviving}
    if capped:
        lines.append(
            f"survivors that ran only some of the tests reaching them (make mutate's --most-tests): "
            f"{len(capped)}; the others could kill them"
        )
    if survivors:
        lines.append("")
        lines.append(
            f"surviving mutants ({len(survivors)}; `python -m local.mutate show NAME` shows one; "
            f"{EQUIVALENTS} takes the name after it):"
        )
        lines += [
            f"  {name}  {identity}{_survivor_note(s, capped.get(name))}" for name, identity, s in survivors
        ]
    return lines


def _survivor_note(status: str, capped: tuple[int, int] | None) -> str:
    if status != SURVIVED:
        return f"  ({status})"
    return f"  (passed {capped[0]} of the {capped[1]} tests that reach it)" if capped else ""


def _row(label: str, row: dict[str, int] | Counter[str]) -> str:
    return (
        f"{label:<32} {row['killed']:>6} / {row['total']:<6} {_percent(row['killed'], row['total']):>6}  "
        f"{row['survived']:>8} {row['equivalent']:>6} {row['no tests']:>8} {row['mypy']:>5} "
        f"{row['timeout']:>7} {row['unrun']:>5}"
    )


def stale_equivalents(
    results: list[ModuleResult], equivalents: dict[str, str], module: str | None
) -> list[str]:
    """Entries naming no mutant of the last run (its function changed), or one the tests now kill; and too
    many of them."""
    statuses = {r.identities[name]: s for r in results for name, s in r.statuses.items()}
    problems = []
    for identity in equivalents:
        if module and not identity.startswith(module + "."):
            continue
        if identity not in statuses:
            problems.append(f"{EQUIVALENTS}: {identity} is not a mutant of the last run")
        elif statuses[identity] not in (SURVIVED, NOT_CHECKED):
            problems.append(f"{EQUIVALENTS}: {identity} is {statuses[identity]}, not a survivor")
    if len(equivalents) > MOST_EQUIVALENT * len(statuses):
        problems.append(
            f"{EQUIVALENTS}: {len(equivalents)} equivalents are more than {MOST_EQUIVALENT:.0%} of the "
            f"{len(statuses)} mutants"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", help="only this module (or package), e.g. billing.cards")
    args = parser.parse_args(argv)
    results = load_results()
    if not results:
        print("No mutation results under mutants/: run `make mutate` first.", file=sys.stderr)
        return 1
    equivalents, problems = load_equivalents()
    capped = capped_survivors()
    print("\n".join(report(results, equivalents, args.module, capped)))
    problems += stale_equivalents(results, equivalents, args.module)
    identities = {name: identity for result in results for name, identity in result.identities.items()}
    problems += [
        f"{EQUIVALENTS}: {name} ran only {ran} of the {reaching} tests that reach it: run it against all of "
        "them (MOST_TESTS=0) before calling it equivalent"
        for name, (ran, reaching) in capped.items()
        if identities.get(name) in equivalents
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
