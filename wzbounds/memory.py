"""KV-cache memory per token, following the model's attention layout.

A layer stores, per token it holds, ``2 x kv_heads x head_dim`` values (K and V; grouped- and
multi-query attention have fewer KV heads than query heads), or with multi-head latent attention
(DeepSeek-V2/V3) one shared latent of ``kv_lora_rank + qk_rope_head_dim`` values. A full-attention
layer holds every token of the cache; a sliding-window layer at most its window W. So

    bytes(tokens) = dtype_bytes x values_per_layer x (full_layers x tokens + sum over sliding layers of min(tokens, W))

and ``bytes_per_token`` is the cost of a token that every layer holds (below every window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._fileio import loads_json, short_repr
from ._validation import positive_int

__all__ = ["KVMemorySpec", "DTYPE_BYTES"]

#: Bytes per value for the ``torch_dtype`` strings found in transformers config.json files.
DTYPE_BYTES = {
    "float32": 4,
    "float": 4,
    "float16": 2,
    "half": 2,
    "bfloat16": 2,
    "float64": 8,
    "double": 8,
    "int8": 1,
    "uint8": 1,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
}
#: Bytes per value when a config names no dtype (transformers' checkpoints are mostly bfloat16).
DEFAULT_DTYPE = "bfloat16"
#: ``layer_types`` entries this module counts.
LAYER_TYPES = ("full_attention", "sliding_attention")
#: Model types whose every layer slides when ``sliding_window`` is set and no ``layer_types`` say otherwise.
ALL_LAYERS_SLIDE = ("mistral", "mixtral", "phi3", "starcoder2")
#: Model types whose sliding layers follow a pattern when the config lists no ``layer_types``:
#: every N-th layer is global (transformers' defaults: Gemma 2 alternates, Gemma 3 is 5:1).
SLIDING_PATTERN_DEFAULT = {"gemma2": 2, "gemma3": 6, "gemma3_text": 6, "cohere2": 4}
#: Config keys that describe a cache layout counted here (a key matching CACHE_KEYS otherwise is not).
COUNTED_KEYS = {
    "num_key_value_heads",
    "sliding_window",
    "sliding_window_pattern",
    "layer_types",
    "use_sliding_window",
    "max_window_layers",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "cache_implementation",
}
#: Keys that change what a layer caches (hybrid state-space or linear layers, chunked or local
#: attention, shared or multi-query KV under other names): a config holding one that is not
#: counted is refused rather than counted as plain attention.
CACHE_KEYS = re.compile(
    r"kv|key_value|multi_query|window|sliding|lora_rank|mamba|ssm|linear_|layer_types|"
    r"attention_type|attn_layer|chunk|hybrid|block_type|shared_layers|cross_attention|"
    r"attention_layers|local_attention|global_attn|recurrent|rwkv"
)


@dataclass(frozen=True)
class KVMemorySpec:
    """Shape of a model's KV cache.

    ``layers``, ``kv_heads`` (grouped-query heads), ``head_dim``, ``dtype_bytes`` (bytes per
    stored value): ints >= 1. ``layer_windows``: per layer, None (holds every token) or its
    sliding window W (holds at most W tokens); empty means every layer is full. ``latent``:
    multi-head latent attention, each layer stores one latent of ``head_dim`` values per token
    (``kv_heads`` is then 1). ``architecture``: what the counts follow, in words (from a config).
    """

    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int = 2
    layer_windows: tuple = ()
    latent: bool = False
    architecture: str | None = field(default=None, compare=False)  # words, not shape

    def __post_init__(self):
        for name in ("layers", "kv_heads", "head_dim", "dtype_bytes"):
            object.__setattr__(self, name, positive_int(name, getattr(self, name)))
        windows = tuple(None if w is None else positive_int("layer_windows", w) for w in self.layer_windows)
        if windows and len(windows) != self.layers:
            raise ValueError(f"`layer_windows` must give one entry per layer ({self.layers}), got {len(windows)}")
        object.__setattr__(self, "layer_windows", windows if any(w is not None for w in windows) else ())
        if self.latent and self.kv_heads != 1:
            raise ValueError(
                f"`kv_heads` must be 1 for a latent cache (one shared latent per layer), got {self.kv_heads}"
            )

    @property
    def values_per_layer(self) -> int:
        """Values one layer stores per token it holds."""
        return self.head_dim if self.latent else 2 * self.kv_heads * self.head_dim

    @property
    def bytes_per_token(self) -> int:
        """Bytes of a token held by every layer (below every sliding window)."""
        return self.layers * self.values_per_layer * self.dtype_bytes

    def bytes_for_tokens(self, tokens):
        """Exact bytes for a cache of ``tokens`` (int, int64/float/object array; fractional averages
        allowed). With sliding layers each holds ``min(tokens, W)``; for an average token count
        that is an upper bound on the average bytes (min is concave). int64 when it fits,
        otherwise Python ints/Fractions in an object array."""
        arr = np.asarray(tokens)
        if self.layer_windows:
            return self._bytes_with_windows(arr)
        bpt = self.bytes_per_token
        if arr.dtype == object or (arr.size and np.max(np.abs(arr)) > np.iinfo(np.int64).max // bpt):
            out = np.array([v * bpt for v in arr.astype(object).ravel()], dtype=object).reshape(arr.shape)
        else:
            out = arr * bpt
        return out.item() if out.ndim == 0 else out

    def _bytes_with_windows(self, arr):
        per_layer = self.values_per_layer * self.dtype_bytes
        full = sum(w is None for w in self.layer_windows)
        windows: dict[int, int] = {}  # window -> number of layers sliding over it
        for w in self.layer_windows:
            if w is not None:
                windows[w] = windows.get(w, 0) + 1

        def one(t):
            return per_layer * (full * t + sum(n * min(t, w) for w, n in windows.items()))

        exact = [one(v) for v in arr.astype(object).ravel()]
        out = np.array(exact, dtype=object).reshape(arr.shape)
        if arr.dtype != object and all(abs(v) <= np.iinfo(np.int64).max for v in exact):
            out = out.astype(np.result_type(arr.dtype, np.int64))
        return out.item() if out.ndim == 0 else out

    @classmethod
    def from_config(cls, config, dtype_bytes: int | None = None) -> KVMemorySpec:
        """Build from a transformers ``config.json`` (dict or path), following its attention layout.

        The text model's fields may sit under ``text_config`` (multimodal configs). Layers:
        ``num_hidden_layers``. KV heads: ``num_key_value_heads`` (falls back to
        ``num_attention_heads``); ``head_dim`` (falls back to ``hidden_size / num_attention_heads``,
        which must divide exactly). Multi-head latent attention (``kv_lora_rank``): one latent of
        ``kv_lora_rank + qk_rope_head_dim`` values per layer. Sliding layers: ``layer_types``
        (``full_attention`` / ``sliding_attention``) with ``sliding_window``, else the family's
        rule (Mistral-like: every layer; Gemma 2/3, Cohere 2: ``sliding_window_pattern``; Qwen:
        ``use_sliding_window`` from ``max_window_layers`` on). Bytes per value: ``dtype_bytes``,
        else ``torch_dtype`` (or ``dtype``) of the text model, else of the top level, else 2.
        A config whose cache holds something else (state-space or linear layers, chunked or local
        attention, KV shared across layers, ...) is refused naming the architecture and the key:
        never guessed. Every bad value raises ``ValueError`` naming the config key.
        """
        top = _config_iv(config)
        cfg = top
        if "num_hidden_layers" not in top and "text_config" in top:
            cfg = top["text_config"]
            if not isinstance(cfg, dict):
                raise ValueError(f"`config.text_config` must be a JSON object, got {short_repr(cfg)}")
        model_type = cfg.get("model_type") or top.get("model_type")
        arch = f"model_type {model_type!r}" if isinstance(model_type, str) else "this config"
        _refuse_uncounted(cfg, arch)
        for key in ("num_hidden_layers", "num_attention_heads"):
            if key not in cfg:
                raise ValueError(
                    f"`config` lacks the key {key!r} (need num_hidden_layers, num_attention_heads): "
                    f"cannot count the KV cache of {arch}"
                )
        layers = _config_int(cfg, "num_hidden_layers")
        heads = _config_int(cfg, "num_attention_heads")
        if cfg.get("kv_lora_rank") is not None:
            if cfg.get("qk_rope_head_dim") is None:
                raise ValueError(f"`config` of {arch} has kv_lora_rank (latent attention) but no qk_rope_head_dim")
            rank, rope = _config_int(cfg, "kv_lora_rank"), _config_int(cfg, "qk_rope_head_dim")
            kv_heads, head_dim, latent = 1, rank + rope, True
            layout = f"latent attention: {rank} latent + {rope} rotary-key values per layer"
        else:
            kv_heads = _config_int(cfg, "num_key_value_heads") if cfg.get("num_key_value_heads") is not None else heads
            if cfg.get("head_dim") is not None:  # 0 is refused, not read as "absent"
                head_dim = _config_int(cfg, "head_dim")
            else:
                if "hidden_size" not in cfg:
                    raise ValueError("`config` needs head_dim or hidden_size")
                hidden = _config_int(cfg, "hidden_size")
                if hidden % heads:
                    raise ValueError(
                        f"`config.hidden_size` = {hidden} must be divisible by num_attention_heads = "
                        f"{heads} (or give head_dim)"
                    )
                head_dim = hidden // heads
            latent = False
            layout = f"{kv_heads} KV head{'s' if kv_heads > 1 else ''} of {head_dim} per layer"
        windows = _layer_windows(cfg, model_type, layers, arch)
        sliding = [w for w in windows if w is not None]
        if sliding:
            spans = "/".join(map(str, sorted(set(sliding))))
            layout += f"; {len(sliding)} of {layers} layers slide over {spans} tokens"
        if dtype_bytes is None:
            dtype, where = _dtype(cfg, top)
            dtype_bytes = DTYPE_BYTES[dtype]
            layout += f"; {dtype} ({dtype_bytes} bytes per value{', no dtype in the config' if where is None else ''})"
        name = model_type if isinstance(model_type, str) else "config"
        return cls(layers, kv_heads, head_dim, dtype_bytes, tuple(windows), latent, f"{name}: {layout}")


def _refuse_uncounted(cfg: dict, arch: str) -> None:
    for key in cfg:
        if key in COUNTED_KEYS or not CACHE_KEYS.search(key) or cfg[key] in (None, False, 0, [], {}):
            continue
        raise ValueError(
            f"cannot count the KV cache of {arch}: its config key {key!r} describes a layout this "
            "calculator does not model (give the shape explicitly)"
        )


def _layer_windows(cfg: dict, model_type, layers: int, arch: str) -> list:
    """Per layer, None (full attention) or its sliding window."""
    types = cfg.get("layer_types")
    if types is not None:
        if not isinstance(types, list) or len(types) != layers:
            raise ValueError(f"`config.layer_types` must list one type per layer ({layers}), got {short_repr(types)}")
        for t in types:
            if t not in LAYER_TYPES:
                raise ValueError(
                    f"cannot count the KV cache of {arch}: `config.layer_types` holds {short_repr(t)}, "
                    f"not one of {list(LAYER_TYPES)}"
                )
        sliding = [t == "sliding_attention" for t in types]
    elif cfg.get("sliding_window") is None:
        sliding = [False] * layers
    elif "use_sliding_window" in cfg:  # the Qwen family: off unless asked, then from max_window_layers on
        first = cfg.get("max_window_layers")
        first = layers if first is None else positive_int("config.max_window_layers", first, minimum=0)
        sliding = [bool(cfg["use_sliding_window"]) and i >= first for i in range(layers)]
    elif cfg.get("sliding_window_pattern") is not None or model_type in SLIDING_PATTERN_DEFAULT:
        every = cfg.get("sliding_window_pattern")
        every = (
            SLIDING_PATTERN_DEFAULT[model_type]
            if every is None
            else positive_int("config.sliding_window_pattern", every)
        )
        sliding = [(i + 1) % every != 0 for i in range(layers)]
    elif model_type in ALL_LAYERS_SLIDE:
        sliding = [True] * layers
    else:
        raise ValueError(
            f"cannot count the KV cache of {arch}: `config.sliding_window` is set but neither "
            "layer_types nor a known rule says which layers slide"
        )
    if not any(sliding):
        return [None] * layers
    if cfg.get("sliding_window") is None:
        raise ValueError(f"`config.layer_types` of {arch} has sliding layers but `sliding_window` is not set")
    window = _config_int(cfg, "sliding_window")
    return [window if s else None for s in sliding]


def _dtype(cfg: dict, top: dict):
    """(dtype name, where it was found: "text" / "top" / None for the default)."""
    for where, doc in (("text", cfg), ("top", top)):
        for key in ("torch_dtype", "dtype"):
            value = doc.get(key)
            if value is not None:
                name = str(value).replace("torch.", "")
                if name not in DTYPE_BYTES:
                    raise ValueError(f"`torch_dtype` must be one of {sorted(DTYPE_BYTES)}, got {short_repr(value)}")
                return name, where
    return DEFAULT_DTYPE, None


def _config_iv(config) -> dict:
    """A config dict, from a dict or a JSON file (ValueError naming the file otherwise)."""
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"model config {str(path)!r} not found")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"`config` {str(path)!r} is not valid JSON: not UTF-8 text (a binary file?)") from None
        config = loads_json(text, f"`config` {str(path)!r}")
        if not isinstance(config, dict):
            raise ValueError(f"`config` {str(path)!r} must hold a JSON object, got a {type(config).__name__}")
    return config


def _config_int(config: dict, key: str) -> int:
    """``config[key]`` as an int >= 1 (zero heads would divide by zero downstream)."""
    return positive_int(f"config.{key}", config[key])
