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
