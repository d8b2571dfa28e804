"""Rebuild a GGUF model's tokenizer from the file's own tokenizer metadata.

Why: transformers rebuilds a GGUF tokenizer through a converter chosen by the model's
*architecture*, and some of those converters are wrong. In transformers 5.2 a Gemma-3 file gets
a Unigram model fed with SentencePiece-BPE scores, which splits common words into two-letter
pieces (``" you" -> " y" + "ou"``) although the vocabulary holds ``"▁you"`` whole; every
measurement on such a tokenizer is meaningless. :func:`tokenizer_from_gguf` builds the tokenizer
from what the file itself says, following the semantics of llama.cpp, the runtime GGUF is made for:

* ``tokenizer.ggml.model = "llama"`` (SentencePiece): a BPE model whose merges are every split of
  a normal piece into two normal pieces, ranked by the piece's score — SentencePiece's BPE merges
  the adjacent pair whose concatenation has the highest score, so this reproduces it; unknown
  characters fall back to ``<0xXX>`` byte pieces; spaces become ``"▁"``, with a leading ``"▁"``
  only when ``tokenizer.ggml.add_space_prefix`` (default true, as in llama.cpp).
* ``tokenizer.ggml.model = "gpt2"`` (byte-level BPE): the file's merges, and the pre-tokenizer
  regexes llama.cpp uses for ``tokenizer.ggml.pre`` (:data:`PRE_TOKENIZERS`; an unknown name is an
  error, not a guess).

User-defined tokens (type 4) become added tokens, matched whole in the text before the model runs
as llama.cpp and SentencePiece do; control tokens (type 3) become special tokens, which are matched
whole too, as in transformers' own tokenizers (SentencePiece would read a literal ``"<bos>"`` in
the text as characters). ``add_bos_token`` / ``add_eos_token`` decide what
``add_special_tokens=True`` adds.

The metadata is read by :func:`read_gguf_metadata`, a parser of the GGUF key-value header only:
``gguf.GGUFReader`` also maps every tensor and wraps each element of the 262k-entry token arrays
in a numpy view, which took a minute on a Gemma-3 file where this parser takes about a second.
"""
from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["tokenizer_from_gguf", "read_gguf_metadata", "PRE_TOKENIZERS"]

# GGUF token types (tokenizer.ggml.token_type); 5 (unused) pieces stay in the vocabulary only
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _BYTE = 1, 2, 3, 4, 6

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
#: ``tokenizer.ggml.pre`` -> (regexes applied in turn, each isolating its matches; ignore_merges),
#: transcribed from llama.cpp's byte-level BPE pre-tokenizer table. ``"default"`` (and a missing
#: key) is GPT-2's own regex, what transformers uses for every byte-level GGUF (llama.cpp falls
#: back to an approximate regex set of its own and warns that output quality degrades).
PRE_TOKENIZERS = {
    **{name: ((_GPT2,), False) for name in ("default", "gpt-2", "gpt2", "mpt", "olmo", "jais")},
    **{name: ((r"\p{N}", _GPT2), False)
       for name in ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b")},
    **{name: ((_QWEN2,), False) for name in ("qwen2", "stablelm2")},
    **{name: ((_LLAMA3,), True) for name in ("llama3", "llama-v3", "llama-bpe", "dbrx", "smaug-bpe")},
}

# GGUF value types: id -> (struct format, numpy dtype); 8 = string, 9 = array.
_SCALARS = {0: ("<B", "<u1"), 1: ("<b", "<i1"), 2: ("<H", "<u2"), 3: ("<h", "<i2"), 4: ("<I", "<u4"),
            5: ("<i", "<i4"), 6: ("<f", "<f4"), 7: ("<?", "?"), 10: ("<Q", "<u8"), 11: ("<q", "<i8"),
            12: ("<d", "<f8")}
_STRING, _ARRAY = 8, 9


class _Header:
    """Cursor over the bytes of a GGUF file; every read checks that the file holds the bytes."""

    def __init__(self, buf, path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError(f"`path` {self.path} is truncated: its GGUF header ends past the end of the file")
        start, self.pos = self.pos, self.pos + n
        return start

    def scalar(self, fmt):
        return struct.unpack_from(fmt, self.buf, self.take(struct.calcsize(fmt)))[0]

    def string(self, key):
        n = self.scalar("<Q")
        start = self.take(n)
        try:
            return bytes(self.buf[start:start + n]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"`path` {self.path}: metadata {key!r} holds a string that is not UTF-8") from exc

    def value(self, vtype, key):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype][0])
        if vtype == _STRING:
            return self.string(key)
        if vtype != _ARRAY:
            raise ValueError(f"`path` {self.path}: metadata {key!r} has unknown GGUF value type {vtype}")
        itype, count = self.scalar("<I"), self.scalar("<Q")
        if itype in _SCALARS:  # one copy for the whole array: 262k scores or types in microseconds
            dtype = np.dtype(_SCALARS[itype][1])
            start = self.take(count * dtype.itemsize)
            return np.frombuffer(self.buf, dtype=dtype, count=count, offset=start).copy()
        return [self.value(itype, key) for _ in range(count)]


