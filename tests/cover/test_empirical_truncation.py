"""Masks and truncation measurement on a tiny random model: the batched forward (runs of equal
length stacked, one forward per length) reproduces plain runs on the cut token lists (the
definition of a truncated run)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical.masks import attention_types, causal_keep, float_mask, model_masks  # noqa: E402
from wzbounds.empirical.models import tiny_random_model  # noqa: E402
from wzbounds.empirical.truncation import (divergences_from_logits, measure_batched, measure_oracle,  # noqa: E402
                                           plan_truncation)

torch.set_num_threads(1)
# float32 forward passes of differently shaped batches agree to ~1e-6 in probabilities; 1e-5 leaves room
ATOL = 1e-5


def _ids(T, seed=0):
    ids = np.random.default_rng(seed).integers(0, 256, T)
    ids[0] = 256  # BOS
    return ids


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_4d_causal_float_mask_reproduces_plain_run(attn):
    """A 4-D float causal mask with explicit position ids gives the plain run's logits."""
    lm = tiny_random_model(1, attn_implementation=attn)
    ids = torch.as_tensor(_ids(24))[None]
    plain = lm.model(input_ids=ids).logits
    masked = lm.model(input_ids=ids, attention_mask=model_masks(lm.model, causal_keep(1, 24)),
                      position_ids=torch.arange(24)[None]).logits
    torch.testing.assert_close(masked, plain, atol=ATOL, rtol=0)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_float_mask_is_honoured(attn):
    """Hiding the first token from every query changes the output (the mask is not ignored) and
    equals the plain run on the cut list when positions are kept (preserve mode)."""
    lm = tiny_random_model(2, attn_implementation=attn)
    T = 16
    ids = torch.as_tensor(_ids(T))[None]
    keep = causal_keep(1, T).clone()
    keep[:, 1:, 0] = False
    out = lm.model(input_ids=ids, attention_mask=float_mask(keep, torch.float32),
                   position_ids=torch.arange(T)[None]).logits[0, -1]
    plain_full = lm.model(input_ids=ids).logits[0, -1]
    cut = lm.model(input_ids=ids[:, 1:], attention_mask=torch.ones(1, T - 1, dtype=torch.long),
                   position_ids=torch.arange(1, T)[None]).logits[0, -1]
    assert (out - plain_full).abs().max() > 1e-3
    torch.testing.assert_close(out, cut, atol=ATOL, rtol=0)


def test_float_mask_values():
    keep = torch.tensor([[[True, False], [True, True]]])
    m = float_mask(keep, torch.float32)
    assert m.shape == (1, 1, 2, 2)
    assert m[0, 0, 0, 0] == 0 and m[0, 0, 0, 1] == torch.finfo(torch.float32).min
    with pytest.raises(ValueError, match="bool"):
        float_mask(keep.float(), torch.float32)


def test_gemma2_gets_mask_per_attention_type():
    lm = tiny_random_model(0, model_type="gemma2")
    assert attention_types(lm.model) == ("full_attention", "sliding_attention")
    masks = model_masks(lm.model, causal_keep(1, 12))
    assert set(masks) == {"full_attention", "sliding_attention"}
    window = lm.model.config.sliding_window
    # sliding layers hide keys at distance >= window
    assert masks["sliding_attention"][0, 0, 11, 11 - window] < 0 and masks["full_attention"][0, 0, 11, 0] == 0


@pytest.mark.parametrize("kw", [{}, {"attn_implementation": "eager"}, {"model_type": "gemma2"},
                                {"model_type": "gemma3"}])
def test_batched_equals_oracle(kw):
    """Batched forward == one plain run per cut token list, for every run kind."""
    lm = tiny_random_model(0, **kw)
    plan = plan_truncation(48, [1, 2, 3, 5, 8, 13, 21, 34], sink_tokens=3, perplexity_tokens=10)
    ids = _ids(48, 3)
    a, b = measure_batched(lm.model, ids, plan, floor=None), measure_oracle(lm.model, ids, plan)
    assert set(a.tv) == {"preserve", "reindex", "sink"}
    for k in a.tv:
        np.testing.assert_allclose(a.tv[k], b.tv[k], atol=ATOL)
        np.testing.assert_allclose(a.kl_nats[k], b.kl_nats[k], atol=10 * ATOL)  # KL ~ TV^2 / q: looser
        np.testing.assert_allclose(a.kl_smoothed_nats[k], b.kl_smoothed_nats[k], atol=10 * ATOL)
    assert a.nll_nats_sum == pytest.approx(b.nll_nats_sum, rel=1e-5)  # same float32 logits to ~1e-6
    # one forward per distinct run length; the oracle one per run
    assert b.forward_calls == len(plan.segments) and a.forward_calls == len({s.length for s in plan.segments})
    assert a.forward_tokens == plan.forward_tokens_per_prefix
    assert b.forward_tokens == plan.forward_tokens_per_prefix
    # the floor's second way adds one shifted full run (RoPE) and changes nothing measured
    c = measure_batched(lm.model, ids, plan)
    assert c.floor_method == "shift" and c.forward_calls == a.forward_calls + 1
    assert c.forward_tokens == a.forward_tokens + 48
    for k in a.tv:
        np.testing.assert_array_equal(a.tv[k], c.tv[k])


