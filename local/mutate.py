"""mutmut 3 over functions/billing, under the module names the function and the tests use (`make mutate`).

mutmut names a mutant after its file's path: functions/billing/cards.py would be `functions.billing.cards`.
The tests import the function as Lambda does, from functions/ (pytest's pythonpath, like CodeUri), so at
run time the module is `billing.cards`, and mutmut's trampoline activates a mutant only when the two names
agree. This runs mutmut's own command line with one change: a source path under functions/ is named from
functions/ (as mutmut already does for a src/ layout). Every mutmut command works through it:

    python -m local.mutate run ["billing.cards.*"]   # all mutants, or one module's
    python -m local.mutate show billing.cards.x_card_brand__mutmut_3
    python -m local.mutate results

mutmut's configuration is [tool.mutmut] in pyproject.toml; python -m local.mutation_report prints the score.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

CODE_ROOT = Path("functions")  # template.yaml's CodeUri: the directory Lambda imports the function from


def _named_from_code_root(get_mutant_name: Callable[[Path, str], str]) -> Callable[[Path, str], str]:
    def named(relative_source_path: Path, mutant_method_name: str) -> str:
        path = Path(relative_source_path)
        if path.parts[: len(CODE_ROOT.parts)] == CODE_ROOT.parts:
            path = path.relative_to(CODE_ROOT)
        return get_mutant_name(path, mutant_method_name)

    return named


def main(argv: list[str]) -> None:
    # mutmut.__main__ is mutmut's command line as a module: importing it sets the fork start method.
    import mutmut.__main__ as mutmut_cli
    from mutmut.mutation import file_mutation
    from mutmut.utils import format_utils

    named = _named_from_code_root(format_utils.get_mutant_name)
    # Every module that imported the function by name (a newer mutmut that moves it fails here, not silently).
    for module in (format_utils, mutmut_cli, file_mutation):
        if not callable(getattr(module, "get_mutant_name", None)):
            raise SystemExit(f"{module.__name__} has no get_mutant_name: compare local/mutate.py with mutmut")
        module.get_mutant_name = named  # type: ignore[attr-defined]
    # The tests import local.* from mutants/ (its local/template.py finds the mutated function there), not
    # the package this module was started from.
    for name in [name for name in sys.modules if name == "local" or name.startswith("local.")]:
        del sys.modules[name]
    mutmut_cli.cli.main(args=argv, prog_name="mutmut")


if __name__ == "__main__":
    main(sys.argv[1:])
