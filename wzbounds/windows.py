"""The two window bounds of a profile, exact integers (``proofs/CONVENTIONS.md``):

- ``achievability_window``: smallest integer ``w >= w0`` with ``U(w) <= eps``
  (``achievability_sliding`` / ``_geometric`` / ``_tabulated``);
- ``converse_window``: smallest integer ``w >= 1`` with ``L(max(w, w0)) <= eps``
  (``converse_suffix``): every suffix-only policy with a shorter window has distortion > eps.
"""

from __future__ import annotations

import numpy as np

from ._validation import real_array


def _eps_iv(eps) -> np.ndarray:
    return real_array("eps", eps, low=0.0)


def achievability_window(eps, profile):
    """Smallest integer ``w >= profile.w0`` with ``U(w) <= eps``.

    ``eps``: scalar or array (> 0, finite, in the profile's divergence unit).
    Returns int64 array of ``eps``'s shape (object array of Python ints past int64).
    """
    return profile.upper_envelope.smallest_window(_eps_iv(eps), profile.w0)


def converse_window(eps, profile):
    """Smallest integer ``w >= 1`` with ``L(max(w, w0)) <= eps``, or None without a lower
    envelope. Shapes as ``achievability_window``."""
    eps = _eps_iv(eps)
    if profile.lower_envelope is None:
        return None
    return profile.lower_envelope.converse_window(eps, profile.w0)
