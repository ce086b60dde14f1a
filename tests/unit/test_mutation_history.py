"""`make mutate` takes over an earlier verdict only while it still holds (local/mutation_history.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from local.mutation_history import KILLED, SURVIVED, History
from local.mutation_plan import Plan

MUTATED = """\
def x_fee__mutmut_orig(amount: int) -> int:
    return amount // 10


def x_fee__mutmut_1(amount: int) -> int:
    return amount * 10


def x_fee__mutmut_2(amount: int) -> int:
    return amount // 11
"""
FILE = "billing/fees.py"
LINE = 2  # the statement both mutants change
FIRST, SECOND = "billing.fees.x_fee__mutmut_1", "billing.fees.x_fee__mutmut_2"
FAST, SLOW = "tests/test_quick.py::test_fast", "tests/test_slow.py::test_slow"
NEW = "tests/test_new.py::test_new"


@pytest.fixture
def mutants_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mutants/ with the mutated file and two test files, as the working directory."""
    (tmp_path / "functions" / "billing").mkdir(parents=True)
    (tmp_path / "functions" / FILE).write_text(MUTATED, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    for test in (FAST, SLOW):
        (tmp_path / test.partition("::")[0]).write_text(f"def {test.partition('::')[2]}(): ...\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def plan(mutants_dir: Path, reaching: list[str], most_tests: int | None = 5) -> Plan:
    seconds = {FAST: 0.1, SLOW: 2.0, NEW: 0.5}
    return Plan(seconds, {FILE: {LINE: reaching}}, mutants_dir, most_tests=most_tests)


def run(path: Path, plan: Plan, verdicts: dict[str, tuple[str, dict[str, object]]]) -> History:
    """A run that reaches these verdicts and saves them."""
    history = History(plan, path)
    for mutant, (verdict, details) in verdicts.items():
        history.add(mutant, verdict, details)
    history.save()
    return history


def held(plan: Plan, path: Path, mutant: str) -> dict[str, object] | None:
    """The earlier verdict on the mutant if it holds for this plan."""
    history = History(plan, path)
    kept = history.earlier(mutant)
    return kept if kept is not None and history.holds(mutant, kept) else None


def test_a_kill_holds_while_its_test_reaches_the_mutant_unchanged(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    run(path, plan(mutants_dir, [FAST, SLOW]), {FIRST: (KILLED, {"killer": SLOW})})

    assert held(plan(mutants_dir, [FAST, SLOW]), path, FIRST) == {
        "mutant": json.loads(path.read_text())["mutant"],
        "verdict": KILLED,
        "killer": SLOW,
        "code": json.loads(path.read_text())["code"],
    }
    # The killer no longer reaches it, then its file changed.
    assert held(plan(mutants_dir, [FAST]), path, FIRST) is None
    (mutants_dir / "tests/test_slow.py").write_text("def test_slow(): assert False\n")
    assert held(plan(mutants_dir, [FAST, SLOW]), path, FIRST) is None


def test_a_mutant_is_known_by_its_code_not_by_mutmuts_number(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    run(path, plan(mutants_dir, [FAST]), {SECOND: (KILLED, {"killer": FAST})})
    source = mutants_dir / "functions" / FILE

    source.write_text(MUTATED.replace("x_fee__mutmut_2", "x_fee__mutmut_7"))  # another mutant came before it
    assert held(plan(mutants_dir, [FAST]), path, "billing.fees.x_fee__mutmut_7") is not None

    source.write_text(MUTATED.replace("amount // 11", "amount // 11 + 0"))  # the function changed
    assert held(plan(mutants_dir, [FAST]), path, SECOND) is None


def test_a_survivor_that_ran_every_test_reaching_it_holds_while_they_are_the_same_whatever_the_cap(
    mutants_dir: Path,
) -> None:
    path = mutants_dir / "history.jsonl"
    run(path, plan(mutants_dir, [FAST, SLOW]), {FIRST: (SURVIVED, {"tried": [FAST, SLOW], "reaching": 2})})

    assert held(plan(mutants_dir, [FAST, SLOW]), path, FIRST) is not None
    assert held(plan(mutants_dir, [FAST, SLOW], most_tests=None), path, FIRST) is not None
    assert held(plan(mutants_dir, [FAST, SLOW], most_tests=1), path, FIRST) is not None  # it passed more
    (mutants_dir / "tests/test_new.py").write_text("def test_new(): ...\n")
    assert held(plan(mutants_dir, [FAST, SLOW, NEW]), path, FIRST) is None
    (mutants_dir / "tests/test_quick.py").write_text("def test_fast(): assert 1\n")
    assert held(plan(mutants_dir, [FAST, SLOW]), path, FIRST) is None


def test_a_capped_survivor_holds_until_a_killer_of_its_function_that_it_did_not_run_appears(
    mutants_dir: Path,
) -> None:
    path = mutants_dir / "history.jsonl"
    (mutants_dir / "tests/test_new.py").write_text("def test_new(): ...\n")
    capped = plan(mutants_dir, [FAST, SLOW, NEW], most_tests=2)
    tried = capped.tests(FIRST)
    assert tried == [FAST, NEW]
    run(path, capped, {FIRST: (SURVIVED, {"tried": tried, "reaching": 3})})

    assert held(plan(mutants_dir, [FAST, SLOW, NEW], most_tests=2), path, FIRST) is not None
    assert held(plan(mutants_dir, [FAST, SLOW, NEW], most_tests=None), path, FIRST) is None  # SLOW may kill
    assert held(plan(mutants_dir, [FAST, SLOW, NEW], most_tests=1), path, FIRST) is not None  # it ran more
    # Measured again, the tests take other times: other tests would go first, and it still holds
    retimed = Plan(
        {FAST: 3.0, SLOW: 0.2, NEW: 0.5}, {FILE: {LINE: [FAST, SLOW, NEW]}}, mutants_dir, most_tests=2
    )
    assert retimed.tests(FIRST) == [SLOW, NEW]  # the fastest first
    assert held(retimed, path, FIRST) is not None
    # A string `tried` (how earlier runs kept it) never holds: the mutant runs once more
    legacy = {**json.loads(path.read_text()), "tried": "0123456789abcdef"}
    assert not History(plan(mutants_dir, [FAST, SLOW, NEW], most_tests=2), path).holds(FIRST, legacy)
    told = plan(mutants_dir, [FAST, SLOW, NEW], most_tests=2)
    told.killed(SECOND, SLOW)  # its function's killer would go first now
    history = History(told, path)
    kept = history.earlier(FIRST)
    assert kept is not None
    assert (kept["planned"], kept["reaching"]) == (2, 3)
    assert not history.holds(FIRST, kept)


def test_a_verdict_stays_until_its_mutant_gets_another_and_goes_with_its_mutant(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    killed = (KILLED, {"killer": FAST})
    run(path, plan(mutants_dir, [FAST]), {FIRST: killed, SECOND: killed})
    (mutants_dir / "tests/test_quick.py").write_text("def test_fast(): assert 1\n")  # neither kill holds

    history = History(plan(mutants_dir, [FAST]), path)
    first = history.earlier(FIRST)  # not run this time (another module's, or the run stopped)
    assert first is not None
    assert not history.holds(FIRST, first)
    history.save()  # SECOND is no mutant of this run

    assert [json.loads(line) for line in path.read_text().splitlines()] == [first]


def test_a_kill_by_a_test_that_does_not_run_the_mutated_code_is_not_kept(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    run(path, plan(mutants_dir, [FAST]), {FIRST: (KILLED, {"killer": "(after the tests: OSError)"})})

    assert path.read_text() == ""


def test_a_timeout_takes_the_place_of_an_earlier_verdict_and_is_not_kept(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    killed = (KILLED, {"killer": FAST})
    run(path, plan(mutants_dir, [FAST]), {FIRST: killed, SECOND: killed})

    history = History(plan(mutants_dir, [FAST]), path)
    assert history.earlier(FIRST) is not None
    assert history.earlier(SECOND) is not None
    history.add(FIRST, None, {"ended": "no answer within 20 s"})  # run again (FRESH=1): it timed out
    history.save()

    identities = [json.loads(line)["mutant"] for line in path.read_text().splitlines()]
    assert identities == [plan(mutants_dir, [FAST]).identity(SECOND)]


def slow_kill(mutants_dir: Path, text: str) -> Callable[[str], bool]:
    """A run in which SLOW killed FIRST, its file reading `text`; then whether that kill holds once the file
    reads another text."""
    path = mutants_dir / "history.jsonl"
    test_file = mutants_dir / "tests/test_slow.py"
    test_file.write_text(text)
    run(path, plan(mutants_dir, [FAST, SLOW]), {FIRST: (KILLED, {"killer": SLOW})})

    def holds_after(changed: str) -> bool:
        test_file.write_text(changed)
        return held(plan(mutants_dir, [FAST, SLOW]), path, FIRST) is not None

    return holds_after


def test_a_kill_holds_while_the_code_its_test_runs_from_its_file_is_unchanged(mutants_dir: Path) -> None:
    head = "import json\nfrom pathlib import Path\n\nLIMIT = 1\n\n\ndef limit():\n    return LIMIT\n\n\n"
    slow = '@mark.usefixtures("ready")\ndef test_slow(tmp: Path):\n    assert limit() < 2, """a\n\nb"""\n'
    holds_after = slow_kill(mutants_dir, f"{head}{slow}")

    # Another test, a helper or an import added for another test, or an unused one changed: it holds
    other = "@mark\ndef test_other(): ...\n\n\ndef helper():\n    return 3\n\n\n"
    more_imports = head.replace("import json", "import json, re")
    assert holds_after(f'"""Tests."""\n\nimport os\n{more_imports}{other}{slow}')
    # What it runs from the file changed: the test (a blank line less), a helper it calls, a name that helper
    # names, an import it uses, a fixture it names as a parameter or as a string, an autouse fixture
    assert not holds_after(f"{head}{slow.replace(chr(10) * 2 + 'b', chr(10) + 'b')}")
    assert not holds_after(f"{head.replace('return LIMIT', 'return LIMIT + 1')}{slow}")
    assert not holds_after(f"{head.replace('LIMIT = 1', 'LIMIT = 0')}{slow}")
    assert not holds_after(f"{head.replace('pathlib import Path', 'os import PathLike as Path')}{slow}")
    assert not holds_after(f"{head}@fixture\ndef tmp(): ...\n\n\n{slow}")
    assert not holds_after(f"{head}@fixture\ndef ready(): ...\n\n\n{slow}")
    assert not holds_after(f"{head}@fixture(autouse=True)\ndef cleanup(): ...\n\n\n{slow}")
    assert holds_after(f"{head}{slow}")


def test_what_pytest_runs_for_every_test_or_by_another_name_counts_too(mutants_dir: Path) -> None:
    helpers = "def limit():\n    return 1\n\n\ndef limit():\n    return 2\n\n\n"  # the later one counts
    slow = "def test_slow(tmp):\n    assert limit()\n"
    holds_after = slow_kill(mutants_dir, f"{helpers}{slow}")

    assert holds_after(f"{helpers}def unused():\n    return 3\n\n\n{slow}")
    assert not holds_after(f"{helpers.replace('return 1', 'return 0')}{slow}".replace("return 2", "return 1"))
    swapped = "def limit():\n    return 2\n\n\ndef limit():\n    return 1\n\n\n"
    assert not holds_after(f"{swapped}{slow}")
    for every_test in (
        'pytestmark = mark.usefixtures("db")',
        'os.environ["MODE"] = "a"',
        "from helpers import *",
        "def setup_module():\n    pass",
        "def pytest_generate_tests(metafunc):\n    pass",
        "@fixture(autouse=AUTO)\ndef reset():\n    pass",
        '@fixture(name="tmp")\ndef made_here():\n    pass',
    ):
        assert not holds_after(f"{helpers}{every_test}\n\n\n{slow}"), every_test
    assert holds_after(f"{helpers}@fixture(autouse=False)\ndef reset():\n    pass\n\n\n{slow}")
    # A test that is no def or class of its file: all of the file counts
    assert not slow_kill(mutants_dir, "test_slow = make(1)\n")("test_slow = make(1)\nOTHER = 2\n")


def test_lines_that_are_not_verdicts_are_left_out_and_named(mutants_dir: Path) -> None:
    path = mutants_dir / "history.jsonl"
    run(path, plan(mutants_dir, [FAST]), {FIRST: (KILLED, {"killer": FAST})})
    path.write_text("<<<<<<< HEAD\n" + path.read_text() + '{"verdict": "killed"}\n')

    history = History(plan(mutants_dir, [FAST]), path)

    assert history.unreadable == [1, 3]
    assert history.earlier(FIRST) is not None


def test_a_capped_survivor_whose_function_has_more_killers_than_its_cap_holds_on_the_first_ones(
    mutants_dir: Path,
) -> None:
    path = mutants_dir / "history.jsonl"
    (mutants_dir / "tests/test_new.py").write_text("def test_new(): ...\n")
    capped = plan(mutants_dir, [FAST, SLOW, NEW], most_tests=1)
    capped.killed(SECOND, SLOW)
    capped.killed(SECOND, NEW)  # two killers of its function, one test a mutant: NEW, the latest, goes first
    run(path, capped, {FIRST: (SURVIVED, {"tried": capped.tests(FIRST), "reaching": 3})})

    again = plan(mutants_dir, [FAST, SLOW, NEW], most_tests=1)
    again.killed(SECOND, SLOW)
    again.killed(SECOND, NEW)
    assert held(again, path, FIRST) is not None
