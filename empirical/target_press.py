"""``TargetDistortionPress``: a kvpress press that sizes any scorer press for a target distortion.

It wraps a kvpress scorer press (``SnapKVPress()``, ``ExpectedAttentionPress()``, ...) and, for each
input, sets the press's ``compression_ratio`` from the input's length and a policy profile
(:class:`wzbounds.profiles.PolicyProfile`, written by ``wzbounds policies`` under ``prefill``
semantics with ``kvpress:<press>``): a context of ``n`` cached tokens is the profile's context
length ``T = n + 1`` (the cache and the next token), the budget is
:func:`wzbounds.budget.budget_for_epsilon` at ``T``, and the ratio keeps exactly ``k - 1`` entries.
It then compresses with the wrapped press's own ``compress``. Use it wherever kvpress takes a press,
e.g. in ``pipeline("kv-press-text-generation", ...)``.

What it refuses (``ValueError`` naming the parameter): a press that is not a scorer press keeping
its top-scored entries (``ScorerPress.compress``), a profile that is not a policy profile, was not
measured under post-prefill eviction, measured another press or other press options, is in another
divergence than ``divergence``, or is marked untrusted; and, when kvpress attaches it to a model, a
model whose weights are not those the profile measured (sha256 of the state dict).

What ``eps`` means: the profile's claim — a mean over the measured text's positions of the
divergence of the next token after the compressed context — not a bound on every token.

kvpress (and torch) are imported when this module is; ``wzbounds.empirical`` exposes the class
lazily.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kvpress import BasePress, ScorerPress

from wzbounds._validation import real_scalar
from wzbounds.budget import budget_for_epsilon
from wzbounds.profiles import PolicyProfile, load_profile

__all__ = ["TargetDistortionPress"]


def _scorer_iv(press):
    if not isinstance(press, ScorerPress) or type(press).score is ScorerPress.score:
        raise ValueError(f"`press` must be a kvpress scorer press (a ScorerPress with its own `score`), got "
                         f"{type(press).__name__}")
    if type(press).compress is not ScorerPress.compress:
        raise ValueError(f"`press` {type(press).__name__} compresses with its own rule, not by keeping its "
                         "top-scored entries, so a curve measured by score (wzbounds policies kvpress:<press>) "
                         "does not describe it")
    return press


def _profile_iv(profile, press, divergence, allow_untrusted):
    if not isinstance(profile, PolicyProfile):
        profile = load_profile(profile) if not hasattr(profile, "kind") else profile
    if not isinstance(profile, PolicyProfile):
        raise ValueError(f"`profile` must be a policy profile (written by wzbounds policies to --out/profiles), got a "
                         f"{profile.kind} profile (a truncation profile sizes a window, not a press)")
    if profile.semantics != "prefill":
        raise ValueError(f"`profile` measured {profile.semantics} eviction; kvpress compresses after the prefill: "
                         "measure with --semantics prefill")
    if profile.divergence != divergence:
        raise ValueError(f"`profile` is in {profile.divergence!r}, `eps` in {divergence!r}")
    if not profile.trusted and not allow_untrusted:
        raise ValueError(f"`profile` is marked untrusted by its measurement ({'; '.join(profile.untrusted_reasons)}); "
                         "pass allow_untrusted=True to use it anyway")
    prov = profile.provenance
    if prov.get("press_class") != type(press).__name__:
        raise ValueError(f"`profile` measured {profile.policy!r}, not kvpress {type(press).__name__}: measure "
                         f"wzbounds policies --policies kvpress:{type(press).__name__}")
    options = dict(prov.get("press_options") or {})
    reference = type(press)(**options)
    differ = [f.name for f in dataclasses.fields(press) if f.name != "compression_ratio"
              and _differs(getattr(press, f.name), getattr(reference, f.name))]
    if differ:
        shown = ", ".join(f"{n}={getattr(press, n)!r} (profile: {getattr(reference, n)!r})" for n in differ)
        raise ValueError(f"`press` options differ from those the profile measured: {shown}")
    return profile


def _differs(a, b) -> bool:
    try:
        return bool(a != b)
    except (TypeError, RuntimeError, ValueError):  # tensors and modules: compare identity only
        return a is not b


@dataclass
class TargetDistortionPress(BasePress):
    """Wrap ``press`` so that each input keeps the budget ``profile`` gives for ``eps``.

    Parameters
    ----------
    press : a kvpress scorer press; its ``compression_ratio`` is overwritten per input.
    eps : target mean divergence (in ``divergence``), inside the profile's measured range.
    profile : a ``PolicyProfile`` (or its JSON path) measured with this press under prefill.
    extrapolate : allow inputs whose length lies outside the profile's measured context lengths.
    divergence : unit of ``eps`` (default ``"kl_nats"``); the profile must be in it.
    allow_untrusted : use a profile whose measurement failed its sanity checks.

    After a compression, ``last_budget`` holds the :class:`wzbounds.budget.BudgetResult` used.
    """

    press: ScorerPress
    eps: float
    profile: object
    extrapolate: bool = False
    divergence: str = "kl_nats"
    allow_untrusted: bool = False
    last_budget: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.press = _scorer_iv(self.press)
        self.eps = real_scalar("eps", self.eps, low=0.0)
        self.profile = _profile_iv(self.profile, self.press, self.divergence, self.allow_untrusted)
        self._budgets = {}
        self._checked = set()

    def budget(self, context_tokens: int):
        """The :class:`~wzbounds.budget.BudgetResult` for a context of ``context_tokens`` cached tokens."""
        if context_tokens not in self._budgets:
            self._budgets[context_tokens] = budget_for_epsilon(
                self.eps, self.profile, context_tokens=context_tokens + 1, extrapolate=self.extrapolate)
        return self._budgets[context_tokens]

    def post_init_from_model(self, model):
        self._check_model(model)
        self.press.post_init_from_model(model)

    def _check_model(self, model):
        from .policies.profiles import weights_sha256

        if id(model) in self._checked:
            return
        want = self.profile.provenance.get("weights_sha256")
        if not want:
            raise ValueError("`profile` records no weights sha256, so the model cannot be checked: rerun wzbounds "
                             "policies on the model (it records model_weights.json)")
        got = weights_sha256(model)
        if got != want:
            raise ValueError(f"`profile` was measured on other weights ({self.profile.provenance.get('model_id')}, "
                             f"state-dict sha256 {want[:12]}...; this model's {got[:12]}...): a budget transfers "
                             "only to the model (and dtype) it was measured on")
        self._checked.add(id(model))

    def compress(self, module, hidden_states, keys, values, attentions, kwargs):
        result = self.budget(int(keys.shape[2]))
        self.last_budget = result
        self.press.compression_ratio = float(result.compression_ratio)
        return self.press.compress(module, hidden_states, keys, values, attentions, kwargs)
