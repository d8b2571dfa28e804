"""Cache policies and eviction semantics on a tiny random model (fast; torch needed).

Tolerances: logits agree to 1e-4 (float32 forward passes summing in different orders differ by
~1e-6 relative; 1e-4 leaves a wide margin without hiding a wrong mask, which moves logits by O(0.1))."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

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


ALL = [Sliding(), SinkRecent(sinks=3), RandomK(seed=0), HeavyHitter(), LastQuery()]


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
    fast = sem.streaming_logits(lm.model, ids, policy, budget)
    slow = sem.streaming_oracle(lm.model, ids, policy, budget)
    torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


def test_streaming_rejects_attention_scored_policies(lm, ids):
    """H2O / last-query scores depend on attention under their own evictions: no one-pass streaming."""
    with pytest.raises(ValueError, match="step-invariant"):
        sem.streaming_logits(lm.model, ids, HeavyHitter(), 4)


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.label)
def test_prefill_batched_equals_naive(lm, ids, pre, policy):
    """Shared prefill + one decode step per budget == a fresh prefill per budget."""
    for budget in (2, 9):
        fast = sem.prefill_eviction_logits(lm.model, pre, policy.keep(pre.ctx, budget))
        slow, _ = sem.prefill_eviction_naive(lm.model, ids, policy, budget)
        torch.testing.assert_close(fast, slow, atol=ATOL, rtol=0)


def test_full_budget_reproduces_the_full_context(lm, ids, pre):
    """Budget T (everything kept) gives KL 0 under all three semantics, and the prefill's reference
    equals a plain forward pass."""
    torch.testing.assert_close(pre.full_logits, lm.model(ids).logits[:, -1], atol=ATOL, rtol=0)
    p = Sliding()
    for logits in (sem.prefill_eviction_logits(lm.model, pre, p.keep(pre.ctx, T)),
                   sem.truncation_logits(lm.model, ids, p.token_keep(pre.ctx, T)),
                   sem.streaming_logits(lm.model, ids, p, T)):
        assert sem.kl_nats(pre.full_logits, logits).max() < 1e-8  # float32 logits, float64 KL


@pytest.mark.parametrize("mode", ["preserve", "reindex"])
def test_truncation_is_re_encoding(lm, ids, pre, mode):
    """Truncation of sink(2) at budget 6 == a plain forward on the kept tokens alone."""
    keep = SinkRecent(sinks=2).token_keep(pre.ctx, 6)
    got = sem.truncation_logits(lm.model, ids, keep, mode)
    index = torch.tensor([0, 1, T - 4, T - 3, T - 2, T - 1])
    pos = index if mode == "preserve" else torch.arange(6)
    cache = None
    with torch.no_grad():  # token by token with a cache: no mask construction involved
        for j in range(6):
            out = lm.model(ids[:, index[j:j + 1]], position_ids=pos[j:j + 1].expand(2, 1),
                           past_key_values=cache, use_cache=True)
            cache = out.past_key_values
    torch.testing.assert_close(got, out.logits[:, -1], atol=ATOL, rtol=0)


def test_measure_batch_equals_naive(lm, ids):
    """The batched table equals the one-run-per-(policy, budget) table for every semantics."""
    pols = [Sliding(), RandomK(seed=2), LastQuery()]
    a = measure_batch(lm.model, ids, pols, (3, 8), seeds=(5, 6))
    b = measure_naive(lm.model, ids, pols, (3, 8), seeds=(5, 6))
    assert a.kl_nats.keys() == b.kl_nats.keys() and a.skipped.keys() == b.skipped.keys()
    assert ("streaming", "lastq") in a.skipped
    for key in a.kl_nats:
        np.testing.assert_allclose(a.kl_nats[key], b.kl_nats[key], atol=1e-4)  # KL of logits within ATOL


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
    assert res["kind"] == "policies" and res["config"]["budgets_tokens"] == [2, 4, 8]
    assert {c["policy"] for c in res["curves"]} == {"sliding", "random", "lastq"}
    assert "random/sliding" in res["suppression"]["natural"]["truncation"]
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
        fast = sem.prefill_eviction_logits(lm.model, pre, keep)
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
