"""Any scorer press of NVIDIA's ``kvpress`` library as a cache policy (optional extra).

The adapter calls the press's own ``score(module, hidden_states, keys, values, attentions,
kwargs)`` hook on what each attention layer saw during our shared prefill — the same arguments
kvpress's forward hook passes — and keeps the top-``(k-1)`` per layer and KV head, as kvpress's
``ScorerPress.compress`` does for a ratio. No kvpress code is copied; kvpress is imported only
when such a policy is built.

Layers: kvpress hooks every layer; on models with sliding-window layers that fails. We score only
the *compressible* layers (full-attention layers, from ``config.layer_types`` when present); the
other layers score every entry ``+inf``, so the budget still applies to them and the tie-break
keeps their most recent ``k - 1`` entries (a sliding window of the budget). Truncation, which keeps
whole tokens, takes the tokens the compressible layers choose (unscored layers do not vote in
:meth:`.base.CachePolicy.token_keep`).

Streaming: a press scores what the layers saw during a prefill (hidden states, keys, values of
the whole context); there is no per-step counterpart to feed it, so kvpress policies are
measured under truncation and post-prefill only.

Devices: the adapter creates its tensors on ``ctx.device``; the presses' own code is theirs
(several, e.g. SnapKV and ExpectedAttention, call ``.item()``, which cannot run on torch's
``meta`` device; KnormPress and KeyDiffPress can).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .base import CachePolicy, ScoreContext

#: Short names accepted after ``kvpress:`` (any other ``...Press`` class name also works).
ALIASES = {
    "snapkv": "SnapKVPress", "knorm": "KnormPress", "expected_attention": "ExpectedAttentionPress",
    "expectedattention": "ExpectedAttentionPress", "tova": "TOVAPress", "streaming_llm": "StreamingLLMPress",
    "random": "RandomPress", "keydiff": "KeyDiffPress", "lagkv": "LagKVPress",
}

KVPRESS_MISSING = "kvpress is not installed: pip install 'wzbounds[kvpress]' (kvpress==0.5.5)"


def press_class(press_name: str):
    """The kvpress class for ``press_name`` (alias or class name, case-insensitive)."""
    try:
        import kvpress
    except ImportError as exc:
        raise ValueError(KVPRESS_MISSING) from exc
    key = press_name.lower().replace("-", "_")
    wanted = ALIASES.get(key, key.replace("_", ""))
    classes = {n.lower(): n for n in dir(kvpress) if n.endswith("Press")}
    name = classes.get(wanted.lower()) or classes.get(wanted.lower() + "press")
    if name is None:
        raise ValueError(f"unknown kvpress press {press_name!r}; try one of {sorted(ALIASES)} "
                         f"or a class name from {sorted(classes.values())[:8]}...")
    cls = getattr(kvpress, name)
    if not hasattr(cls, "score") or cls.score is getattr(kvpress, "ScorerPress").score:
        raise ValueError(f"kvpress {name} is not a scorer press (no `score` hook to adapt)")
    return cls


def compressible_layers(model) -> tuple:
    """Indices of full-attention layers (``config.layer_types`` entries other than
    ``"full_attention"`` are sliding-window and are not compressed)."""
    config = getattr(model, "config", None)
    n = int(getattr(config, "num_hidden_layers", 0) or 0)
    types = getattr(config, "layer_types", None)
    if not types:
        return tuple(range(n))
    return tuple(i for i, t in enumerate(types) if t == "full_attention")


@dataclass(frozen=True)
class KVPressPolicy(CachePolicy):
    """A kvpress scorer press (``press_name`` e.g. ``"snapkv"``) with keyword ``options`` for its
    constructor. Scores only layers in ``ctx.compressible_layers``; the others get ``+inf``."""

    press_name: str = "knorm"
    options: tuple = field(default=())  # ((key, value), ...) so the dataclass stays hashable
    name = "kvpress"
    needs = frozenset({"layer_inputs"})

    def __post_init__(self):
        press_class(self.press_name)  # fail early on unknown names / missing extra

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.options)
        return f"kvpress:{self.press_name}" + (f"({opts})" if opts else "")

    def make_press(self, model=None):
        press = press_class(self.press_name)(**dict(self.options))
        if model is not None and hasattr(press, "post_init_from_model"):
            press.post_init_from_model(model)
        return press

    def score(self, ctx: ScoreContext):
        """``(L, B, H, K)``: the press's scores per layer; ``+inf`` on layers not compressed."""
        import torch

        inputs = ctx.require("layer_inputs")
        press = self.make_press(ctx.model)
        out = []
        for idx, li in enumerate(inputs):
            if idx not in ctx.compressible_layers:
                b, h, k, _ = li.keys.shape
                out.append(torch.full((b, h, k), float("inf"), device=ctx.device))
                continue
            kwargs = dict(li.kwargs, hidden_states=li.hidden_states)
            with torch.no_grad(), _rotary_attached(ctx.model, li.module):
                s = press.score(li.module, li.hidden_states, li.keys, li.values, None, kwargs)
            out.append(s.float())
        return torch.stack(out)


class _rotary_attached:
    """Some presses read ``module.rotary_emb``; kvpress's context manager attaches the model's
    rotary embedding to every attention module. We attach it for the call and remove it after."""

    def __init__(self, model, module):
        inner = getattr(model, "model", model)
        inner = getattr(inner, "language_model", inner)
        self.rotary = getattr(inner, "rotary_emb", None)
        self.module = module
        self.added = False

    def __enter__(self):
        if self.rotary is not None and not hasattr(self.module, "rotary_emb"):
            object.__setattr__(self.module, "rotary_emb", self.rotary)  # not registered as a child
            self.added = True

    def __exit__(self, *exc):
        if self.added:
            object.__delattr__(self.module, "rotary_emb")


def parse_options(text: str) -> tuple:
    """``"window_size=16,n_sink=4"`` -> ``(("window_size", 16), ("n_sink", 4))`` (numbers parsed)."""
    opts = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not re.match(r"^[A-Za-z_]\w*$", key.strip()):
            raise ValueError(f"kvpress option must be name=value, got {part!r}")
        v = value.strip()
        for conv in (int, float):
            try:
                v = conv(v)
                break
            except ValueError:
                pass
        opts.append((key.strip(), v))
    return tuple(opts)
