"""TargetDistortionPress on SmolLM2-135M through kvpress's own pipeline, with the kept SnapKV
profile (docs/runs/smollm2-135m-budget-natural): the weights check passes, every input keeps the
budget the profile gives for its length, and the answer is the plain press's at that ratio."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
kvpress = pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")

from wzbounds.empirical.models import find_smollm2_gguf  # noqa: E402

GGUF = find_smollm2_gguf()
PROFILE = (Path(__file__).resolve().parents[2] / "docs" / "runs" / "smollm2-135m-budget-natural" / "profiles"
           / "natural-prefill-kvpress_snapkv.json")
pytestmark = [pytest.mark.slow, pytest.mark.empirical, pytest.mark.kvpress,
              pytest.mark.skipif(GGUF is None, reason="SmolLM2 GGUF not found (set WZBOUNDS_SMOLLM2_GGUF)")]


def test_snapkv_sized_for_eps_in_the_kvpress_pipeline():
    from transformers import DynamicCache, pipeline

    from wzbounds.empirical import TargetDistortionPress
    from wzbounds.empirical.corpora import load_corpus
    from wzbounds.empirical.models import load_model

    torch.set_num_threads(1)
    lm = load_model(gguf=str(GGUF), device="cpu")
    pipe = pipeline("kv-press-text-generation", model=lm.model, tokenizer=lm.tokenizer, device="cpu")
    doc = max(load_corpus("natural").documents, key=len)
    press = TargetDistortionPress(kvpress.SnapKVPress(), 0.1, PROFILE)
    seen = []
    for chars in (5000, 7000):  # about 1300 and 1800 tokens: inside the measured 1024-2048
        cache = DynamicCache()
        answer = pipe(doc[:chars], question="What is this about?", press=press, cache=cache, max_new_tokens=6)["answer"]
        b = press.last_budget
        assert 1024 <= b.context_tokens <= 2048 and b.context_status in ("measured", "interpolated")
        assert cache.get_seq_length() == b.cache_tokens  # the pipeline trims the answer back to the context
        plain = kvpress.SnapKVPress(compression_ratio=float(b.compression_ratio))
        assert pipe(doc[:chars], question="What is this about?", press=plain, max_new_tokens=6)["answer"] == answer
        seen.append((b.context_tokens, b.budget_tokens))
    assert seen[0][0] < seen[1][0]