def read_gguf_metadata(path) -> dict:
    """The key-value metadata of the GGUF file at ``path`` (version 2 or 3, little-endian).

    Strings are ``str``, numeric arrays numpy arrays, other arrays lists; the tensors are not read.
    Raises FileNotFoundError for a missing file and ValueError for anything that is not a GGUF."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`path` must be a str or os.PathLike naming a .gguf file, got {type(path).__name__}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"`path`: GGUF file not found: {path}")
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < 24:
            raise ValueError(f"`path` {path} is not a GGUF file (shorter than a GGUF header)")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != b"GGUF":
                raise ValueError(f"`path` {path} is not a GGUF file (no GGUF magic)")
            h = _Header(buf, path)
            h.take(4)
            version = h.scalar("<I")
            if version not in (2, 3):
                raise ValueError(f"`path` {path}: GGUF version {version} is not supported (2 or 3, little-endian)")
            h.scalar("<Q")  # tensor count: the tensors are not read
            n_kv = h.scalar("<Q")
            meta = {}
            for _ in range(n_kv):
                key = h.string("key")
                meta[key] = h.value(h.scalar("<I"), key)
            return meta


def _require(meta, key, path):
    if key not in meta:
        raise ValueError(f"`path` {path} has no {key!r} metadata: its tokenizer cannot be rebuilt")
    return meta[key]


def _sentencepiece_merges(tokens, scores, types):
    """Every (left, right) split of a normal piece into two normal pieces, best score first.

    SentencePiece BPE merges the adjacent pair whose concatenation has the highest score; giving
    each split the rank of its piece's score makes the BPE model pick the same pair."""
    normal = {t for t, ty in zip(tokens, types) if ty == _NORMAL}
    ranked = []
    for i, (piece, ty) in enumerate(zip(tokens, types)):
        if ty != _NORMAL or len(piece) < 2:
            continue
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in normal and right in normal:
                ranked.append((-float(scores[i]), i, k, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _sentencepiece_core(meta, tokens, vocab, types, unk, path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    scores = _require(meta, "tokenizer.ggml.scores", path)
    if len(scores) != len(tokens):
        raise ValueError(f"`path` {path}: {len(scores)} scores for {len(tokens)} tokens")
    # fuse_unk: SentencePiece emits one <unk> for a run of unknown characters (without byte pieces)
    core = Tokenizer(models.BPE(vocab=vocab, merges=_sentencepiece_merges(tokens, scores, types), unk_token=unk,
                                fuse_unk=True, byte_fallback=bool(np.any(types == _BYTE))))
    prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    # "first": llama.cpp adds the space only at the start of the text, never after an added token
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first" if prefix else "never",
                                                  split=False)
    steps = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    core.decoder = decoders.Sequence(steps + ([decoders.Strip(" ", 1, 0)] if prefix else []))
    return core


def _byte_level_core(meta, vocab, path):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre not in PRE_TOKENIZERS:
        raise ValueError(f"`path` {path}: pre-tokenizer {pre!r} (tokenizer.ggml.pre) is not supported; "
                         f"supported: {sorted(PRE_TOKENIZERS)}")
    regexes, ignore_merges = PRE_TOKENIZERS[pre]
    merges = []
    for m in _require(meta, "tokenizer.ggml.merges", path):
        pair = m.split(" ")
        if len(pair) != 2:
            raise ValueError(f"`path` {path}: merge {m!r} in tokenizer.ggml.merges is not two pieces")
        merges.append(tuple(pair))
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in regexes]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    core.decoder = decoders.ByteLevel()
    return core


def tokenizer_from_gguf(path):
    """A ``transformers.PreTrainedTokenizerFast`` rebuilt from the GGUF file's tokenizer metadata.

    ``path``: a ``.gguf`` file whose ``tokenizer.ggml.model`` is ``"llama"`` (SentencePiece) or
    ``"gpt2"`` (byte-level BPE); see the module docstring for what is built. ``name_or_path`` is
    the file's path. Raises FileNotFoundError for a missing file and ValueError for a file that is
    not a GGUF, lacks tokenizer metadata, or names a tokenizer model or pre-tokenizer not supported."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    meta = read_gguf_metadata(path)
    path = Path(path).expanduser()
    kind = _require(meta, "tokenizer.ggml.model", path)
    tokens = _require(meta, "tokenizer.ggml.tokens", path)
    types = np.asarray(meta.get("tokenizer.ggml.token_type", np.full(len(tokens), _NORMAL)))
    if len(types) != len(tokens):
        raise ValueError(f"`path` {path}: {len(types)} token types for {len(tokens)} tokens")
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)  # a duplicated piece keeps its first id, as a tokenizer's lookup must

    def named(key):
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[i] if i is not None and 0 <= i < len(tokens) else None

    if kind == "llama":
        core = _sentencepiece_core(meta, tokens, vocab, types, named("unknown"), path)
    elif kind == "gpt2":
        core = _byte_level_core(meta, vocab, path)
    else:
        raise ValueError(f"`path` {path}: tokenizer model {kind!r} (tokenizer.ggml.model) is not supported; "
                         "supported: 'llama' (SentencePiece), 'gpt2' (byte-level BPE)")
    core.add_special_tokens([AddedToken(tokens[i], normalized=False, special=True)
                             for i in np.flatnonzero((types == _CONTROL) | (types == _UNKNOWN))
                             if vocab[tokens[i]] == i])
    core.add_tokens([AddedToken(tokens[i], normalized=False, special=False)
                     for i in np.flatnonzero(types == _USER_DEFINED) if vocab[tokens[i]] == i])

    add_bos = bool(meta.get("tokenizer.ggml.add_bos_token", kind == "llama"))  # llama.cpp's defaults
    add_eos = bool(meta.get("tokenizer.ggml.add_eos_token", False))
    if (add_bos and named("bos") is None) or (add_eos and named("eos") is None):
        raise ValueError(f"`path` {path}: add_bos_token/add_eos_token is set but the token id is missing")
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=named("bos"), eos_token=named("eos"),
                                  unk_token=named("unknown"), pad_token=named("padding"),
                                  add_bos_token=add_bos, add_eos_token=add_eos,
                                  clean_up_tokenization_spaces=False)
    tok.name_or_path = str(path)
    return tok
