"""Issue 18, item 6: KV-cache bytes per token follow the architecture of a transformers config.

Every expected number is computed by hand below from the published shape of the model (layers,
KV heads, head size, latent sizes, sliding windows, dtype), written out as arithmetic, never
through ``KVMemorySpec`` itself.
"""
import json

import pytest

from wzbounds.cli import main
from wzbounds.memory import KVMemorySpec

BF16, F32 = 2, 4

# Llama-3-8B: 32 layers, 8 KV heads (GQA, 32 query heads), head 4096 / 32 = 128, bfloat16.
LLAMA3 = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 32,
          "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096, "torch_dtype": "bfloat16",
          "rope_theta": 500000.0, "max_position_embeddings": 8192, "vocab_size": 128256}
LLAMA3_BYTES = 2 * 32 * 8 * 128 * BF16  # K and V, every layer

# Qwen2-7B: 28 layers, 4 KV heads (GQA, 28 query heads), head 3584 / 28 = 128; its sliding window is
# configured but off (use_sliding_window false), so every layer holds every token.
QWEN2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "num_hidden_layers": 28,
         "num_attention_heads": 28, "num_key_value_heads": 4, "hidden_size": 3584, "torch_dtype": "bfloat16",
         "use_sliding_window": False, "sliding_window": 131072, "max_window_layers": 28, "vocab_size": 152064}
QWEN2_BYTES = 2 * 28 * 4 * 128 * BF16

# Gemma-1 2B: multi-query attention (one KV head of 256), 18 layers.
GEMMA_MQA = {"model_type": "gemma", "num_hidden_layers": 18, "num_attention_heads": 8, "num_key_value_heads": 1,
             "head_dim": 256, "hidden_size": 2048, "torch_dtype": "bfloat16"}
GEMMA_MQA_BYTES = 2 * 18 * 1 * 256 * BF16

# DeepSeek-V2: multi-head latent attention. Per layer and token the cache holds the compressed KV
# latent (kv_lora_rank = 512) and the shared rotary key (qk_rope_head_dim = 64): 576 values, not
# 2 x 128 heads x 128; 60 layers, bfloat16.
DEEPSEEK_V2 = {"architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "num_hidden_layers": 60,
               "num_attention_heads": 128, "num_key_value_heads": 128, "hidden_size": 5120, "kv_lora_rank": 512,
               "q_lora_rank": 1536, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128,
               "first_k_dense_replace": 1, "n_routed_experts": 160, "torch_dtype": "bfloat16", "vocab_size": 102400}
DEEPSEEK_V2_BYTES = 60 * (512 + 64) * BF16

# Gemma-3 (4B-shaped, multimodal): the text model's fields under text_config, the dtype (float32)
# only at the top; 34 layers in a 5 sliding : 1 global pattern (layers 5, 11, 17, 23, 29 global),
# sliding window 1024; 4 KV heads of 256.
GEMMA3_LAYER_TYPES = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(34)]
GEMMA3 = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "torch_dtype": "float32",
          "text_config": {"model_type": "gemma3_text", "num_hidden_layers": 34, "num_attention_heads": 8,
                          "num_key_value_heads": 4, "head_dim": 256, "hidden_size": 2560, "sliding_window": 1024,
                          "layer_types": GEMMA3_LAYER_TYPES, "vocab_size": 262208},
          "vision_config": {"model_type": "siglip_vision_model", "num_hidden_layers": 27}}
GEMMA3_LAYER_BYTES = 2 * 4 * 256 * F32  # per layer and token held


def gemma3_bytes(tokens):
    """5 global layers hold every token, 29 sliding layers at most 1024."""
    return GEMMA3_LAYER_BYTES * (5 * tokens + 29 * min(tokens, 1024))


def test_byte_table_dense_gqa_mqa_mla():
    for config, expected in ((LLAMA3, 131_072), (QWEN2, 57_344), (GEMMA_MQA, 18_432), (DEEPSEEK_V2, 69_120)):
        spec = KVMemorySpec.from_config(config)
        assert spec.bytes_per_token == expected
        assert spec.bytes_for_tokens(1000) == 1000 * expected  # no sliding layer: linear in tokens
    assert (LLAMA3_BYTES, QWEN2_BYTES, GEMMA_MQA_BYTES, DEEPSEEK_V2_BYTES) == (131_072, 57_344, 18_432, 69_120)


def test_gemma3_nested_text_config_sliding_layers_and_top_level_dtype():
    spec = KVMemorySpec.from_config(GEMMA3)
    assert spec.dtype_bytes == F32  # the top-level torch_dtype, not a 2-byte default
    assert spec.bytes_per_token == 34 * GEMMA3_LAYER_BYTES == 278_528
    for tokens in (1, 512, 1024, 1025, 4096, 10_000):
        assert spec.bytes_for_tokens(tokens) == gemma3_bytes(tokens)
    assert gemma3_bytes(4096) == 411_041_792  # 8192 x (5 x 4096 + 29 x 1024)
    # the same model described by the older sliding_window_pattern instead of layer_types
    older = {**GEMMA3, "text_config": {k: v for k, v in GEMMA3["text_config"].items() if k != "layer_types"}}
    older["text_config"]["sliding_window_pattern"] = 6
    assert KVMemorySpec.from_config(older).bytes_for_tokens(4096) == gemma3_bytes(4096)
    # --dtype-bytes overrides the config's dtype
    assert KVMemorySpec.from_config(GEMMA3, dtype_bytes=1).bytes_for_tokens(4096) == gemma3_bytes(4096) // 4


