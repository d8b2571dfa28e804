"""Cache policies and eviction semantics on a tiny random model (fast; torch needed).

Tolerances: logits agree to 1e-4 (float32 forward passes summing in different orders differ by
~1e-6 relative; 1e-4 leaves a wide margin without hiding a wrong mask, which moves logits by O(0.1))."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical import compat  # noqa: E402
from wzbounds.empirical.models import tiny_random_model  # noqa: E402
from wzbounds.empirical.policies import (HeavyHitter, LastQuery, RandomK, ScoreContext, SinkRecent,  # noqa: E402
                                         Sliding, make_policy, parse_policies, streaming_keep, top_k_mask)
from wzbounds.empirical.policies import semantics as sem  # noqa: E402
from wzbounds.empirical.policies.measure import measure_batch, measure_naive  # noqa: E402

pytestmark = pytest.mark.empirical
ATOL = 1e-4  # see module docstring
T = 20


@pytest.fixture(scope="module")
def lm():
    torch.set_num_threads(1)
    return tiny_random_model(seed=0)


@pytest.fixture(scope="module")
def ids():
    return torch.randint(0, 256, (2, T), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def pre(lm, ids):
    return sem.prefill(lm.model, ids, frozenset({"accumulated_attention", "last_query_attention"}))


ALL = [Sliding(), SinkRecent(sinks=3), RandomK(seed=0), HeavyHitter(), HeavyHitter(recent_ratio=0.0), LastQuery()]
BUDGETS = (1, 2, 5, 12, T - 1, T)  # no eviction at T; T - 1: one decode step


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.label)
@pytest.mark.parametrize("budget", [1, 2, 7, T])
def test_keep_sets_have_the_budget(pre, policy, budget):
    """Every keep-set holds exactly budget - 1 cached positions per (layer, prefix, head) row and
    has shape (L', B, H', K) with L' in {1, L}, H' in {1, H}."""
    keep = policy.keep(pre.ctx, budget)
    ctx = pre.ctx
    assert keep.dtype == torch.bool and keep.shape[1] == 2 and keep.shape[3] == T - 1
    assert keep.shape[0] in (1, ctx.n_layers) and keep.shape[2] in (1, ctx.n_kv_heads)
    assert (keep.sum(-1) == budget - 1).all()
    assert (policy.token_keep(ctx, budget).sum(-1) == budget - 1).all()


def test_unscored_layers_do_not_vote_in_truncation(pre):
    """Truncation's token-level consensus averages the layers a policy scores: a layer left at
    +inf everywhere (a kvpress press on a sliding-window layer) would tie every token and turn any
    policy into sliding. Here layer 0 prefers the oldest tokens, layer 1 is unscored."""
    from dataclasses import dataclass

    from wzbounds.empirical.policies.base import CachePolicy

    @dataclass(frozen=True)
    class OldestInLayerZero(CachePolicy):
        name = "oldest-in-layer-0"

        def score(self, ctx):
            k = ctx.n_cached
            old = -torch.arange(k, dtype=torch.float32).expand(ctx.batch_size, 1, k)
            return torch.stack([old, torch.full_like(old, float("inf"))])

    keep = OldestInLayerZero().token_keep(pre.ctx, 6)
    assert keep.shape == (2, T - 1) and keep[:, :5].all() and keep.sum(-1).eq(5).all()


def test_recency_policies_keep_what_they_say(pre):
    """sliding keeps the last k-1 cached positions; sink(s) keeps the first s and the last k-1-s."""
    k = 8
    sl = Sliding().keep(pre.ctx, k)[0, 0, 0]
    assert sl.nonzero().flatten().tolist() == list(range(T - 1 - (k - 1), T - 1))
    sk = SinkRecent(sinks=3).keep(pre.ctx, k)[0, 0, 0]
    assert sk.nonzero().flatten().tolist() == [0, 1, 2] + list(range(T - 1 - (k - 4), T - 1))


def test_random_is_seeded_per_prefix():
    """random-k: the same (seed, prefix seed) gives the same set; different prefixes differ."""
    ctx = ScoreContext(n_cached=50, batch_size=2, seeds=(3, 4))
    a, b = RandomK(seed=0).keep(ctx, 10), RandomK(seed=0).keep(ctx, 10)
    assert torch.equal(a, b) and not torch.equal(a[0, 0], a[0, 1])


def test_top_k_ties_go_to_recent():
    """Equal scores: the more recent positions are kept."""
    m = top_k_mask(torch.zeros(1, 6), 2)
    assert m[0].nonzero().flatten().tolist() == [4, 5]


def test_streaming_keep_is_a_valid_eviction_sequence():
    """Row i sees itself plus budget-1 earlier positions (or all of them while the cache is not
    full), and an evicted position never comes back: keep_i ⊆ keep_{i-1} ∪ {i-1, i}."""
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(3, 30, generator=g)
    keep = streaming_keep(scores, 6)
    for i in range(30):
        assert keep[:, i, i].all() and not keep[:, i, i + 1:].any()
        assert (keep[:, i, :i].sum(-1) == min(i, 5)).all()
        if i:
            allowed = keep[:, i - 1].clone()
            allowed[:, i - 1] = True
            assert not (keep[:, i, :i] & ~allowed[:, :i]).any()


@pytest.mark.parametrize("policy", [Sliding(), SinkRecent(sinks=2), RandomK(seed=1)], ids=lambda p: p.label)
@pytest.mark.parametrize("budget", [1, 5, 12])
def test_streaming_one_pass_equals_per_step_oracle(lm, ids, policy, budget):
    """One masked forward pass == token-by-token decoding with a real evicting cache."""
    fast = sem.streaming_logits(lm.model, ids, policy, budget, (5, 6))
    slow = sem.streaming_oracle(lm.model, ids, policy, budget, (5, 6))
    torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


@pytest.fixture(scope="module")
def stream_pre(lm, ids):
    """A prefill holding the start of every streaming decode of BUDGETS, in chunks as small as one
    token (CHUNK_BYTES = 1), so the chunked statistics are what is tested."""
    needs = frozenset({"accumulated_attention", "last_query_attention"})
    mp = pytest.MonkeyPatch()
    mp.setattr(sem, "CHUNK_BYTES", 1)
    try:
        return sem.prefill(lm.model, ids, needs, (5, 6), boundaries=[k for k in BUDGETS if k < T])
    finally:
        mp.undo()


@pytest.mark.parametrize("budget", BUDGETS)
def test_streaming_decode_equals_per_step_oracle(lm, ids, stream_pre, budget):
    """The batched incremental decode (every policy and prefix in one batch, started from the
    chunked prefill, slots overwritten in place) == the deliberately simple oracle (one prefix,
    one policy, from token 0, plain cache, statistics in Python lists) for every policy,
    attention-scored ones included."""
    fast = sem.streaming_decode_logits(lm.model, stream_pre, ALL, budget)
    for policy, logits in zip(ALL, fast):
        slow = sem.streaming_oracle(lm.model, ids, policy, budget, (5, 6))
        torch.testing.assert_close(logits, slow, atol=ATOL, rtol=0, msg=policy.label)


def test_streaming_decode_depends_on_the_policy(lm, stream_pre):
    """The oracle comparison is not vacuous: at a small budget the policies stream differently."""
    logits = sem.streaming_decode_logits(lm.model, stream_pre, ALL, 5)
    for i in range(len(ALL)):
        for j in range(i):
            assert (logits[i] - logits[j]).abs().max() > 100 * ATOL, (ALL[i].label, ALL[j].label)


def test_chunked_prefill_statistics_equal_one_pass(lm, ids, stream_pre):
    """Statistics recorded chunk by chunk equal those of one eager pass (read from transformers'
    own ``output_attentions``), at every boundary."""
    with torch.no_grad(), sem._attention_implementation(lm.model, "eager"):
        att = lm.model(ids[:, :-1], output_attentions=True).attentions
    full = torch.stack([sem._group_heads(a.float(), 2) for a in att])  # (L, B, H, K, K)
    for r, (acc, row) in stream_pre.starts.items():
        torch.testing.assert_close(acc, full[:, :, :, :r, :r].sum(dim=3), atol=ATOL, rtol=0)
        torch.testing.assert_close(row, full[:, :, :, r - 1, :r], atol=ATOL, rtol=0)
    torch.testing.assert_close(stream_pre.ctx.accumulated_attention, full.sum(dim=3), atol=ATOL, rtol=0)


def test_streaming_rejects_attention_scored_policies(lm, ids):
    """H2O / last-query scores depend on attention under their own evictions: no one-pass streaming."""
    with pytest.raises(ValueError, match="step-invariant"):
        sem.streaming_logits(lm.model, ids, HeavyHitter(), 4)


def test_streaming_decode_needs_its_start(lm, ids, pre):
    """The decode of an attention-scored policy needs the prefill's statistics at its budget."""
    with pytest.raises(ValueError, match="boundaries"):
        sem.streaming_decode_logits(lm.model, pre, [HeavyHitter()], 4)


