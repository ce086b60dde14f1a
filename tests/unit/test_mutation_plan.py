"""`make mutate` runs on a mutant only the tests that execute the code it changed (local/mutation_plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.mutation_plan import MutatedFile, Plan, _is_own, function_of, source_file

# A file as mutmut writes it: the original beside each mutant (the trampoline above them is left out).
MUTATED = '''\
def x_price__mutmut_orig(amount: int, *, tax: bool = True) -> int:
    """The price."""
    if tax:
        amount = amount * 11 // 10
    return amount


def x_price__mutmut_1(amount: int, *, tax: bool = False) -> int:
    """The price."""
    if tax:
        amount = amount * 11 // 10
    return amount


def x_price__mutmut_2(amount: int, *, tax: bool = True) -> int:
    """The price."""
    if tax:
        amount = amount / 11 // 10
    return amount


def x_price__mutmut_3(amount: int, *, tax: bool = True) -> int:
    """The price."""
    if not tax:
        amount = amount * 11 // 10
    return amount


def x_price__mutmut_4(amount: int, *, tax: bool = True) -> int:
    """The price."""
    if tax:
        amount = amount * 11 // 10
    return (
        None
    )


def x_rate__mutmut_orig() -> int:
    return 10


def x_rate__mutmut_1() -> int:
    return 11
'''
FILE = "billing/prices.py"
RATE = MUTATED.splitlines().index("    return 10") + 1  # the line x_rate__mutmut_1 changed


@pytest.fixture
def mutants_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mutants/ with the file, as the working directory: source_file() looks under functions/."""
    (tmp_path / "functions" / "billing").mkdir(parents=True)
    (tmp_path / "functions" / FILE).write_text(MUTATED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_change_inside_a_statement_reaches_only_that_statements_lines() -> None:
    assert MutatedFile(MUTATED).reached_by("billing.prices.x_price__mutmut_2") == {4}


def test_a_changed_condition_reaches_the_header_not_the_body_nested_in_it() -> None:
    assert MutatedFile(MUTATED).reached_by("billing.prices.x_price__mutmut_3") == {3}


def test_a_changed_default_reaches_the_whole_function() -> None:
    assert MutatedFile(MUTATED).reached_by("billing.prices.x_price__mutmut_1") == {1, 2, 3, 4, 5}


def test_a_change_that_spans_more_lines_reaches_the_statement_it_replaced() -> None:
    assert MutatedFile(MUTATED).reached_by("billing.prices.x_price__mutmut_4") == {5}


def test_a_mutant_names_its_source_file_and_function() -> None:
    assert source_file("billing.keys.xǁSecretsǁread__mutmut_1") == Path("functions/billing/keys.py")
    assert source_file("billing.portone.client.x_f__mutmut_2") == Path("functions/billing/portone/client.py")
    assert function_of("billing.keys.xǁSecretsǁread__mutmut_12") == "billing.keys.xǁSecretsǁread"


def test_only_the_tests_that_ran_the_changed_code_run_those_that_ran_more_of_the_function_first(
    mutants_dir: Path,
) -> None:
    seconds = {"slow": 2.0, "fast": 0.1, "untaxed": 0.01, "imports": 0.001}
    reached = {3: ["slow", "fast", "untaxed"], 4: ["slow", "fast"], 5: ["slow", "fast", "untaxed"]}
    lines = {FILE: {**reached, 30: ["imports"]}}  # line 30: a mutant's code, never run in the measurement
    plan = Plan(seconds, lines, mutants_dir)

    assert plan.tests("billing.prices.x_price__mutmut_2") == ["fast", "slow"]  # as much of it: fastest first
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["fast", "slow", "untaxed"]  # untaxed: no line 4
    assert plan.fastest_reaching_test() == "untaxed"  # "imports" runs no mutated function's original


def test_the_tests_that_killed_a_functions_mutants_go_first_latest_first(mutants_dir: Path) -> None:
    plan = Plan({"slow": 2.0, "fast": 0.1, "mid": 1.0}, {FILE: {3: ["slow", "fast", "mid"]}}, mutants_dir)

    plan.killed("billing.prices.x_price__mutmut_1", "mid")
    plan.killed("billing.prices.x_price__mutmut_2", "slow")

    assert plan.tests("billing.prices.x_price__mutmut_3") == ["slow", "mid", "fast"]


def test_the_tests_that_killed_other_functions_of_the_module_come_next(mutants_dir: Path) -> None:
    seconds = {"slow": 2.0, "fast": 0.1, "mid": 1.0, "rate": 0.5}
    plan = Plan(seconds, {FILE: {3: ["slow", "fast", "mid"], RATE: ["mid", "rate"]}}, mutants_dir)

    plan.killed("billing.prices.x_rate__mutmut_1", "mid")
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["mid", "fast", "slow"]

    plan.killed("billing.prices.x_price__mutmut_1", "slow")
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["slow", "mid", "fast"]


def test_a_mutant_runs_at_most_the_tests_it_is_allowed_and_knows_how_many_reach_it(mutants_dir: Path) -> None:
    lines = {FILE: {3: ["slow", "fast", "mid"]}}
    plan = Plan({"slow": 2.0, "fast": 0.1, "mid": 1.0}, lines, mutants_dir, most_tests=2)

    assert plan.tests("billing.prices.x_price__mutmut_3") == ["fast", "mid"]
    assert len(plan.reaching("billing.prices.x_price__mutmut_3")) == 3

    plan.killed("billing.prices.x_price__mutmut_1", "mid")
    plan.killed("billing.prices.x_price__mutmut_2", "slow")
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["slow", "mid"]  # killers first, still two


def test_a_mutant_no_test_reaches_has_no_tests(mutants_dir: Path) -> None:
    plan = Plan({"fast": 0.1}, {FILE: {3: ["fast"]}}, mutants_dir)

    assert plan.tests("billing.prices.x_price__mutmut_2") == []


def test_a_line_belongs_to_the_mutant_whose_code_holds_it_never_to_the_original() -> None:
    mutated = MutatedFile(MUTATED)

    assert mutated.mutant_at(10) == "x_price__mutmut_1"
    assert mutated.mutant_at(30) == "x_price__mutmut_4"
    assert mutated.mutant_at(4) is None  # the original's


def test_mypy_refusing_a_mutants_other_value_for_an_attribute_is_mutmuts_copying_not_the_mutant() -> None:
    from local.mutate import _is_copying_artefact

    copied = MutatedFile("class S:\n    def x(self) -> None:\n        self.age = None\n        age = None\n")

    assert _is_copying_artefact({"code": "assignment", "line": 3}, copied)
    assert not _is_copying_artefact({"code": "assignment", "line": 4}, copied)
    assert _is_copying_artefact({"code": "no-redef", "line": 4}, copied)
    assert not _is_copying_artefact({"code": "arg-type", "line": 3}, copied)


def test_the_modules_own_tests_come_before_the_others_reaching_it(mutants_dir: Path) -> None:
    own, other = "tests/unit/test_prices_tax.py::test_tax", "tests/integration/test_pricesx.py::test_fast"
    plan = Plan({own: 1.0, other: 0.1, "fast": 0.01}, {FILE: {3: [own, other, "fast"]}}, mutants_dir)
    assert plan.tests("billing.prices.x_price__mutmut_3") == [own, "fast", other]

    plan.killed("billing.prices.x_rate__mutmut_1", other)  # another function's killer comes after them
    assert plan.tests("billing.prices.x_price__mutmut_3") == [own, other, "fast"]
    plan.killed("billing.prices.x_price__mutmut_1", "fast")  # this function's killer comes first
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["fast", own, other]


def test_a_mutant_runs_every_one_of_its_modules_own_tests_beyond_the_cap(mutants_dir: Path) -> None:
    own = [f"tests/unit/test_prices.py::test_{n}" for n in range(3)]
    seconds = {**dict.fromkeys(own, 0.001), "slow": 2.0, "fast": 0.1}
    plan = Plan(seconds, {FILE: {3: [*own, "slow", "fast"]}}, mutants_dir, most_tests=1)
    assert plan.tests("billing.prices.x_price__mutmut_3") == [*own, "fast"]

    plan.killed("billing.prices.x_price__mutmut_1", "slow")
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["slow", *own]
    # More killers than the cap: the latest ones, and still every own test (one of them a killer too)
    plan.killed("billing.prices.x_price__mutmut_2", own[2])
    plan.killed("billing.prices.x_price__mutmut_4", "fast")
    assert plan.tests("billing.prices.x_price__mutmut_3") == ["fast", *own]


def test_a_nested_modules_own_tests_name_its_package() -> None:
    assert _is_own("tests/integration/test_portone_client.py::test_a", "billing.portone.client")
    assert _is_own("tests/unit/test_portone_client_retries.py::test_a", "billing.portone.client")
    assert not _is_own("tests/unit/test_portone.py::test_a", "billing.portone.client")
    assert not _is_own("tests/unit/test_errors.py::test_a", "billing.portone.errors")  # billing.errors's
    assert _is_own("tests/unit/test_errors.py::test_a", "billing.errors")
