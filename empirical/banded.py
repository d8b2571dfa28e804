"""Sliding-window attention computed in bands: the same attention, a fraction of the work.

A sliding-window layer (Gemma 2/3, Mistral-style models) lets query ``q`` see only keys within
``W = sliding_window`` of it, but transformers' SDPA path hands the kernel the whole ``(Q, K)``
mask, so every sliding layer costs as much as a global one: ``O(Q·K)``. Gemma 3 has 15 sliding
layers (W = 512) in 18, so at T = 16,384 nearly all of the attention time goes to scores the mask
then hides. :func:`banded_sdpa_forward` cuts the queries into chunks of ``W`` and gives each chunk
only the keys its mask rows can see (read off the mask itself, so any mask the model builds or
we pass is honoured: sinks, position jumps, stacked rows, a cache), then concatenates: about
``Q·2W`` scores per layer. Each query's softmax runs over the same visible keys as in the full
call, so the result is the same attention up to the kernel's rounding (the tests compare the
two on every run kind of the measurement).

It is transformers' own SDPA function (:func:`sdpa_attention_forward`) on each chunk, registered
under :data:`NAME` through the public ``AttentionInterface`` (masks as SDPA's) by
:func:`register`, which :func:`.compat.attention_implementation` calls when it chooses this
implementation (``--attn auto`` for models with sliding-window layers, or ``--attn banded``). A call falls back
to one plain SDPA call when banding would not save at least half the scores, or when a chunk
has a query with no visible key (SDPA's answer for such a row depends on the keys it is given).
"""
from __future__ import annotations

import functools
import weakref

__all__ = ["NAME", "banded_sdpa_forward", "chunk_bands", "register"]

#: The attention implementation's name in transformers' registry and in provenance.
NAME = "wzbounds_banded_sdpa"

# The bands of the last mask seen: every sliding layer of one forward gets the same mask object,
# so they are read off it once per forward, not once per layer.
_last_bands: list = [None, None, None]  # weakref to the mask, chunk size, bands


def chunk_bands(attention_mask, chunk: int):
    """Per query chunk of ``chunk`` rows, the key range ``(a, b, lo, hi)`` that holds every key a
    row of the chunk may see; None when some query row sees no key.

    ``attention_mask``: SDPA's mask ``(B, 1 or H, Q, K)``, bool (True: visible) or additive float
    (visible where above the dtype's minimum, the value transformers and :mod:`.masks` hide with).
    Returns a list of int tuples: queries ``[a, b)`` need only keys ``[lo, hi)``."""
    import torch

    m = attention_mask
    visible = m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min
    q_len, k_len = visible.shape[-2:]
    if not bool(visible.any(-1).all()):  # per batch row and head
        return None
    starts = range(0, q_len, chunk)
    # (n, K): keys some row of the chunk sees, in any batch row or head; chunk by chunk, so no
    # further Q x K tensor is held
    cols = torch.stack([visible[..., a:a + chunk, :].reshape(-1, k_len).any(0) for a in starts])
    lo = cols.int().argmax(-1)
    hi = k_len - cols.flip(-1).int().argmax(-1)
    return [(a, min(q_len, a + chunk), int(b0), int(b1))
            for a, b0, b1 in zip(starts, lo.tolist(), hi.tolist(), strict=True)]


def _bands_of(attention_mask, chunk):
    ref, size, bands = _last_bands
    if ref is not None and ref() is attention_mask and size == chunk:
        return bands
    bands = chunk_bands(attention_mask, chunk)
    _last_bands[:] = [weakref.ref(attention_mask), chunk, bands]
    return bands


def banded_sdpa_forward(module, query, key, value, attention_mask, sliding_window=None, **kwargs):
    """transformers' SDPA attention, chunked along the queries of a sliding-window layer.

    ``query`` ``(B, H, Q, d)``, ``key``/``value`` ``(B, H_kv, K, d)``, ``attention_mask``
    ``(B, 1 or H, Q, K)`` or None; returns ``(attn_output (B, Q, H, d), None)`` as
    :func:`sdpa_attention_forward` does. Layers without ``sliding_window``, short inputs, masks
    that banding would not thin by half: one plain SDPA call."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def plain():
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      sliding_window=sliding_window, **kwargs)

    q_len, k_len = query.shape[2], key.shape[2]
    if (not sliding_window or attention_mask is None or attention_mask.dim() != 4
            or tuple(attention_mask.shape[-2:]) != (q_len, k_len) or q_len <= 2 * sliding_window):
        return plain()
    bands = _bands_of(attention_mask, int(sliding_window))
    if bands is None or sum((b - a) * (hi - lo) for a, b, lo, hi in bands) > q_len * k_len // 2:
        return plain()
    outs = [sdpa_attention_forward(module, query[:, :, a:b], key[:, :, lo:hi], value[:, :, lo:hi],
                                   attention_mask[:, :, a:b, lo:hi], sliding_window=sliding_window, **kwargs)[0]
            for a, b, lo, hi in bands]
    return torch.cat(outs, 1), None


@functools.cache
def register() -> str:
    """Register :func:`banded_sdpa_forward` (with SDPA's masks) under :data:`NAME` in transformers'
    attention registries; returns the name. Idempotent; nothing is registered at import."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(NAME, banded_sdpa_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)
    return NAME
