"""Sliding-window attention in bands (:mod:`wzbounds.empirical.banded`): the same attention as
transformers' SDPA, without the scores the mask hides."""
import numpy as np
import pytest

pytest.importorskip("torch")

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from wzbounds.empirical.banded import NAME, banded_sdpa_forward, chunk_bands
from wzbounds.empirical.models import tiny_random_model
from wzbounds.empirical.truncation import measure_batched, measure_oracle, plan_truncation

# float32 attention over the same visible keys, blocked differently by the kernel: ~1e-7 relative
ATOL = 1e-5


class _Module(torch.nn.Module):
    """What SDPA reads off an attention module: grouped-query heads (2 query heads per key head)."""

    num_key_value_groups = 2
    is_causal = True


def _qkv(q_len=40, k_len=40, batch=2, heads=4, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, heads, q_len, dim, generator=g), torch.randn(batch, heads // 2, k_len, dim, generator=g),
            torch.randn(batch, heads // 2, k_len, dim, generator=g))


def _sliding_keep(q_len, k_len, window, sinks=(0, 0)):
    """Bool ``(B, 1, Q, K)``: causal within ``window`` (queries are the last ``Q`` of ``K``); row
    ``b`` also sees its first ``sinks[b]`` keys, as a sink run's mask would."""
    q = torch.arange(k_len - q_len, k_len)[:, None]
    k = torch.arange(k_len)[None]
    band = (k <= q) & (q - k < window)
    return torch.stack([(band | ((k < s) & (k <= q)))[None] for s in sinks])


def _float(keep):
    return torch.zeros(keep.shape).masked_fill_(~keep, torch.finfo(torch.float32).min)


@pytest.mark.parametrize("as_float", [False, True])
@pytest.mark.parametrize("shape", [(40, 40), (24, 40)])  # a prefill; queries after 16 cached keys
def test_bands_hold_every_visible_key_and_few_others(as_float, shape):
    q_len, k_len = shape
    keep = _sliding_keep(q_len, k_len, 6, sinks=(0, 3))
    bands = chunk_bands(_float(keep) if as_float else keep, 6)
    assert [b[:2] for b in bands] == [(a, min(q_len, a + 6)) for a in range(0, q_len, 6)]
    for a, b, lo, hi in bands:
        rows = keep[..., a:b, :]
        assert not rows[..., :lo].any() and not rows[..., hi:].any()  # nothing visible is cut
        assert rows[..., lo].any() and rows[..., hi - 1].any()  # and the band is tight
    # a band is one key range: the sinks of row 1 pull every band down to key 0; without them a
    # chunk of 6 queries needs at most 6 + 5 window keys
    assert all(lo == 0 for *_, lo, _ in bands)
    alone = chunk_bands(keep[:1], 6)
    assert max(hi - lo for *_, lo, hi in alone) == 11


def test_a_query_that_sees_nothing_has_no_bands():
    keep = _sliding_keep(40, 40, 6)
    keep[1, 0, 17] = False
    assert chunk_bands(keep, 6) is None
    assert chunk_bands(keep[:1], 6) is not None  # the other batch row alone is fine


@pytest.mark.parametrize("as_float", [False, True])
def test_banded_equals_sdpa(as_float):
    q, k, v = _qkv(24, 40)
    keep = _sliding_keep(24, 40, 6, sinks=(0, 3))
    mask = _float(keep) if as_float else keep
    got, _ = banded_sdpa_forward(_Module(), q, k, v, mask, sliding_window=6, scaling=0.3)
    want, _ = sdpa_attention_forward(_Module(), q, k, v, mask, scaling=0.3)
    assert got.shape == want.shape == (2, 24, 4, 8)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_hidden_keys_are_never_read():
    """Values of keys no query of the first chunk sees set to NaN: the plain call multiplies them
    by zero weights (NaN), the banded one never touches them."""
    q, k, v = _qkv(40, 40)
    keep = _sliding_keep(40, 40, 6)
    v[:, :, 12:] = float("nan")  # the first chunk (queries 0-5) sees keys 0-5 only
    got, _ = banded_sdpa_forward(_Module(), q, k, v, keep, sliding_window=6)
    plain, _ = sdpa_attention_forward(_Module(), q, k, v, keep)
    assert torch.isfinite(got[:, :6]).all() and torch.isnan(plain[:, :6]).all()
    v2 = v.clone()
    v2[:, :, 12:] = 0.0
    torch.testing.assert_close(got[:, :6], sdpa_attention_forward(_Module(), q, k, v2, keep)[0][:, :6],
                               atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", ["global layer", "dense mask", "short input", "no mask", "empty row"])
def test_falls_back_to_one_plain_call(case):
    """Where banding saves less than half the scores, or cannot be exact: SDPA itself, bit for bit."""
    q, k, v = _qkv(40, 40)
    window, keep = 6, _sliding_keep(40, 40, 6)
    if case == "global layer":
        window = None
    elif case == "dense mask":
        keep = _sliding_keep(40, 40, 40)
    elif case == "short input":
        window = 20
    elif case == "no mask":
        keep = None
    else:
        keep[0, 0, 9] = False
    got, _ = banded_sdpa_forward(_Module(), q, k, v, keep, sliding_window=window)
    want, _ = sdpa_attention_forward(_Module(), q, k, v, keep, sliding_window=window)
    assert torch.equal(got.nan_to_num(), want.nan_to_num())


def test_a_gemma3_model_measures_the_same_banded_or_not():
    """Every run kind of the measurement (stacked rows, sinks with a position jump, reindexed
    positions, the shift floor), banded against plain SDPA and against the per-window oracle."""
    lm = tiny_random_model(0, model_type="gemma3")
    assert lm.provenance.attn_implementation == NAME
    T = 64  # > 2 windows of 8, so the sliding layers are banded
    ids = np.random.default_rng(3).integers(0, 256, T)
    plan = plan_truncation(T, [1, 3, 8, 20, 40], sink_tokens=3, perplexity_tokens=10, protocol="fixed-start",
                           start_tokens=20, sink_modes=("preserve", "reindex"))
    banded = measure_batched(lm.model, ids, plan)
    oracle = measure_oracle(lm.model, ids, plan)
    lm.model.set_attn_implementation("sdpa")
    plain = measure_batched(lm.model, ids, plan)
    for other in (oracle, plain):
        for kind in banded.tv:
            np.testing.assert_allclose(banded.tv[kind], other.tv[kind], atol=ATOL)
    assert banded.nll_nats_sum == pytest.approx(plain.nll_nats_sum, rel=1e-5)  # float32 logits to ~1e-6
    # the floor stays rounding-sized: banding does not move the full run's laws
    assert 0 < banded.floor_tv.max() < 1e-5