@pytest.mark.parametrize("model_type", ["llama", "gemma2"])
@pytest.mark.parametrize("protocol", ["fixed-end", "fixed-start"])
def test_floor_is_rounding_sized_in_both_ways(model_type, protocol):
    """Both second ways compute the same laws as the first in exact arithmetic: in float32 the
    floor is rounding-sized (not zero: the ways must round differently to measure anything), and a
    wrong second way (shifted positions where they are absolute) is caught by it being large."""
    lm = tiny_random_model(0, model_type=model_type)
    ids = _ids(48, 3)
    plan = plan_truncation(48, [1, 4, 16], protocol=protocol, **({"start_tokens": 24} if protocol == "fixed-start" else {}))
    for method in ("shift", "decode"):
        m = measure_batched(lm.model, ids, plan, floor=method)
        assert m.floor_method == method and m.floor_tv.shape == (len({r.reference for r in plan.readouts}),)
        # float32 forwards of a 2-layer model agree to ~1e-7 in TV; 1e-5 leaves room for BLAS order
        assert 0 < m.floor_tv.max() < 1e-5 and m.floor_kl_nats.max() < 1e-9
    # the same shift on a model with learned absolute positions changes the law: not a floor
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=257, n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()
    from wzbounds.empirical.truncation import floor_method

    assert floor_method(gpt2) == "decode"
    assert measure_batched(gpt2, ids, plan, floor="shift").floor_tv.max() > 1e-3
    assert measure_batched(gpt2, ids, plan).floor_tv.max() < 1e-5


def test_batched_oom_backoff_same_numbers():
    """Splitting rows across forwards (what the OOM back-off does) changes nothing."""
    lm = tiny_random_model(0)
    plan = plan_truncation(32, [1, 4, 16], sink_tokens=2)
    ids = _ids(32, 5)
    a, b = measure_batched(lm.model, ids, plan), measure_batched(lm.model, ids, plan, max_rows=1)
    assert b.forward_calls > 1
    np.testing.assert_allclose(a.tv["preserve"], b.tv["preserve"], atol=ATOL)


def test_preserve_equals_reindex_for_rope():
    """RoPE attention depends only on relative positions, so the two position modes agree."""
    lm = tiny_random_model(4)
    plan = plan_truncation(40, [2, 7, 19], sink_tokens=0)
    m = measure_batched(lm.model, _ids(40, 1), plan)
    np.testing.assert_allclose(m.tv["preserve"], m.tv["reindex"], atol=ATOL)


def test_truncation_changes_the_law():
    lm = tiny_random_model(0)
    plan = plan_truncation(32, [1, 16, 31], sink_tokens=0, modes=("preserve",))
    m = measure_batched(lm.model, _ids(32, 2), plan)
    assert np.all(m.tv["preserve"] > 0) and np.all(m.tv["preserve"] < 1)


def test_divergences_from_logits_properties():
    rng = np.random.default_rng(0)
    full = rng.normal(size=50)
    rows = np.vstack([full, rng.normal(size=(4, 50))])
    tv, kl, sm = divergences_from_logits(full, rows)
    assert tv[0] == pytest.approx(0, abs=1e-15) and kl[0] == pytest.approx(0, abs=1e-12)
    assert np.all(tv <= np.sqrt(kl / 2) + 1e-12)  # Pinsker
    assert sm.shape == (4, 5)
    assert np.all(sm >= 0)
    # smoothing with mu bounds the log-ratio: KL(p || (1-mu)q + mu/V) <= log(V / mu)
    assert np.all(sm <= np.log(50 / np.array([1e-4, 1e-2, 0.1, 0.3]))[:, None])


@pytest.mark.parametrize("windows, match", [([0, 2], r"\[1, 15\]"), ([16], r"\[1, 15\]"), ([], "non-empty")])
def test_plan_rejects_bad_windows(windows, match):
    with pytest.raises(ValueError, match=match):
        plan_truncation(16, windows)


