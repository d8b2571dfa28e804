"""Custom 4-D attention masks for transformers models.

A *keep* mask is a bool tensor ``(B, Q, K)``: ``keep[b, q, k]`` says query ``q`` of row ``b``
may attend to key ``k``. transformers (>= 4.45, checked on 5.2) accepts a ready 4-D mask and
uses it as is, with explicit ``position_ids``; two traps decide the format:

* the mask must be **additive float** (0 where kept, ``finfo(dtype).min`` elsewhere): the
  ``eager`` implementation adds the mask to the scores, so a bool mask is silently ignored;
* models with per-layer attention types (Gemma 2/3: sliding + global, ``config.layer_types``)
  take a dict of masks keyed by attention type; sliding layers additionally hide keys at
  distance >= ``config.sliding_window`` (by sequence index, as transformers does).

A third trap concerns plain runs with explicit ``position_ids``: with no attention mask,
transformers reads any jump in the position ids as a boundary between packed sequences and
blocks attention across it (so a sink-plus-recent run in preserve mode silently loses its sink);
pass an all-ones 2-D mask (or a 4-D mask, which is used as is).

Every row must keep at least one key per query (we keep the diagonal for padding and unused
queries), so no softmax row is all ``-inf``.
"""
from __future__ import annotations

__all__ = ["float_mask", "model_masks", "causal_keep", "attention_types", "config_attention_types"]

_FULL = "full_attention"
_SLIDING = "sliding_attention"


def float_mask(keep, dtype):
    """Additive 4-D mask ``(B, 1, Q, K)`` of ``dtype`` from a bool keep mask ``(B, Q, K)``:
    0 where kept, ``torch.finfo(dtype).min`` where hidden (finite, so no NaN from all-masked rows)."""
    import torch

    if keep.dtype != torch.bool or keep.dim() != 3:
        raise ValueError(f"`keep` must be a bool tensor of shape (B, Q, K), got {keep.dtype} {tuple(keep.shape)}")
    out = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    out.masked_fill_(~keep, torch.finfo(dtype).min)
    return out[:, None]


def causal_keep(batch: int, length: int, device="cpu"):
    """Plain causal keep mask ``(batch, length, length)``: query q sees keys k <= q."""
    import torch

    tri = torch.ones(length, length, dtype=torch.bool, device=device).tril_()
    return tri.expand(batch, length, length)


def _text_config(model):
    config = model.config
    get = getattr(config, "get_text_config", None)
    return get() if get is not None else config


def attention_types(model) -> tuple[str, ...]:
    """Distinct attention types of the model's layers (``("full_attention",)`` for most models),
    by :func:`config_attention_types`; types other than full and sliding are a ``ValueError``
    (no mask of ours can express them)."""
    kinds = config_attention_types(_text_config(model))
    unknown = [k for k in kinds if k not in (_FULL, _SLIDING)]
    if unknown:
        raise ValueError(f"unsupported attention types {unknown} in config.layer_types; "
                         f"only {_FULL!r} and {_SLIDING!r} can be masked")
    return kinds


def config_attention_types(cfg) -> tuple[str, ...]:
    """Distinct attention types of the layers of the (text) config ``cfg``: from
    ``cfg.layer_types`` when present; a config with ``sliding_window`` set and no ``layer_types``
    (Mistral-style) is all sliding unless ``use_sliding_window`` is False."""
    layer_types = getattr(cfg, "layer_types", None)
    if layer_types:
        return tuple(sorted(set(layer_types)))
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True) is not False:
        return (_SLIDING,)
    return (_FULL,)


def _sliding(keep, window: int):
    import torch

    q = torch.arange(keep.shape[1], device=keep.device)[:, None]
    k = torch.arange(keep.shape[2], device=keep.device)[None, :]
    return keep & ((q - k) < int(window))[None]


def model_masks(model, keep, dtype=None):
    """The ``attention_mask`` argument for ``model`` that applies ``keep`` (bool ``(B, Q, K)``).

    Returns a float 4-D tensor, or, for models mixing attention types, a dict
    ``{attention_type: tensor}`` (sliding layers also hide keys at index distance >= the
    sliding window). ``dtype`` defaults to the model's parameter dtype."""
    if dtype is None:
        dtype = next(model.parameters()).dtype
    kinds = attention_types(model)
    window = getattr(_text_config(model), "sliding_window", None)
    masks = {kind: float_mask(_sliding(keep, window) if kind == _SLIDING else keep, dtype) for kind in kinds}
    cfg = _text_config(model)
    if getattr(cfg, "layer_types", None) and (len(kinds) > 1 or kinds != (_FULL,)):
        return masks
    return masks[kinds[0]]