def test_sliding_rules_of_other_families():
    # Mistral-7B-v0.1: every layer slides over 4096 tokens
    mistral = {"model_type": "mistral", "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
               "hidden_size": 4096, "sliding_window": 4096, "torch_dtype": "bfloat16"}
    per_layer = 2 * 8 * 128 * BF16
    assert KVMemorySpec.from_config(mistral).bytes_for_tokens(10_000) == 32 * per_layer * 4096
    assert KVMemorySpec.from_config({**mistral, "sliding_window": None}).bytes_for_tokens(10_000) == 32 * per_layer * 10_000
    # Gemma-2: even layers slide (layer 0 sliding, layer 1 global, ...)
    gemma2 = {"model_type": "gemma2", "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
              "head_dim": 256, "hidden_size": 2304, "sliding_window": 4096, "torch_dtype": "float32"}
    layer = 2 * 4 * 256 * F32
    assert KVMemorySpec.from_config(gemma2).bytes_for_tokens(8192) == layer * (13 * 8192 + 13 * 4096)
    # Qwen2 with its sliding window on: layers from max_window_layers up slide
    qwen_on = {**QWEN2, "use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 20}
    layer = 2 * 4 * 128 * BF16
    assert KVMemorySpec.from_config(qwen_on).bytes_for_tokens(10_000) == layer * (20 * 10_000 + 8 * 4096)


def test_average_memory_with_sliding_layers_is_an_upper_bound():
    """Block schemes report an average number of tokens held; a sliding layer's bytes are then
    bounded by min(average, W) (min is concave), exactly for peak counts."""
    from fractions import Fraction

    spec = KVMemorySpec.from_config(GEMMA3)
    assert spec.bytes_for_tokens(Fraction(3001, 2)) == GEMMA3_LAYER_BYTES * (5 * Fraction(3001, 2) + 29 * 1024)


def test_head_dim_zero_and_unknown_layouts_are_refused():
    with pytest.raises(ValueError, match="head_dim"):
        KVMemorySpec.from_config({**LLAMA3, "head_dim": 0})
    with pytest.raises(ValueError, match="attention_chunk_size.*llama4|llama4.*attention_chunk_size"):
        KVMemorySpec.from_config({**LLAMA3, "model_type": "llama4", "attention_chunk_size": 8192})
    with pytest.raises(ValueError, match="linear_attention"):
        KVMemorySpec.from_config({**LLAMA3, "model_type": "qwen3_next",
                                  "layer_types": ["linear_attention", "full_attention"] * 16})


def run_window(argv, capsys):
    rc = main(["window", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_bytes_follow_the_architecture(tmp_path, capsys):
    """``window --model-config``: eps 0.01 on C w^-1/2 needs w = 10,000 tokens; Gemma-3 holds all of
    them in its 5 global layers and 1024 in each of 29 sliding ones, at 4 bytes per value."""
    path = tmp_path / "gemma3.json"
    path.write_text(json.dumps(GEMMA3))
    rc, out, _ = run_window(["--alpha", "0.5", "--C", "1", "--eps", "0.01", "--model-config", str(path), "--json"],
                            capsys)
    d = json.loads(out)
    assert rc == 0 and d["window_tokens"] == [10_000]
    assert d["peak_memory_bytes"] == [gemma3_bytes(10_000)] == [652_869_632]
    path.write_text(json.dumps(DEEPSEEK_V2))
    rc, out, _ = run_window(["--alpha", "0.5", "--C", "1", "--eps", "0.01", "--model-config", str(path), "--json"],
                            capsys)
    assert rc == 0 and json.loads(out)["peak_memory_bytes"] == [10_000 * 69_120]
    rc, out, _ = run_window(["--alpha", "0.5", "--C", "1", "--eps", "0.01", "--model-config", str(path),
                             "--dtype-bytes", "1", "--json"], capsys)
    assert rc == 0 and json.loads(out)["peak_memory_bytes"] == [10_000 * 69_120 // 2]


def test_cli_says_whose_window_it_is(tmp_path, capsys):
    """The default profile was measured on SmolLM2; bytes for another model's config come with a
    line saying the window is SmolLM2's; a command-line law names no model, so no such line."""
    path = tmp_path / "llama3.json"
    path.write_text(json.dumps(LLAMA3))
    rc, out, _ = run_window(["--eps", "0.1", "--model-config", str(path)], capsys)
    assert rc == 0
    note = [line for line in out.splitlines() if "SmolLM2" in line and "llama" in line]
    assert note, out
    rc, out, _ = run_window(["--eps", "0.1", "--model-config", str(path), "--json"], capsys)
    assert rc == 0 and "SmolLM2" in json.loads(out)["memory_note"]
    smol = {"_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "model_type": "llama", "num_hidden_layers": 30,
            "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_size": 576, "torch_dtype": "bfloat16"}
    path.write_text(json.dumps(smol))
    rc, out, _ = run_window(["--eps", "0.1", "--model-config", str(path), "--json"], capsys)
    assert rc == 0 and json.loads(out)["memory_note"] is None
    rc, out, _ = run_window(["--alpha", "0.5", "--C", "1", "--model-config", str(path), "--json"], capsys)
    assert rc == 0 and json.loads(out)["memory_note"] is None
