"""KV-cache memory per token: ``bytes_per_token = 2 (K and V) x layers x kv_heads x head_dim x dtype_bytes``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validation import positive_int

#: Bytes per value for the ``torch_dtype`` strings found in transformers config.json files.
DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2, "float64": 8,
               "double": 8, "int8": 1, "uint8": 1, "float8_e4m3fn": 1, "float8_e5m2": 1}


@dataclass(frozen=True)
class KVMemorySpec:
    """Shape of a model's KV cache: ``layers``, ``kv_heads`` (grouped-query heads),
    ``head_dim``, ``dtype_bytes`` (bytes per stored value), all ints >= 1."""

    layers: int
    kv_heads: int
    head_dim: int
    dtype_bytes: int = 2

    def __post_init__(self):
        for name in ("layers", "kv_heads", "head_dim", "dtype_bytes"):
            object.__setattr__(self, name, positive_int(name, getattr(self, name)))

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes

    def bytes_for_tokens(self, tokens):
        """Exact bytes for ``tokens`` (int, int64/float/object array; fractional averages
        allowed). int64 when it fits, otherwise Python ints/Fractions in an object array."""
        arr = np.asarray(tokens)
        bpt = self.bytes_per_token
        if arr.dtype == object or (arr.size and np.max(np.abs(arr)) > np.iinfo(np.int64).max // bpt):
            out = np.array([v * bpt for v in arr.astype(object).ravel()], dtype=object).reshape(arr.shape)
        else:
            out = arr * bpt
        return out.item() if out.ndim == 0 else out

    @classmethod
    def from_config(cls, config, dtype_bytes: int | None = None) -> "KVMemorySpec":
        """Build from a transformers ``config.json`` (dict or path).

        Keys: ``num_hidden_layers``; ``num_key_value_heads`` (falls back to
        ``num_attention_heads``); ``head_dim`` (falls back to ``hidden_size /
        num_attention_heads``, which must divide exactly); ``torch_dtype`` (or ``dtype``) for
        the bytes per value unless ``dtype_bytes`` is given (default 2 when neither is
        present). Every bad value raises ``ValueError`` naming the config key.
        """
        config = _config_iv(config)
        config = config.get("text_config", config) if "num_hidden_layers" not in config else config
        if not isinstance(config, dict):
            raise ValueError("`config.text_config` must be a JSON object")
        for key in ("num_hidden_layers", "num_attention_heads"):
            if key not in config:
                raise ValueError(f"`config` lacks the key {key!r} (need num_hidden_layers, num_attention_heads)")
        layers = _config_int(config, "num_hidden_layers")
        heads = _config_int(config, "num_attention_heads")
        kv_heads = _config_int(config, "num_key_value_heads") if config.get("num_key_value_heads") is not None \
            else heads
        if config.get("head_dim"):
            head_dim = _config_int(config, "head_dim")
        else:
            if "hidden_size" not in config:
                raise ValueError("`config` needs head_dim or hidden_size")
            hidden = _config_int(config, "hidden_size")
            if hidden % heads:
                raise ValueError(f"`config.hidden_size` = {hidden} must be divisible by num_attention_heads = {heads} "
                                 "(or give head_dim)")
            head_dim = hidden // heads
        if dtype_bytes is None:
            dtype = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
            dtype = str(dtype).replace("torch.", "")
            if dtype not in DTYPE_BYTES:
                raise ValueError(f"`torch_dtype` must be one of {sorted(DTYPE_BYTES)}, got {dtype!r}")
            dtype_bytes = DTYPE_BYTES[dtype]
        return cls(layers, kv_heads, head_dim, dtype_bytes)


def _config_iv(config) -> dict:
    """A config dict, from a dict or a JSON file (ValueError naming the file otherwise)."""
    if not isinstance(config, dict):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"model config {str(path)!r} not found")
        try:
            config = json.loads(path.read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"`config` {str(path)!r} is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise ValueError(f"`config` {str(path)!r} must hold a JSON object, got a {type(config).__name__}")
    return config


def _config_int(config: dict, key: str) -> int:
    """``config[key]`` as an int >= 1 (zero heads would divide by zero downstream)."""
    return positive_int(f"config.{key}", config[key])