def test_plan_rejects_bad_modes():
    with pytest.raises(ValueError, match="modes"):
        plan_truncation(16, [2], modes=("preserve", "shifted"))


@pytest.mark.parametrize("kw, modes", [({}, ("preserve", "reindex")), ({}, ("reindex", "preserve")),
                                       ({"attn_implementation": "eager"}, ("preserve",)),
                                       ({"model_type": "gemma2"}, ("preserve", "reindex"))])
def test_fixed_start_batched_equals_per_window_oracle(kw, modes):
    """fixed-start: the law at position s+w-1 of one run over x_s..x_{T-1} (and of the full run)
    == a plain run over x_s..x_{s+w-1} (and over x_0..x_{s+w-1}), for every window, both position
    modes and sink-plus-recent (sinks in the first mode)."""
    lm = tiny_random_model(0, **kw)
    T, s = 48, 20
    plan = plan_truncation(T, [1, 2, 3, 5, 8, 13, 21, 28], modes=modes, sink_tokens=3, perplexity_tokens=10,
                           protocol="fixed-start", start_tokens=s)
    ids = _ids(T, 7)
    a, b = measure_batched(lm.model, ids, plan, floor=None), measure_oracle(lm.model, ids, plan)
    assert set(a.tv) == set(modes) | {"sink"} and all(v.shape == (8,) for v in a.tv.values())
    for k in a.tv:
        np.testing.assert_allclose(a.tv[k], b.tv[k], atol=ATOL)
        np.testing.assert_allclose(a.kl_nats[k], b.kl_nats[k], atol=10 * ATOL)  # KL ~ TV^2 / q: looser
        np.testing.assert_allclose(a.kl_smoothed_nats[k], b.kl_smoothed_nats[k], atol=10 * ATOL)
    assert a.nll_nats_sum == pytest.approx(b.nll_nats_sum, rel=1e-5)  # same float32 logits to ~1e-6
    # one forward per run length (T, T - s for every mode, S + T - s); w = 28 reads at T-1: 7 more refs
    assert a.forward_calls == 3 and b.forward_calls == 1 + 7 + 8 * (len(modes) + 1)
    assert a.protocol == b.protocol == "fixed-start" and a.to_row()["start_tokens"] == s


def test_fixed_start_compares_at_the_window_end():
    """Window w is read at position s+w-1 against the full law there (not at the prefix end): with
    w = T - s both protocols compare the same pair, at smaller w they differ."""
    lm = tiny_random_model(1)
    T, s = 40, 20
    ids = _ids(T, 4)
    end = measure_batched(lm.model, ids, plan_truncation(T, [5, 20], modes=("preserve",), sink_tokens=0))
    start = measure_batched(lm.model, ids, plan_truncation(T, [5, 20], modes=("preserve",), sink_tokens=0,
                                                           protocol="fixed-start", start_tokens=s))
    assert start.tv["preserve"][1] == pytest.approx(end.tv["preserve"][1], abs=ATOL)  # the same runs
    assert abs(start.tv["preserve"][0] - end.tv["preserve"][0]) > 1e-4
    plan = plan_truncation(T, [5, 20], protocol="fixed-start")
    assert plan.start_tokens == T // 2 and [r.reference for r in plan.readouts[:2]] == [T // 2 + 4, T - 1]
    assert plan.forward_tokens_per_prefix == T + 3 * (T - T // 2) + 4  # full + 2 modes + sinks


@pytest.mark.parametrize("kw, match", [({"windows": [2, 21]}, r"windows.*\[1, 20\]"),
                                       ({"windows": [2, 31], "start_tokens": 10}, r"windows.*\[1, 30\]"),
                                       ({"windows": [2], "start_tokens": 40}, "start_tokens"),
                                       ({"windows": [2], "start_tokens": 3, "sink_tokens": 3}, "sink_tokens"),
                                       ({"windows": [2], "protocol": "middle"}, "protocol")])
def test_fixed_start_rejects_unmeasurable_windows(kw, match):
    """Only windows w <= T - s exist under fixed-start (the run over x_s..x_{T-1} has T - s tokens)."""
    kw = {"protocol": "fixed-start", **kw}
    with pytest.raises(ValueError, match=match):
        plan_truncation(40, **kw)


def test_start_tokens_needs_fixed_start():
    with pytest.raises(ValueError, match="start_tokens"):
        plan_truncation(40, [2], start_tokens=10)
