"""Every theorem id the code can report resolves to a proof file and a passing machine check."""
import importlib.util
import sys
from pathlib import Path

import pytest

from wzbounds.theorems import THEOREMS

PROOFS = Path(__file__).resolve().parents[2] / "proofs"


def _load_check(theorem_id):
    path = PROOFS / "checks" / f"{theorem_id}.py"
    spec = importlib.util.spec_from_file_location(f"proof_check_{theorem_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("theorem_id", sorted(THEOREMS))
def test_proof_file_exists_and_is_indexed(theorem_id):
    proof = PROOFS / f"{theorem_id}.md"
    assert proof.is_file(), f"missing {proof}"
    text = proof.read_text()
    for heading in ("## Statement", "## Assumptions", "## Proof"):
        assert heading in text, f"{proof.name} lacks a '{heading}' section"
    assert f"{theorem_id}.md" in (PROOFS / "README.md").read_text(), "proofs/README.md must map the id"
    readme = (PROOFS.parent / "README.md").read_text()
    assert f"(proofs/{theorem_id}.md)" in readme, "the README's theorem table must link the id"


@pytest.mark.parametrize("theorem_id", sorted(THEOREMS))
def test_machine_check_passes(theorem_id):
    module = _load_check(theorem_id)
    module.check()


def _mutations():
    if "proof_mutations" not in sys.modules:  # registered before it runs: its dataclass looks itself up there
        spec = importlib.util.spec_from_file_location("proof_mutations", PROOFS / "checks" / "mutations.py")
        sys.modules["proof_mutations"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["proof_mutations"])
    return sys.modules["proof_mutations"]


# The check-file mutations that run in seconds; the library ones (a fresh interpreter each) and
# Santa Fe's run with `python proofs/checks/mutations.py`.
_FAST = [m.id for m in _mutations().MUTATIONS if not m.library and m.id != "1-4a-scope"]


@pytest.mark.parametrize("mutation_id", _FAST)
def test_mutated_statement_fails_its_check(mutation_id):
    """Issue 23: a corrected statement changed as a wrong constant would change it (in a temporary
    copy) makes its check fail with an AssertionError, not some other error; the unmutated check
    passes in test_machine_check_passes."""
    mutations = _mutations()
    m = next(m for m in mutations.MUTATIONS if m.id == mutation_id)
    out = mutations.run_mutation(m, baseline=False, contrast=False)
    assert out["mutated"] == "fails", out


@pytest.mark.parametrize("mutation_id", [m.id for m in _mutations().MUTATIONS])
def test_every_mutation_still_applies(mutation_id):
    """The slow mutations (library ones, Santa Fe's) run only through the script; their snippets
    must still occur exactly once in the files they mutate, or the script stops there."""
    m = next(m for m in _mutations().MUTATIONS if m.id == mutation_id)
    assert (PROOFS.parent / m.path).read_text(encoding="utf-8").count(m.old) == 1, m.path
