"""Slow checks of the Santa Fe evaluator near beta = 1 at w up to 1e9 (the 1e-9 claim)."""
import importlib.util
from pathlib import Path

import pytest

from wzbounds.sources import SantaFe

_spec = importlib.util.spec_from_file_location(
    "santa_fe_reference", Path(__file__).resolve().parents[1] / "_santa_fe_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


@pytest.mark.slow
@pytest.mark.parametrize("beta,w", [(1.05, 10 ** 8), (1.05, 10 ** 9), (1.1, 10 ** 9), (1.3, 10 ** 9)])
def test_santa_fe_heavy_tail_quad_em(beta, w):
    """santa_fe evaluator vs mpmath.quad Euler-Maclaurin at large w, beta near 1: <= 1e-9 relative."""
    got = SantaFe(beta).bayes_risk(w, unit="bits")
    exact = ref.quad_em_bits(beta, w)
    assert abs(got - exact) <= 1e-9 * exact


@pytest.mark.slow
@pytest.mark.parametrize("beta,w", [(1.2, 10 ** 6), (1.5, 10 ** 9)])
def test_santa_fe_heavy_tail_direct(beta, w):
    """santa_fe evaluator vs direct summation (up to ~1e8 float64 terms) plus Hurwitz tail."""
    got = SantaFe(beta).bayes_risk(w, unit="bits")
    exact = ref.direct_bits(beta, w)
    assert abs(got - exact) <= 1e-9 * exact