def test_h2o_is_heavy_hitters_plus_recent_window(pre):
    """h2o at budget k keeps the most recent round(k/2) - 1 cached positions (the query completes
    the recent half) and the k/2 heaviest of the rest; h2o-acc is the pure heavy-hitter rule."""
    k = 9
    keep = HeavyHitter().keep(pre.ctx, k)  # (L, B, H, K)
    n_recent = HeavyHitter().n_recent_cached(k)
    assert n_recent == 4 and HeavyHitter().label == "h2o" and HeavyHitter(recent_ratio=0.0).label == "h2o-acc"
    assert keep[..., T - 1 - n_recent:].all()
    acc = pre.ctx.accumulated_attention[..., :T - 1 - n_recent]
    assert torch.equal(keep[..., :T - 1 - n_recent], top_k_mask(acc, k - 1 - n_recent))
    assert torch.equal(HeavyHitter(recent_ratio=0.0).keep(pre.ctx, k), top_k_mask(pre.ctx.accumulated_attention, k - 1))
    with pytest.raises(ValueError, match="recent_ratio"):
        HeavyHitter(recent_ratio=1.5)
    with pytest.raises(ValueError, match="budget"):
        HeavyHitter().score(pre.ctx)


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.label)
def test_prefill_batched_equals_naive(lm, ids, pre, policy):
    """Shared prefill + one decode step per budget == a fresh prefill per budget."""
    for budget in (2, 9):
        fast = sem.prefill_eviction_logits(lm.model, pre, policy.keep(pre.ctx, budget), budget)
        slow, _ = sem.prefill_eviction_naive(lm.model, ids, policy, budget)
        torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


