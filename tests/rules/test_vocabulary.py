"""Each word of the domain vocabulary is defined once, in ``rules.codes`` (issue 15): no other module of ``src``
spells out a list of segments, programs, payers, payer sources, ecosystems, risk classes, employer sizes or exit
reasons. Migrations are history and keep the words they were written with."""

from __future__ import annotations

import ast
from pathlib import Path

from jamsos.rules import codes as c

SRC = Path(__file__).resolve().parents[2] / "src" / "jamsos"
VOCABULARY = {
    "segments": set(c.SEGMENTS),
    "programs": set(c.PROGRAMS),
    "payers": set(c.PAYERS),
    "payer sources": set(c.PAYER_SOURCES),
    "ecosystems": set(c.ECOSYSTEMS),
    "risk classes": set(c.RISK_CLASSES),
    "employer sizes": set(c.EMPLOYER_SIZES),
    "exit reasons": set(c.EXIT_REASONS),
}


def _spelled_lists(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """Literal tuples, lists and sets of strings that spell out a whole vocabulary (an empty string aside: "no
    ecosystem"). A selection of some words, such as the programs of one package, is not a copy."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if len(words) < 2 or len(words) != len(node.elts):
                continue
            for name, vocabulary in VOCABULARY.items():
                if set(words) - {""} == vocabulary:
                    found.append((node.lineno, name, words))
    return found


def _modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if "migrations" not in p.parts and p != SRC / "rules" / "codes.py"]


def test_no_module_but_rules_codes_spells_out_a_vocabulary() -> None:
    copies = [
        f"{path.relative_to(SRC)}:{line}: {name} {words}"
        for path in _modules()
        for line, name, words in _spelled_lists(ast.parse(path.read_text(), str(path)))
    ]
    assert not copies, "use rules.codes instead of:\n" + "\n".join(copies)


def test_the_check_finds_a_copy() -> None:
    assert _spelled_lists(ast.parse('SEGMENTS = ("pu", "bpu", "jakon", "pmi")'))
    assert _spelled_lists(ast.parse('ECOSYSTEMS = ["", "desa", "pasar", "e_commerce", "ukm", "pekerja_rentan"]'))
    assert not _spelled_lists(ast.parse('X = ("pu", "somewhere", "else")'))
    assert not _spelled_lists(ast.parse('PACKAGE = ("jkk", "jkm", "jht")'))


def test_no_literal_program_bits() -> None:
    """Program masks are built from ``codes.BIT``, not written as numbers beside a program's name."""
    copies = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Dict):
                keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                numbers = all(isinstance(v, ast.Constant) and isinstance(v.value, int) for v in node.values)
                if len(keys) >= 3 and set(keys) <= set(c.PROGRAMS) and numbers:
                    copies.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not copies, copies
