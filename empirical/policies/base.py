"""What a cache policy is: a scoring rule over cached positions, and the top-k keep-set it implies.

Conventions (the theory's, see ``proofs/CONVENTIONS.md``). A prefix holds ``T`` tokens
``x_0 .. x_{T-1}``; the decoder predicts the token after ``x_{T-1}``. The last token is the
*query* (the decoder's side information): it is always visible. The ``K = T - 1`` earlier tokens
are the *cache*. A **budget** of ``k`` tokens means the prediction sees ``k`` tokens of context:
the query plus ``k - 1`` cached positions chosen by the policy. So ``sliding`` at budget ``k`` is
exactly the theory's window of ``w = k`` tokens.

A policy only *scores* cached positions (higher = keep); :meth:`CachePolicy.keep` turns scores
into the top-``(k-1)`` keep-set (ties go to the more recent position). Scores may be per layer
and per KV head (shape ``(L', B, H', K)`` with ``L'`` in ``{1, L}`` and ``H'`` in ``{1, H}``):
post-prefill eviction and the streaming decode honour that; truncation, which can only drop
whole tokens, uses the token-level consensus (mean over layers and heads). The same hook scores
a streaming cache at every decode step: the :class:`ScoreContext` then carries the positions of
the entries held (they may differ per layer and head) and the statistics of the run so far.

Every tensor a policy creates lives on ``ctx.device`` (the model's device): a test runs every
policy on torch's ``meta`` device, where mixing in a CPU tensor raises.

Adding a policy is one small file: a frozen ``@dataclass`` subclass with a ``name``, the
``needs`` it asks the prefill for, and one :meth:`score` override; register it in
``wzbounds.empirical.policies.registry``.

torch is imported inside functions so that importing this module stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

#: What a policy may ask the shared prefill to record (see :class:`ScoreContext`).
NEEDS = frozenset({"accumulated_attention", "last_query_attention", "layer_inputs"})


@dataclass(frozen=True)
class ScoreContext:
    """Everything a policy may look at when scoring the cache of a batch of prefixes.

    The same context serves post-prefill eviction (one scoring of the whole cache, positions
    ``0 .. K-1``, the query at ``K``) and streaming eviction (one scoring per decode step of the
    ``K`` entries the cache holds, which may sit at different positions in every layer and head).

    Attributes
    ----------
    n_cached : K, the number of cached entries scored.
    batch_size : B, number of prefixes scored together.
    n_layers, n_kv_heads : L and H of the model (1, 1 when unknown, e.g. for one masked pass).
    seeds : tuple of B ints, one per prefix, for stochastic policies (resumable, order-free).
    accumulated_attention : ``(L, B, H, K)`` float tensor or None: for every cached entry, the sum
        of the attention probability it received from every query that has seen it (all prefill
        queries; under streaming, also every decode query under the policy's own evictions),
        summed over the query heads that share each KV head (H2O's statistic).
    last_query_attention : ``(L, B, H, K)`` float tensor or None: attention probabilities of the
        latest query over the cached entries, summed over each KV group's query heads. After a
        prefill that query is the one being predicted for (it sees the full cache); during a
        streaming decode it is the token just processed, over the entries it saw.
    layer_inputs : tuple of L ``LayerInput`` or None: what each attention layer saw in the prefill.
    model : the transformers model (for policies that call its modules), or None.
    compressible_layers : tuple of layer indices a layer-wise policy may evict in (others keep all).
    positions : ``(L', B, H', K)`` long tensor (``L'`` in ``{1, L}``, ``H'`` in ``{1, H}``) or None:
        the sequence position of every cached entry; None means ``0 .. K-1`` (after a prefill).
    query_position : position of the query the keep-set is for (every cached position is
        smaller); None (the default) is replaced by ``K``, the query right after a prefill.
    budget : the budget ``k`` being applied (set by :meth:`CachePolicy.keep`; for policies whose
        scores depend on it, e.g. H2O's recent window), or None.
    device : torch device (or its name) every tensor a policy creates must live on: the model's.
    """

    n_cached: int
    batch_size: int = 1
    n_layers: int = 1
    n_kv_heads: int = 1
    seeds: tuple = (0,)
    accumulated_attention: object = None
    last_query_attention: object = None
    layer_inputs: tuple | None = None
    model: object = None
    compressible_layers: tuple = ()
    positions: object = None
    query_position: int | None = None
    budget: int | None = None
    device: object = "cpu"

    def __post_init__(self):
        if self.query_position is None:
            object.__setattr__(self, "query_position", self.n_cached)

    def require(self, what: str):
        """The recorded statistic ``what`` (one of :data:`NEEDS`); ValueError if not recorded."""
        value = getattr(self, what)
        if value is None:
            raise ValueError(f"this policy needs `{what}` but the prefill did not record it")
        return value

    def position_ids(self):
        """``(L', B, H', K)`` long positions of the cached entries on :attr:`device` (``(1, B, 1, K)``
        ``0 .. K-1`` when :attr:`positions` is None)."""
        import torch

        if self.positions is not None:
            return self.positions
        return torch.arange(self.n_cached, device=self.device).expand(1, self.batch_size, 1, self.n_cached)

    def require_budget(self) -> int:
        """:attr:`budget`; ValueError if the caller did not set it."""
        if self.budget is None:
            raise ValueError("this policy's scores depend on the `budget`; score it through keep()/token_keep()")
        return int(self.budget)


@dataclass(frozen=True)
class LayerInput:
    """One attention layer's prefill call: ``module`` (the attention module), ``hidden_states``
    ``(B, K, hidden)`` (its input), ``keys``/``values`` ``(B, H, K, head_dim)`` (its cache after
    the prefill, RoPE applied), ``kwargs`` (the keyword arguments the layer was called with:
    ``position_embeddings``, ``cache_position``, ...)."""

    module: object
    hidden_states: object
    keys: object
    values: object
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CachePolicy:
    """Base class: a rule choosing which cached positions each query may see under a budget.

    Subclasses set ``name`` and override :meth:`score`. ``needs`` names the statistics
    :meth:`score` reads. ``step_invariant`` is True when the score of an entry depends only on its
    position (and the prefix's seed), not on the step at which the cache is evicted nor on
    attention: then a streaming cache that always evicts its lowest-scored entry keeps, at step
    ``i``, the top-``(k-1)`` of positions ``< i``, and one masked forward pass computes every step.
    Other policies are scored again at every step of a streaming decode, on the statistics of the
    run under their own evictions.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset] = frozenset()
    step_invariant: ClassVar[bool] = False

    def score(self, ctx: ScoreContext):
        """Scores of the cached entries, higher = keep, on ``ctx.device``.

        Returns a float tensor of shape ``(L', B, H', K)``, ``L'`` in ``{1, ctx.n_layers}``,
        ``H'`` in ``{1, ctx.n_kv_heads}``, ``K = ctx.n_cached``.
        """
        raise NotImplementedError

    @property
    def label(self) -> str:
        """Name with parameters, as shown in results (e.g. ``sink(4)``)."""
        return self.name

    def keep(self, ctx: ScoreContext, budget: int):
        """Boolean keep-set ``(L', B, H', K)`` with exactly ``budget - 1`` True per row.

        ``budget`` counts the query token, so ``1 <= budget <= K + 1``.
        """
        budget = check_budget(budget, ctx.n_cached)
        return top_k_mask(self.score(replace(ctx, budget=budget)), budget - 1)

    def token_keep(self, ctx: ScoreContext, budget: int):
        """Token-level keep-set ``(B, K)``: top-``(budget-1)`` of the scores averaged over layers
        and heads (what truncation, which drops whole tokens, can apply). Layers the policy leaves
        unscored (``+inf`` everywhere: a kvpress press on a sliding-window layer) do not vote;
        otherwise their ``+inf`` would tie every token and hand the choice to recency."""
        import torch

        budget = check_budget(budget, ctx.n_cached)
        scores = self.score(replace(ctx, budget=budget)).float()
        # weights 1 on scored layers (on every layer when none is scored), without a host sync, so
        # that this runs on any device (the tests run it on torch's meta device)
        scored = ~torch.isposinf(scores).flatten(1).all(1)
        weight = torch.where(scored.any(), scored, torch.ones_like(scored)).float()
        votes = torch.where(weight[:, None, None, None] > 0, scores, torch.zeros_like(scores))
        return top_k_mask((votes.sum(0) / weight.sum()).mean(1), budget - 1)


def check_budget(budget, n_cached: int) -> int:
    """``budget`` as an int in ``[1, n_cached + 1]`` (it counts the query token)."""
    if isinstance(budget, bool) or int(budget) != budget or not 1 <= int(budget) <= n_cached + 1:
        raise ValueError(f"`budget` must be an integer in [1, {n_cached + 1}] (cache of {n_cached} "
                         f"tokens plus the query), got {budget!r}")
    return int(budget)


def _order_key(scores):
    """Ranks along the last axis, 0 = most wanted; ties broken toward the more recent position."""
    import torch

    k = scores.shape[-1]
    # sort recent-first, then a stable descending sort by score keeps recent-first among ties
    flipped = torch.flip(scores, dims=(-1,))
    order = torch.argsort(flipped, dim=-1, descending=True, stable=True)
    order = k - 1 - order  # back to original positions
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(k, device=scores.device).expand_as(order))
    return ranks


def top_k_mask(scores, n_keep: int):
    """Boolean mask of the ``n_keep`` highest scores along the last axis (same shape as ``scores``);
    ties go to the higher (more recent) index."""
    n = scores.shape[-1]
    if not 0 <= n_keep <= n:
        raise ValueError(f"`n_keep` must lie in [0, {n}], got {n_keep}")
    return _order_key(scores) < n_keep


def evict_one(scores, positions):
    """Which entry a full streaming cache drops: the lowest score, ties going to the older entry
    (the rule :func:`top_k_mask` applies to a whole cache, where index = position).

    ``scores``: ``(..., n)`` float; ``positions``: ``(..., n)`` long, the entries' positions (any
    order). Returns the ``(...)`` long index of the victim along the last axis.
    """
    import torch

    lowest = scores == scores.amin(dim=-1, keepdim=True)
    older = torch.where(lowest, positions, torch.iinfo(positions.dtype).max)
    return older.argmin(dim=-1)


def streaming_keep(scores, budget: int):
    """Keep-sets of a streaming cache that always evicts its lowest-scored entry.

    ``scores``: ``(B, T)`` step-invariant scores of positions ``0 .. T-1``. Returns a boolean
    ``(B, T, T)`` tensor: row ``i`` is what the query at position ``i`` sees — itself plus the
    top-``(budget-1)`` of positions ``< i`` (ties toward the more recent). Because scores do not
    change with the step, top-``m`` of ``S + {new}`` is inside top-``m`` of ``S`` plus ``new``:
    this is a valid eviction sequence (an evicted entry never comes back).
    """
    import torch

    t = scores.shape[1]
    j = torch.arange(t, device=scores.device)
    s_row = scores[:, :, None]  # j'
    s_col = scores[:, None, :]  # j
    # beats[b, j', j]: position j' is preferred to j
    beats = (s_row > s_col) | ((s_row == s_col) & (j[:, None] > j[None, :]))
    # ahead[b, i, j] = #{j' < i : j' beats j}: exclusive cumulative sum over j'
    ahead = torch.cumsum(beats.to(torch.int32), dim=1) - beats.to(torch.int32)
    earlier = j[None, :] < j[:, None]  # (i, j): j < i
    keep = earlier[None] & (ahead < budget - 1)
    keep |= torch.eye(t, dtype=torch.bool, device=scores.device)[None]
    return keep
