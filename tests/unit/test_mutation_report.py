"""The mutation report tells a survivor that ran every test reaching it from one cut short (make mutate)."""

from __future__ import annotations

import json
from pathlib import Path

from local.mutation_report import (
    ModuleResult,
    capped_survivors,
    load_equivalents,
    load_results,
    report,
    stale_equivalents,
)


def test_a_survivor_that_ran_only_some_of_its_tests_says_how_many(tmp_path: Path) -> None:
    verdicts = tmp_path / "verdicts.jsonl"
    lines = [
        {"mutant": "billing.cards.x_a__mutmut_1", "exit_code": 0, "planned": 10, "reaching": 10},
        {"mutant": "billing.cards.x_a__mutmut_2", "exit_code": 0, "planned": 10, "reaching": 274},
        {"mutant": "billing.cards.x_a__mutmut_3", "exit_code": 0, "planned": 10, "reaching": 40},
        {"mutant": "billing.cards.x_a__mutmut_3", "exit_code": 1, "planned": 10, "reaching": 40},  # run again
        {"mutant": "billing.cards.x_a__mutmut_4", "exit_code": 0, "taken_over": True},  # it ran every test
    ]
    cut_off = '{"mutant": "billing.cards.x_a__mutmut_1", "exit_'  # the last line of a run that was stopped
    verdicts.write_text("".join(json.dumps(line) + "\n" for line in lines) + cut_off, encoding="utf-8")
    statuses = {"billing.cards.x_a__mutmut_1": "survived", "billing.cards.x_a__mutmut_2": "survived"}
    identities = {
        "billing.cards.x_a__mutmut_1": "billing.cards.x_a@1",
        "billing.cards.x_a__mutmut_2": "billing.cards.x_a@2",
    }

    capped = capped_survivors(verdicts)
    shown = report([ModuleResult("billing.cards", statuses, identities)], {}, None, capped)

    assert capped == {"billing.cards.x_a__mutmut_2": (10, 274)}
    assert "  billing.cards.x_a__mutmut_1  billing.cards.x_a@1" in shown
    assert (
        "  billing.cards.x_a__mutmut_2  billing.cards.x_a@2  (passed 10 of the 274 tests that reach it)"
        in shown
    )
    assert any(line.endswith("(make mutate's --most-tests): 1; the others could kill them") for line in shown)


def test_equivalents_are_named_by_their_code_counted_beside_the_raw_score_and_checked() -> None:
    names = [f"billing.cards.x_a__mutmut_{n}" for n in range(1, 41)]
    statuses = dict.fromkeys(names, "killed") | {names[0]: "survived", names[1]: "survived"}
    identities = {name: f"billing.cards.x_a@{n:016x}" for n, name in enumerate(names)}
    result = ModuleResult("billing.cards", statuses, identities)
    equivalent = {identities[names[0]]: "lower-case keyword: DynamoDB's are not case-sensitive"}

    shown = report([result], equivalent, None)

    assert any(line.startswith("raw score: 38 killed / 40 mutants = 95.0%") for line in shown)
    assert any(
        line.endswith("1 survivors recorded as equivalent in tests/mutation-equivalents.txt")
        for line in shown
    )
    assert not any(names[0] in line for line in shown)  # not listed among the survivors
    assert stale_equivalents([result], equivalent, None) == []
    # A name whose function changed, one the tests now kill, and more than 5% of the mutants
    renamed = {"billing.cards.x_a@ffffffffffffffff": "…"}
    assert stale_equivalents([result], renamed, None) == [
        "tests/mutation-equivalents.txt: billing.cards.x_a@ffffffffffffffff is not a mutant of the last run"
    ]
    killed = {identities[names[2]]: "…"}
    assert stale_equivalents([result], killed, None) == [
        f"tests/mutation-equivalents.txt: {identities[names[2]]} is killed, not a survivor"
    ]
    too_many = {identities[names[0]]: "…", identities[names[1]]: "…", identities[names[3]]: "…"}
    assert stale_equivalents([result], too_many, None)[-1] == (
        "tests/mutation-equivalents.txt: 3 equivalents are more than 5% of the 40 mutants"
    )


def test_results_name_each_mutant_by_its_code_and_equivalents_must_too(tmp_path: Path) -> None:
    mutated = tmp_path / "functions" / "billing" / "fees.py"
    mutated.parent.mkdir(parents=True)
    mutated.write_text("def x_fee__mutmut_orig():\n    return 1\n\n\ndef x_fee__mutmut_1():\n    return 2\n")
    names = {"billing.fees.x_fee__mutmut_1": 0, "billing.fees.x_fee__mutmut_9": 1}  # 9: gone from the file
    (tmp_path / "functions" / "billing" / "fees.py.meta").write_text(json.dumps({"exit_code_by_key": names}))
    equivalents = tmp_path / "equivalents.txt"
    equivalents.write_text("billing.fees.x_fee__mutmut_1  # returns the same\n")

    [result] = load_results(tmp_path)

    assert result.identities["billing.fees.x_fee__mutmut_1"].startswith("billing.fees.x_fee@")
    assert result.identities["billing.fees.x_fee__mutmut_9"] == "billing.fees.x_fee@?"
    assert load_equivalents(equivalents)[1] == [
        f"{equivalents}:1: expected `<function>@<hash>  # <reason>`, got "
        "'billing.fees.x_fee__mutmut_1  # returns the same'"
        " (mutmut's name: give the one the report prints after it)"
    ]
