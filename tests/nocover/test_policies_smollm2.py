"""Slow: `wzbounds policies` on SmolLM2-135M (skipped when the GGUF is not available)."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical.models import find_smollm2_gguf  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.empirical]


@pytest.mark.skipif(find_smollm2_gguf() is None, reason="SmolLM2 GGUF not found (set WZBOUNDS_SMOLLM2_GGUF)")
def test_smollm2_policies_run(tmp_path):
    """On SmolLM2 natural text, sliding-window KL falls with the budget under every semantics, and
    random retention is worse than recency at the largest budget under truncation (the measured
    direction of the paper's recency-vs-random claim; the size of the gap is reported, not tested)."""
    from wzbounds.cli import main

    argv = ["policies", "--gguf", str(find_smollm2_gguf()), "--n-prefixes", "4", "--prefix-tokens", "128",
            "--budgets", "8,16,32,64", "--domains", "natural", "--policies", "sliding,random,lastq",
            "--n-resamples", "200", "--threads", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    res = json.loads((tmp_path / "policies.json").read_text())
    curves = {(c["semantics"], c["policy"]): c["mean_kl_nats"] for c in res["curves"]}
    for s in ("truncation", "prefill", "streaming"):
        kl = curves[(s, "sliding")]
        assert kl[-1] < kl[0]
    assert curves[("truncation", "random")][-1] > curves[("truncation", "sliding")][-1]


@pytest.fixture(scope="module")
def smollm2():
    from wzbounds.empirical.models import load_model

    if find_smollm2_gguf() is None:
        pytest.skip("SmolLM2 GGUF not found (set WZBOUNDS_SMOLLM2_GGUF)")
    return load_model(gguf=str(find_smollm2_gguf()), device="cpu")


@pytest.fixture(scope="module")
def prefixes(smollm2):
    import numpy as np
    import torch

    from wzbounds.empirical.corpora import load_corpus, sample_prefixes

    sample = sample_prefixes(load_corpus("natural"), smollm2.tokenizer, 2, 384, np.random.default_rng(0))
    return torch.as_tensor(sample.token_ids, dtype=torch.long)


def test_smollm2_streaming_decode_equals_masked_pass(smollm2, prefixes):
    """On the real model the incremental decode and the masked pass agree for step-invariant
    policies (KL within 1e-4 nats: float32 forwards summing in different orders), and the
    attention-scored policies are measured under streaming."""
    import numpy as np

    from wzbounds.empirical.policies import parse_policies
    from wzbounds.empirical.policies.measure import measure_batch

    pols = parse_policies("sliding,sink,random,h2o,lastq")
    kw = dict(semantics=("streaming",), seeds=(0, 1))
    a = measure_batch(smollm2.model, prefixes, pols, (16, 64), streaming="masked", **kw)
    b = measure_batch(smollm2.model, prefixes, pols, (16, 64), streaming="decode", **kw)
    assert not a.skipped and a.kl_nats.keys() == b.kl_nats.keys()
    for key in a.kl_nats:
        np.testing.assert_allclose(a.kl_nats[key], b.kl_nats[key], atol=1e-4)


def test_smollm2_snapkv_small_window_is_not_sliding(smollm2, prefixes):
    """kvpress SnapKV with an observation window small against the budget keeps a set of its own
    (its default 64-token window kept exactly sliding's set at budgets <= 64)."""
    pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")
    from wzbounds.empirical.policies import make_policy
    from wzbounds.empirical.policies import semantics as sem

    snap, sliding = make_policy("kvpress:snapkv(window_size=8)"), make_policy("sliding")
    pre = sem.prefill(smollm2.model, prefixes, snap.needs)
    for k in (16, 64, 256):
        keep = snap.keep(pre.ctx, k)
        assert (keep.sum(-1) == k - 1).all()
        assert not (keep == sliding.keep(pre.ctx, k)).all()
