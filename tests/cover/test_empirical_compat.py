"""The transformers-version bridges of :mod:`wzbounds.empirical.compat`, on whichever version is installed."""
import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
import transformers  # noqa: E402

from wzbounds.empirical.banded import NAME  # noqa: E402
from wzbounds.empirical.compat import attention_implementation, fixed_size_layer  # noqa: E402
from wzbounds.empirical.models import UserError, load_model, save_tiny_random_model, tiny_random_model  # noqa: E402


def _config(model_type):
    cls = {"llama": transformers.LlamaConfig, "gemma2": transformers.Gemma2Config,
           "gemma3": transformers.Gemma3TextConfig}[model_type]
    return cls(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
               num_key_value_heads=1, head_dim=8)


def test_auto_picks_sdpa_where_it_is_exact():
    impl, why = attention_implementation(transformers.LlamaForCausalLM, _config("llama"))
    assert impl == "sdpa" and "supports" in why
    # Gemma 3 has no soft-capping (its config leaves it None): SDPA is exact there (in bands, for its
    # sliding-window layers: tests/cover/test_empirical_banded.py)
    assert attention_implementation(transformers.Gemma3ForCausalLM, _config("gemma3"), "sdpa")[0] == "sdpa"


def test_auto_bands_models_with_sliding_layers_only():
    impl, why = attention_implementation(transformers.Gemma3ForCausalLM, _config("gemma3"))
    assert impl == NAME and "sliding-window" in why
    assert attention_implementation(transformers.LlamaForCausalLM, _config("llama"))[0] == "sdpa"
    # asked for on a model without sliding layers: honoured (every call is one plain SDPA call)
    assert attention_implementation(transformers.LlamaForCausalLM, _config("llama"), "banded")[0] == NAME
    assert attention_implementation(transformers.Gemma3ForCausalLM, _config("gemma3"), "sdpa")[0] == "sdpa"
    # soft-capped attention is not SDPA's, banded or not
    with pytest.raises(ValueError, match="--attn banded"):
        attention_implementation(transformers.Gemma2ForCausalLM, _config("gemma2"), "banded")
    assert attention_implementation(transformers.Gemma2ForCausalLM, _config("gemma2"))[0] == "eager"


def test_soft_capped_attention_runs_eager_on_every_version():
    """SDPA has no soft-cap argument: transformers < 5.21 silently dropped Gemma-2's cap under SDPA,
    >= 5.21 refuses SDPA. Either way the measured model must be the defined one: eager."""
    cfg = _config("gemma2")
    assert cfg.attn_logit_softcapping is not None
    impl, why = attention_implementation(transformers.Gemma2ForCausalLM, cfg)
    assert impl == "eager" and "soft-caps" in why
    with pytest.raises(ValueError, match="--attn sdpa"):
        attention_implementation(transformers.Gemma2ForCausalLM, cfg, "sdpa")
    assert attention_implementation(transformers.Gemma2ForCausalLM, cfg, "eager") == ("eager", "asked for (--attn eager)")


def test_class_without_sdpa_runs_eager():
    class NoSdpa:
        _supports_sdpa = False

    impl, why = attention_implementation(NoSdpa, _config("llama"))
    assert impl == "eager" and "does not support SDPA" in why


def test_unknown_choice_names_the_option():
    with pytest.raises(ValueError, match="`--attn`"):
        attention_implementation(transformers.LlamaForCausalLM, _config("llama"), "flash")


def test_provenance_says_which_attention_and_why(tmp_path):
    lm = tiny_random_model(seed=0, model_type="gemma2")
    assert lm.model.config._attn_implementation == "eager"
    assert lm.provenance.attn_implementation == "eager" and "soft-caps" in lm.provenance.attn_reason
    path = save_tiny_random_model(tmp_path / "tiny", seed=0)
    loaded = load_model(str(path), device="cpu")
    assert loaded.provenance.attn_implementation == "sdpa" == loaded.model.config._attn_implementation
    gemma = save_tiny_random_model(tmp_path / "gemma", seed=0, model_type="gemma2")
    with pytest.raises(UserError, match="--attn sdpa"):
        load_model(str(gemma), device="cpu", attn_implementation="sdpa")


def test_fixed_size_layer_answers_every_versions_size_queries():
    class Layer(fixed_size_layer()):
        def update(self, key_states, value_states, *args, **kwargs):
            return self.keys, self.values

    keys = torch.zeros(2, 1, 5, 4)
    layer = Layer(keys, keys.clone())
    assert layer.is_initialized
    assert layer.get_seq_length() == layer.get_max_length() == layer.get_max_cache_shape() == 5
    assert layer.get_mask_sizes(torch.arange(1)) == (5, 0) == layer.get_mask_sizes(1)
    with pytest.raises(TypeError, match="initialised"):
        layer.lazy_initialization(keys, keys)