def test_full_budget_reproduces_the_full_context(lm, ids, pre):
    """Budget T (everything kept) gives KL 0 under all three semantics, and the prefill's reference
    equals a plain forward pass."""
    torch.testing.assert_close(pre.full_logits, lm.model(ids).logits[:, -1], atol=ATOL, rtol=0)
    p = Sliding()
    for logits in (sem.prefill_eviction_logits(lm.model, pre, p.keep(pre.ctx, T), T),
                   sem.truncation_logits(lm.model, ids, p.token_keep(pre.ctx, T), T),
                   sem.streaming_logits(lm.model, ids, p, T)):
        assert sem.divergences(pre.full_logits, logits)[1].max() < 1e-8  # float32 logits, float64 KL


@pytest.mark.parametrize("mode", ["preserve", "reindex"])
def test_truncation_is_re_encoding(lm, ids, pre, mode):
    """Truncation of sink(2) at budget 6 == a plain forward on the kept tokens alone."""
    keep = SinkRecent(sinks=2).token_keep(pre.ctx, 6)
    got = sem.truncation_logits(lm.model, ids, keep, 6, mode)
    index = torch.tensor([0, 1, T - 4, T - 3, T - 2, T - 1])
    pos = index if mode == "preserve" else torch.arange(6)
    cache = None
    with torch.no_grad():  # token by token with a cache: no mask construction involved
        for j in range(6):
            out = lm.model(ids[:, index[j:j + 1]], position_ids=pos[j:j + 1].expand(2, 1),
                           **compat.cache_kwarg(cache), use_cache=True)
            cache = out.past_key_values
    torch.testing.assert_close(got, out.logits[:, -1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("streaming", ["masked", "decode"])
def test_measure_batch_equals_naive(lm, ids, streaming):
    """The batched table equals the one-run-per-(policy, budget) table for every semantics, with
    step-invariant policies streamed either way."""
    pols = [Sliding(), RandomK(seed=2), HeavyHitter(), LastQuery()]
    a = measure_batch(lm.model, ids, pols, (3, 8, T), seeds=(5, 6), streaming=streaming)
    b = measure_naive(lm.model, ids, pols, (3, 8, T), seeds=(5, 6))
    assert a.kl_nats.keys() == b.kl_nats.keys() == a.tv.keys() == b.tv.keys() and not a.skipped and not b.skipped
    assert a.streaming_method == {"sliding": streaming, "random": streaming, "h2o": "decode", "lastq": "decode"}
    for key in a.kl_nats:
        np.testing.assert_allclose(a.kl_nats[key], b.kl_nats[key], atol=1e-4)  # KL of logits within ATOL
        np.testing.assert_allclose(a.tv[key], b.tv[key], atol=1e-4)  # TV moves less than the logits do
        assert a.tv[key].shape == a.kl_nats[key].shape == (2, 3)


def test_recorded_tv_is_half_the_l1_distance_of_the_two_laws(lm, ids):
    """The TV measure_batch records equals 0.5 sum |p - q| computed here in numpy from logits obtained
    independently (a plain forward for p, the naive post-prefill eviction for q), and is paired with
    the KL of the same laws (Pinsker: TV <= sqrt(KL / 2))."""
    budgets = (3, 8, T)
    m = measure_batch(lm.model, ids, [HeavyHitter()], budgets, semantics=("prefill",))
    with torch.no_grad():
        full = lm.model(ids).logits[:, -1].double().numpy()

    def softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    for j, k in enumerate(budgets):
        q_logits, _ = sem.prefill_eviction_naive(lm.model, ids, HeavyHitter(), k)
        want = 0.5 * np.abs(softmax(full) - softmax(q_logits.double().numpy())).sum(axis=-1)
        # float32 logits of two paths agree to ~1e-6 and TV moves by at most their sup-norm change: ATOL is margin
        np.testing.assert_allclose(m.tv[("prefill", "h2o")][:, j], want, atol=ATOL)
    tv, kl = m.tv[("prefill", "h2o")], m.kl_nats[("prefill", "h2o")]
    assert np.all(tv[:, 0] > 0.01) and np.all(tv[:, -1] < 1e-6)  # evicting moves the law; keeping all does not
    assert np.all((tv >= 0) & (tv <= 1))
    # where eviction moved the law (KL far above float64 rounding); slack: rounding of the float64 sums
    assert np.all(tv[:, :-1] <= np.sqrt(kl[:, :-1] / 2) + 1e-12)


def test_cost_accounting(lm, ids):
    """Forward-token equivalents and floors, per semantics, for B = 2, T = 20, budgets (3, 8), two
    policies, one streamed by decode and one by the masked pass."""
    m = measure_batch(lm.model, ids, [Sliding(), LastQuery()], (3, 8), seeds=(5, 6))
    b, nb, ks = 2, 2, 3 + 8
    assert m.forward_tokens == {"shared_prefill": b * T, "truncation": 2 * b * ks, "prefill": 2 * nb * b,
                                "streaming": b * nb * T + b * ((T - 3) + (T - 8))}
    assert m.floor_tokens == {"shared_prefill": b * T, "truncation": 2 * b * ks, "prefill": 2 * nb * b,
                              "streaming": 2 * nb * b * T}
    ratios = m.cost_ratios()
    assert ratios["prefill"] == ratios["truncation"] == 1.0 and ratios["streaming"] == (40 + 29) / 80


def test_parse_policies_and_validation():
    """Names parse; bad names, duplicates and budgets outside [1, K+1] raise ValueError."""
    assert [p.label for p in parse_policies("sliding, sink,random", sinks=2)] == ["sliding", "sink(2)", "random"]
    with pytest.raises(ValueError, match="policies"):
        make_policy("lru")
    with pytest.raises(ValueError, match="duplicates"):
        parse_policies("sliding,sliding")
    with pytest.raises(ValueError, match="budget"):
        Sliding().keep(ScoreContext(n_cached=5), 7)
    with pytest.raises(ValueError, match="sinks"):
        SinkRecent(sinks=-1)


def test_cli_tiny_run_and_resume(tmp_path, capsys):
    """`wzbounds policies` on the tiny model writes rows, JSON, report; a rerun resumes (no new rows)."""
    import json

    from wzbounds.cli import main

    argv = ["policies", "--tiny-random-model", "--n-prefixes", "3", "--prefix-tokens", "24", "--budgets",
            "2,4,8", "--domains", "natural", "--policies", "sliding,random,lastq", "--n-resamples", "50",
            "--batch-size", "2", "--threads", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    n_rows = len((tmp_path / "rows.jsonl").read_text().splitlines())
    res = json.loads((tmp_path / "policies.json").read_text())
    assert res["kind"] == "wzbounds.policies" and res["config"]["budgets_tokens"] == [2, 4, 8]
    assert {(c["semantics"], c["policy"]) for c in res["curves"]} == {
        (s, p) for s in sem.SEMANTICS for p in ("sliding", "random", "lastq")}  # lastq streams by decode
    assert not res["skipped"]
    assert any(r["numerator"] == "random" and r["denominator"] == "sliding" and r["semantics"] == "truncation"
               for r in res["suppression"])
    report = (tmp_path / "report.md").read_text()
    assert "Budget exponents vs references" in report and "Summaries vs the suffix-only exponent" in report
    assert main(argv) == 0
    assert len((tmp_path / "rows.jsonl").read_text().splitlines()) == n_rows
    assert main(argv[:-1] + [str(tmp_path)] + ["--seed", "1"]) == 2  # different config: refused
    (tmp_path / "policies.json").unlink()
    assert main(argv + ["--summarize-only"]) == 0  # re-summarise stored rows without the model
    assert json.loads((tmp_path / "policies.json").read_text())["curves"] == res["curves"]




def test_kvpress_adapter_scores_and_batches(lm, ids):
    """A kvpress scorer press (knorm, snapkv) yields per-layer, per-head keep-sets with the budget,
    and the batched prefill path equals the naive one."""
    pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")
    for spec in ("kvpress:knorm", "kvpress:snapkv(window_size=4)"):
        p = make_policy(spec)
        pre = sem.prefill(lm.model, ids, p.needs)
        keep = p.keep(pre.ctx, 6)
        assert keep.shape == (pre.ctx.n_layers, 2, pre.ctx.n_kv_heads, T - 1)
        assert (keep.sum(-1) == 5).all()
        fast = sem.prefill_eviction_logits(lm.model, pre, keep, 6)
        slow, _ = sem.prefill_eviction_naive(lm.model, ids, p, 6)
        torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


def test_kvpress_knorm_matches_its_definition(lm, ids):
    """knorm keeps the keys of smallest norm (kvpress's KnormPress score = -||k||)."""
    pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")
    p = make_policy("kvpress:knorm")
    pre = sem.prefill(lm.model, ids, p.needs)
    keep = p.keep(pre.ctx, 4)
    norms = pre.keys[0].norm(dim=-1)  # (B, H, K)
    want = top_k_mask(-norms, 3)
    assert torch.equal(keep[0], want)


def test_kvpress_unknown_press_is_a_value_error():
    pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")
    with pytest.raises(ValueError, match="unknown kvpress press"):
        make_policy("kvpress:nonexistent")


@pytest.fixture(scope="module", params=["gemma2", "gemma3"])
def gemma(request):
    """The Gemma-2 variant (alternating sliding-window (8 tokens) and global layers, soft-capped,
    eager) and the Gemma-3 one (sliding, global, sliding; SDPA in bands)."""
    return tiny_random_model(seed=0, model_type=request.param)


def test_gemma2_full_cache_reproduces_the_plain_forward(gemma, ids):
    """The prefill keeps every entry in sliding layers too, and the query step's per-layer position
    masks reproduce transformers' own sliding-window masking (T = 20 > window 8)."""
    pre = sem.prefill(gemma.model, ids)
    assert all(k.shape[2] == T - 1 for k in pre.keys)
    with torch.no_grad():
        plain = gemma.model(ids).logits[:, -1]
    torch.testing.assert_close(pre.full_logits, plain, atol=ATOL, rtol=0)


@pytest.mark.parametrize("budget", [3, 12])
def test_gemma2_streaming_decode_equals_masked_pass(gemma, ids, budget):
    """On sliding + global layers the decode (masks from the entries' positions) equals the masked
    pass (masks from sequence indices, :func:`~wzbounds.empirical.masks.model_masks`)."""
    pols = [Sliding(), SinkRecent(sinks=2), RandomK(seed=1)]
    pre = sem.prefill(gemma.model, ids, seeds=(5, 6))
    for policy, logits in zip(pols, sem.streaming_decode_logits(gemma.model, pre, pols, budget)):
        masked = sem.streaming_logits(gemma.model, ids, policy, budget, (5, 6))
        torch.testing.assert_close(logits, masked, atol=ATOL, rtol=0, msg=policy.label)


def test_oracle_refuses_sliding_window_models(gemma, ids):
    """The oracle's plain cache masks sliding layers by index, wrong after evictions: it refuses."""
    with pytest.raises(ValueError, match="full-attention"):
        sem.streaming_oracle(gemma.model, ids, Sliding(), 4)


@pytest.mark.parametrize("model_type", ["llama", "gemma2"])
def test_grouped_eager_attention_is_transformers_eager(model_type):
    """The decode's grouped attention equals the model's own eager attention (scale, Gemma-2's
    soft-cap, an additive per-head mask) without repeating KV heads, and its registration with
    transformers lasts only while it runs."""
    import importlib

    from transformers import AttentionInterface

    module = tiny_random_model(seed=0, model_type=model_type).model.model.layers[0].self_attn
    eager = importlib.import_module(type(module).__module__).eager_attention_forward
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, h, n, 8, generator=g) for h, n in ((4, 2), (2, 7), (2, 7)))
    hidden = torch.rand(3, 4, 2, 7, generator=g) < 0.3
    mask = torch.zeros(3, 4, 2, 7).masked_fill_(hidden, torch.finfo(torch.float32).min)
    kw = dict(scaling=module.scaling, softcap=getattr(module, "attn_logit_softcapping", None))
    for m in (None, mask):
        want = eager(module, q, k, v, m, **kw)
        got = sem._gqa_eager_attention(module, q, k, v, m, **kw)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)  # same sums, another BLAS order
    lm = tiny_random_model(seed=0)
    with sem._gqa_eager(lm.model):
        assert lm.model.config._attn_implementation == sem.GQA_EAGER
    assert lm.model.config._attn_implementation == "sdpa" and sem.GQA_EAGER not in AttentionInterface._global_mapping


def test_progress_counts_every_forward_pass(lm, ids):
    """``measure_batch(progress=...)`` is called once per forward pass the model actually runs
    (counted here by a hook on the model), with a total fixed from the shared prefill on that equals
    the passes run, the result's ``forward_calls``: a progress bar that ends at 100%, not before."""
    pols = [Sliding(), RandomK(seed=2), HeavyHitter(), LastQuery()]
    calls, seen = [], []
    handle = lm.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        m = measure_batch(lm.model, ids, pols, (3, 8, T), seeds=(5, 6), streaming="masked",
                          progress=lambda done, total: seen.append((done, total, len(calls))))
    finally:
        handle.remove()
    totals = {total for _, total, _ in seen}
    assert totals == {len(calls)} == {m.forward_calls}
    first = seen[0][0]
    assert [done for done, _, _ in seen] == list(range(first, len(calls) + 1))  # one call per pass after the prefill
    assert all(done == ran for done, _, ran in seen)  # `done` is what the model has run at that moment
