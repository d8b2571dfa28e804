"""Every theorem id the code can report resolves to a proof file and a passing machine check."""
import importlib.util
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
