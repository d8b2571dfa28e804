"""Every difference between the supported transformers versions that the measurement touches.

Supported: transformers 5.2 through the newest (5.25 checked), torch 2.11 through the newest. The
measurement uses transformers' public model API (``forward`` with explicit ``position_ids``,
4-D float masks, ``logits_to_keep``, a ``Cache`` of layers) plus two extension points, the cache
layer class and the attention implementation. What differs, read off the released wheels:

* **Cache layer, the largest size it holds.** 5.2-5.12: abstract ``get_max_cache_shape()``;
  5.13-5.19: both, the new ``get_max_length()`` abstract; since 5.20 only ``get_max_length()``.
  Bridged by :func:`fixed_size_layer`, which defines both.
* **Cache layer,** ``get_mask_sizes``. 5.2-5.3: ``(cache_position)``; since 5.4:
  ``(query_length)``. Bridged by one positional argument, unused (the size is fixed).
* **Cache layer,** ``update``. 5.2-5.4: ``(k, v, cache_kwargs)``; since 5.5:
  ``(k, v, *args, **kwargs)``. Bridged by ``(k, v, *args, **kwargs)`` in our layers.
* **The cache argument of** ``forward``. 5.2-5.23: ``past_key_values``; since 5.24: ``cache``
  (``past_key_values`` deprecated, to be removed in 5.40). Bridged by :func:`cache_kwarg`.
* **SDPA and attention soft-capping** (``attn_logit_softcapping``). 5.2-5.20: Gemma-2 accepts SDPA
  and silently drops the soft-cap (SDPA has no such argument); since 5.21 it refuses SDPA.
  Bridged by :func:`attention_implementation`: eager for every model with soft-capping, on every
  version.
* **Sliding-window layers under SDPA** cost as much as global ones (the kernel gets the whole
  mask). Not a version difference but a cost: :func:`attention_implementation` chooses
  :mod:`.banded` (the same attention, in bands) for models with sliding-window layers, through
  transformers' public ``AttentionInterface`` (present in every supported version).

The soft-capping item is a correctness matter, not only a crash: on transformers < 5.21 a Gemma-2
model loaded with SDPA computes a different (uncapped) attention than its definition, so the
measured laws would be another model's. torch needs no bridging between 2.11 and the newest.
torch and transformers are imported inside functions.
"""
from __future__ import annotations

import functools

__all__ = ["ATTENTION_CHOICES", "attention_implementation", "cache_kwarg", "fixed_size_layer"]

#: ``--attn`` choices: ``auto`` is SDPA where the model's attention is exactly SDPA's (``banded``,
#: SDPA in bands, for models with sliding-window layers), else eager.
ATTENTION_CHOICES = ("auto", "sdpa", "banded", "eager")


def _text_config(config):
    get = getattr(config, "get_text_config", None)
    return get() if get is not None else config


def attention_implementation(model_class, config, requested: str = "auto") -> tuple[str, str]:
    """The attention implementation to load ``model_class`` with, and why (for provenance).

    ``requested``: one of :data:`ATTENTION_CHOICES`. ``auto`` gives ``sdpa`` unless the class
    does not support it (``_supports_sdpa`` False) or the config soft-caps attention logits
    (SDPA has no soft-cap: see the module docstring), then ``eager``; where SDPA is chosen and the
    config has sliding-window layers, :data:`.banded.NAME` (registered on the way). ``sdpa`` or
    ``banded`` asked for on a model SDPA cannot run is a ``ValueError`` naming ``--attn`` (it
    would measure another model); ``eager`` is always honoured."""
    if requested not in ATTENTION_CHOICES:
        raise ValueError(f"`--attn` must be one of {list(ATTENTION_CHOICES)}, got {requested!r}")
    if requested == "eager":
        return "eager", "asked for (--attn eager)"
    softcap = getattr(_text_config(config), "attn_logit_softcapping", None)
    if softcap is not None:
        why = (f"{model_class.__name__} soft-caps attention logits (attn_logit_softcapping={softcap}), "
               "which SDPA cannot compute")
    elif not getattr(model_class, "_supports_sdpa", False):
        why = f"{model_class.__name__} does not support SDPA in this transformers"
    elif requested == "banded" or (requested == "auto" and _has_sliding_layers(config)):
        from . import banded

        why = ("auto: the model supports SDPA and has sliding-window layers, which SDPA in bands computes "
               "without the scores their mask hides" if requested == "auto" else "asked for (--attn banded)")
        return banded.register(), why
    else:
        return "sdpa", "auto: the model supports SDPA" if requested == "auto" else "asked for (--attn sdpa)"
    if requested != "auto":
        raise ValueError(f"`--attn {requested}` cannot run this model exactly: {why}; use --attn auto or eager")
    return "eager", "auto: " + why


def _has_sliding_layers(config) -> bool:
    from .masks import config_attention_types

    return "sliding_attention" in config_attention_types(_text_config(config))


@functools.cache
def _forward_takes_cache() -> bool:
    from packaging.version import Version
    from transformers import __version__

    return Version(__version__).release >= (5, 24)


def cache_kwarg(cache) -> dict:
    """``{name: cache}`` for a model's ``forward``: ``cache`` since transformers 5.24,
    ``past_key_values`` before (see the module docstring)."""
    return {"cache" if _forward_takes_cache() else "past_key_values": cache}


@functools.cache
def fixed_size_layer():
    """A ``transformers.cache_utils.CacheLayerMixin`` subclass holding keys/values ``(R, H, n, d)``
    of a fixed size ``n``, created initialised, that answers the size queries of every supported
    version (see the module docstring). Subclasses implement ``update(k, v, *args, **kwargs)``.
    Built on first use (transformers loads lazily)."""
    from transformers.cache_utils import CacheLayerMixin

    class FixedSizeLayer(CacheLayerMixin):
        is_sliding = False

        def __init__(self, keys, values):
            super().__init__()
            self.keys, self.values, self.is_initialized = keys, values, True

        def lazy_initialization(self, key_states, value_states):
            raise TypeError("fixed-size cache layers are created initialised")

        def get_mask_sizes(self, _query):  # (cache_position) up to 5.3, (query_length) since 5.4
            return self.keys.shape[-2], 0

        def get_seq_length(self):
            return self.keys.shape[-2]

        def get_max_length(self):  # abstract since 5.13
            return self.keys.shape[-2]

        get_max_cache_shape = get_max_length  # abstract up to 5.12, removed in 5.20

    return FixedSizeLayer
