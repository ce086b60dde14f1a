"""The mutation report tells a survivor that ran every test reaching it from one cut short (make mutate)."""

from __future__ import annotations

import json
from pathlib import Path

from local.mutation_report import ModuleResult, capped_survivors, report


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

    capped = capped_survivors(verdicts)
    shown = report([ModuleResult("billing.cards", statuses)], {}, None, capped)

    assert capped == {"billing.cards.x_a__mutmut_2": (10, 274)}
    assert "  billing.cards.x_a__mutmut_1" in shown
    assert "  billing.cards.x_a__mutmut_2  (passed 10 of the 274 tests that reach it)" in shown
    assert any(line.endswith("(make mutate's --most-tests): 1; the others could kill them") for line in shown)
