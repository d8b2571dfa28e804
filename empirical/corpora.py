"""Text corpora and seeded prefix sampling.

A :class:`Corpus` is an ordered tuple of documents with a sha256 over their contents. Sources:

* built-in domains present on every Python install: ``natural`` (the English prose of
  ``pydoc_data.topics``, one document per help topic) and ``code`` (the standard library's
  ``.py`` sources, tests excluded, one document per file);
* paths: text files, folders (every UTF-8 file below, recursively), globs, and ``.zip``
  archives (every UTF-8 member).

:func:`sample_prefixes` draws ``n`` token prefixes of length ``T`` with a seeded
``numpy.random.Generator``: documents are visited in random order and each eligible document
(at least ``T - 1`` tokens after the BOS token) gives one prefix at a random offset; only when
a pass over all documents gives fewer than ``n`` prefixes does a further pass take further,
non-overlapping prefixes from the same documents. Shorter documents are skipped and counted,
never padded.
"""
from __future__ import annotations

import glob as _glob
import hashlib
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wzbounds._validation import positive_int

from .models import UserError, encode

__all__ = ["Corpus", "PrefixSample", "DOMAINS", "load_corpus", "sample_prefixes"]

#: Built-in corpus domains.
DOMAINS = ("natural", "code")


@dataclass(frozen=True)
class Corpus:
    """Documents (``tuple[str, ...]``), the sha256 of their contents, and a description."""

    documents: tuple
    sha256: str
    description: str

    @property
    def n_characters(self) -> int:
        return sum(len(d) for d in self.documents)


@dataclass(frozen=True)
class PrefixSample:
    """Sampled prefixes.

    ``token_ids``: int64 ``(n, length)``; ``doc_index``: int64 ``(n,)`` document of each prefix;
    ``token_offset``: int64 ``(n,)`` offset of the prefix's first document token;
    ``skipped_short``: visited documents shorter than the prefix (skipped, not padded; sampling
    stops visiting documents once it has ``n`` prefixes);
    ``characters_per_token``: characters / tokens over the tokenised documents (sanity figure);
    ``bos``: whether each prefix starts with the tokenizer's BOS token.
    """

    token_ids: np.ndarray
    doc_index: np.ndarray
    token_offset: np.ndarray
    skipped_short: int
    characters_per_token: float
    bos: bool

    @property
    def length_tokens(self) -> int:
        return int(self.token_ids.shape[1])


def _make_corpus(documents, description) -> Corpus:
    docs = tuple(d for d in documents if d.strip())
    if not docs:
        raise UserError(f"corpus {description} holds no text")
    h = hashlib.sha256()
    for d in docs:
        data = d.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return Corpus(docs, h.hexdigest(), description)


def _natural_documents():
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


def _code_documents():
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(p in ("test", "tests", "idle_test", "site-packages", "dist-packages") or p.startswith("lib2to3")
               for p in rel[:-1]):
            continue
        try:
            docs.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return docs


def _read_text(data: bytes):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def text_files(spec: str) -> list:
    """The files a ``--text`` entry names: a file, every file under a folder, or a glob's matches
    (``FileNotFoundError`` when there are none)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    files = sorted(Path(p) for p in _glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise FileNotFoundError(f"no text found at {spec} (not a file, folder, glob or zip)")
    return files


def _path_documents(spec: str):
    files = text_files(spec)
    docs = []
    for f in files:
        if f.suffix == ".zip":
            with zipfile.ZipFile(f) as zf:
                for name in sorted(zf.namelist()):
                    if not name.endswith("/"):
                        text = _read_text(zf.read(name))
                        if text is not None:
                            docs.append(text)
        else:
            text = _read_text(f.read_bytes())
            if text is not None:
                docs.append(text)
    return docs


def load_corpus(domain=None, paths=None) -> Corpus:
    """A built-in ``domain`` (``"natural"`` or ``"code"``) or the documents at ``paths``
    (files, folders, globs, zip archives; a str or a sequence of them). Exactly one of the two."""
    if (domain is None) == (not paths):
        raise ValueError("give exactly one of `domain` (natural|code) and `paths`")
    if domain is not None:
        if domain not in DOMAINS:
            raise ValueError(f"`domain` must be one of {list(DOMAINS)}, got {domain!r}")
        if domain == "natural":
            return _make_corpus(_natural_documents(), "natural: pydoc_data.topics")
        return _make_corpus(_code_documents(), f"code: stdlib .py sources ({sysconfig.get_paths()['stdlib']})")
    if isinstance(paths, (str, Path)):
        paths = [paths]
    docs = []
    for spec in paths:
        docs.extend(_path_documents(str(spec)))
    return _make_corpus(docs, "text: " + ", ".join(str(p) for p in paths))


def _sample_prefixes_iv(n, length):
    n = positive_int("n", n)
    length = positive_int("length", length, minimum=2)
    return n, length


def sample_prefixes(corpus: Corpus, tokenizer, n, length, rng, *, bos=True) -> PrefixSample:
    """Draw ``n`` prefixes of ``length`` tokens (see the module docstring for the scheme).

    With ``bos`` and a tokenizer that has a BOS token, each prefix is BOS + ``length - 1``
    document tokens. Raises :class:`UserError` naming both sizes when the corpus is too short.
    """
    n, length = _sample_prefixes_iv(n, length)
    bos_id = getattr(tokenizer, "bos_token_id", None) if bos else None
    body = length - (1 if bos_id is not None else 0)
    order = rng.permutation(len(corpus.documents))
    chosen = []  # (doc, offset, ids)
    cache = {}
    chars = tokens = skipped = longest = 0
    for d in order:
        ids = encode(tokenizer, corpus.documents[d])
        chars += len(corpus.documents[d])
        tokens += len(ids)
        longest = max(longest, len(ids))
        if len(ids) < body:
            skipped += 1
            continue
        offset = int(rng.integers(0, len(ids) - body + 1))
        cache[d] = (ids, offset)
        chosen.append((d, offset))
        if len(chosen) == n:
            break
    extra_pass = 0
    while len(chosen) < n and cache:
        # further non-overlapping prefixes: the k-th pass takes the k-th block after (or before) the first
        extra_pass += 1
        progressed = False
        for d in order:
            if d not in cache:
                continue
            ids, first = cache[d]
            for start in (first + extra_pass * body, first - extra_pass * body):
                if 0 <= start and start + body <= len(ids):
                    chosen.append((d, start))
                    progressed = True
                    break
            if len(chosen) == n:
                break
        if not progressed:
            break
    if len(chosen) < n:
        raise UserError(
            f"the corpus ({corpus.description}) is too short for {n} prefixes of {length} tokens: "
            f"{len(chosen)} fit ({skipped} of {len(corpus.documents)} documents have fewer than {body} tokens; "
            f"the longest has {longest})")
    token_ids = np.empty((n, length), dtype=np.int64)
    for i, (d, start) in enumerate(chosen):
        ids = cache[d][0][start:start + body]
        token_ids[i] = ([bos_id] if bos_id is not None else []) + ids
    return PrefixSample(token_ids=token_ids,
                        doc_index=np.array([c[0] for c in chosen], dtype=np.int64),
                        token_offset=np.array([c[1] for c in chosen], dtype=np.int64),
                        skipped_short=skipped, characters_per_token=chars / max(tokens, 1),
                        bos=bos_id is not None)
