"""Sanity of a measurement: is the tokenizer the model's, and does the model predict the corpus?

A wrongly rebuilt tokenizer (transformers' GGUF conversion is not always right) feeds the model
token sequences it never saw; every truncation curve measured on them is meaningless, yet the
curves look clean. Three checks catch it on any model, from the tokenizer and a text sample:

* **vocabulary minimality** — for each distinct ASCII word of the sample, its pieces after a space
  (``encode("a " + w)`` minus ``encode("a")``, so BPE and SentencePiece space markers are handled
  alike) are joined; when the join is itself one piece of the tokenizer's own vocabulary, a
  correct merge table encodes the word as that one piece. The fraction encoded as several
  pieces anyway (``" you" -> " y" + "ou"``) is ~0 for a correct tokenizer.
* **round trip** — ``decode(encode(doc)) == doc`` on the sampled documents.
* **characters per token** against the vocabulary size: a vocabulary of V pieces should give at
  least :func:`min_characters_per_token` characters per token on text.

After measuring, the model's perplexity on the prefixes is the fourth figure (an untrained or
mismatched model predicts its corpus badly). A failed check is a loud warning and marks the run's
profile untrusted (``wzbounds window --profile`` then refuses it).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .records import Record

__all__ = ["TokenizerSanity", "Sanity", "check_tokenizer", "sanity", "min_characters_per_token",
           "SPLIT_FRACTION_MAX", "PERPLEXITY_WARN", "ROUND_TRIP_MAX_FAILURES"]

#: More than this fraction of whole-in-vocabulary words split into pieces: the merges are wrong.
SPLIT_FRACTION_MAX = 0.05
#: Any sampled document that does not survive decode(encode(.)) is a failure.
ROUND_TRIP_MAX_FAILURES = 0
#: Perplexity above this on the corpus: the model does not predict this text.
PERPLEXITY_WARN = 1000.0
#: Characters of sample text the tokenizer checks look at.
SAMPLE_CHARACTERS = 60_000
_WORD = re.compile(r"(?<=\s)[A-Za-z]{2,}(?=[\s.,;:!?)])")


def min_characters_per_token(vocab_size: int) -> float:
    """Least plausible characters per token for a vocabulary of ``vocab_size`` pieces.

    Byte-level vocabularies (<= 512 pieces) give about one character per token. Larger ones
    merge: correct tokenizers measured here give 2.5 (indented Python) to 4.2 (English) at
    V = 49152 and 3.8-4.3 at V = 262144; 0.13·log2(V) (2.0 at 49152, 2.34 at 262144) leaves room
    for code and other languages, while a Gemma-3 tokenizer that splits common words into
    two-letter pieces (2.30 at V = 262144) falls below. It is the weakest of the three checks:
    vocabulary minimality is what catches a wrong merge table reliably."""
    return 0.9 if vocab_size <= 512 else 0.13 * math.log2(vocab_size)


@dataclass(frozen=True)
class TokenizerSanity(Record):
    """The tokenizer checks (see the module docstring) on ``n_words_checked`` distinct words and
    ``round_trip_documents`` documents of the sample."""

    vocab_size: int
    n_words_checked: int
    n_words_whole_in_vocab: int
    n_words_split_although_whole: int
    split_fraction: float
    split_examples: tuple[str, ...]
    round_trip_documents: int
    round_trip_failures: int
    round_trip_first_mismatch: str | None
    characters_per_token: float
    min_characters_per_token: float
    warnings: tuple[str, ...]

    @property
    def trusted(self) -> bool:
        return not self.warnings


@dataclass(frozen=True)
class Sanity(Record):
    """Everything a run reports about its own trustworthiness: the tokenizer checks, the model's
    perplexity on the measured prefixes, and every warning (empty when all checks pass)."""

    tokenizer: TokenizerSanity
    perplexity: float | None
    perplexity_tokens: int
    characters_per_token: float
    warnings: tuple[str, ...]
    trusted: bool


def _encode(tokenizer, text):
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _decode(tokenizer, ids):
    try:
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
    except TypeError:  # minimal tokenizers (the tests' byte tokenizer) take no options
        return tokenizer.decode(ids)


def _vocabulary(tokenizer):
    get = getattr(tokenizer, "get_vocab", None)
    return set(get()) if get is not None else None


def _pieces(tokenizer, ids):
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    return convert(ids) if convert is not None else [_decode(tokenizer, [i]) for i in ids]


def _first_mismatch(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at character {i}: {a[max(0, i - 15):i + 15]!r} became {b[max(0, i - 15):i + 15]!r}"


def check_tokenizer(tokenizer, documents, vocab_size: int) -> TokenizerSanity:
    """Run the tokenizer checks on (a prefix of) ``documents`` (sequence of str).

    ``vocab_size``: the model's vocabulary (width of its logits), which the characters-per-token
    expectation uses."""
    docs, total = [], 0
    for d in documents:
        docs.append(d[: SAMPLE_CHARACTERS - total])
        total += len(docs[-1])
        if total >= SAMPLE_CHARACTERS:
            break
    vocab = _vocabulary(tokenizer)
    words = sorted({w for d in docs for w in _WORD.findall(d)})
    base = len(_encode(tokenizer, "a"))
    whole = split = 0
    examples = []
    if vocab is not None:
        for w in words:
            ids = _encode(tokenizer, "a " + w)[base:]
            pieces = _pieces(tokenizer, ids)
            if "".join(pieces) in vocab:
                whole += 1
                if len(ids) > 1:
                    split += 1
                    if len(examples) < 5:
                        examples.append(f"{w!r} -> {pieces}")
    failures, first = 0, None
    chars = tokens = 0
    for d in docs:
        ids = _encode(tokenizer, d)
        chars, tokens = chars + len(d), tokens + len(ids)
        back = _decode(tokenizer, ids)
        if back != d:
            failures += 1
            first = first or _first_mismatch(d, back)
    cpt = chars / max(tokens, 1)
    low = min_characters_per_token(vocab_size)
    frac = split / whole if whole else 0.0
    warnings = []
    if frac > SPLIT_FRACTION_MAX:
        warnings.append(f"tokenizer splits {split} of {whole} words ({frac:.0%}) that its own vocabulary holds "
                        f"whole, e.g. {examples[0]}: its merges are not the model's (a wrongly rebuilt "
                        "tokenizer; pass --tokenizer)")
    if failures > ROUND_TRIP_MAX_FAILURES:
        warnings.append(f"tokenizer does not round-trip {failures} of {len(docs)} sampled documents "
                        f"(decode(encode(text)) != text, first {first})")
    if cpt < low:
        warnings.append(f"{cpt:.2f} characters per token is implausibly few for a vocabulary of {vocab_size} "
                        f"pieces (expected >= {low:.2f}): check the tokenizer (--tokenizer)")
    return TokenizerSanity(vocab_size=int(vocab_size), n_words_checked=len(words), n_words_whole_in_vocab=whole,
                           n_words_split_although_whole=split, split_fraction=frac, split_examples=tuple(examples),
                           round_trip_documents=len(docs), round_trip_failures=failures,
                           round_trip_first_mismatch=first, characters_per_token=cpt,
                           min_characters_per_token=low, warnings=tuple(warnings))


def sanity(tokenizer_sanity: TokenizerSanity, nll_nats_sum: float, nll_tokens: int,
           characters_per_token: float) -> Sanity:
    """Combine the tokenizer checks with the model's perplexity on the measured prefixes
    (``exp(nll_nats_sum / nll_tokens)``) and the corpus' characters per token."""
    ppl = math.exp(nll_nats_sum / nll_tokens) if nll_tokens else None
    warnings = list(tokenizer_sanity.warnings)
    if ppl is not None and not ppl <= PERPLEXITY_WARN:  # `not <=` also catches an overflowed inf
        warnings.append(f"perplexity {ppl:.4g} on the corpus is implausibly high (> {PERPLEXITY_WARN:g}): the "
                        "tokenizer may not match the model (pass --tokenizer) or the model is untrained")
    ppl = ppl if ppl is None or math.isfinite(ppl) else None
    return Sanity(tokenizer=tokenizer_sanity, perplexity=ppl, perplexity_tokens=int(nll_tokens),
                  characters_per_token=float(characters_per_token), warnings=tuple(warnings),
                  trusted=not warnings)
