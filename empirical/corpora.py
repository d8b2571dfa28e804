"""Text corpora and seeded prefix sampling.

A :class:`Corpus` is an ordered sequence of documents with a sha256 over their contents. Sources:

* built-in domains present on every Python install: ``natural`` (the English prose of
  ``pydoc_data.topics``, one document per help topic) and ``code`` (the standard library's
  ``.py`` sources, tests excluded, one document per file);
* paths: text files, folders (every UTF-8 file below, recursively), globs, and ``.zip``
  archives (every UTF-8 member).

Files are read lazily: loading a corpus streams every file once to hash it (and to check that it
is UTF-8 text) and keeps no text; a document is read again when sampling asks for it, and refused
if it changed in between. A file named on its own or matched by a glob that is not text (a NUL
byte or invalid UTF-8 in its first bytes) is refused at once, naming it; inside a folder or an
archive such files are skipped. A document may hold at most :data:`MAX_DOCUMENT_BYTES` and a
corpus :data:`MAX_CORPUS_BYTES` (both refused before anything is read).

:func:`sample_prefixes` draws ``n`` token prefixes of length ``T`` with a seeded
``numpy.random.Generator``: documents are visited in random order and each eligible document
(at least ``T - 1`` tokens after the BOS token) gives one prefix at a random offset; only when
a pass over all documents gives fewer than ``n`` prefixes does a further pass take further,
non-overlapping prefixes from the same documents. Shorter documents are skipped and counted,
never padded.
"""
from __future__ import annotations

import codecs
import glob as _glob
import hashlib
import sysconfig
import zipfile
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wzbounds._validation import positive_int

from .models import UserError, encode

__all__ = ["Corpus", "PrefixSample", "DOMAINS", "load_corpus", "sample_prefixes", "text_files", "check_paths",
           "MAX_DOCUMENT_BYTES", "MAX_CORPUS_BYTES"]

#: Built-in corpus domains.
DOMAINS = ("natural", "code")
#: Largest document read whole (it is tokenised whole: a 64 MiB text is tens of millions of
#: tokens); split larger texts into files.
MAX_DOCUMENT_BYTES = 64 * 2 ** 20
#: Largest corpus (sum of its documents): sampling keeps the token ids of the documents it uses.
MAX_CORPUS_BYTES = 2 ** 30
#: Bytes sniffed to tell text from binary, and read per step while hashing.
SNIFF_BYTES = 8192
CHUNK_BYTES = 2 ** 18


class NotText(ValueError):
    """A file (or archive member) that is not UTF-8 text."""


@dataclass(frozen=True)
class _Source:
    """Where a document lives (a file, or a member of a zip archive) and what it held when hashed."""

    path: Path
    member: str | None
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member is not None else str(self.path)

    @contextmanager
    def reader(self):
        """The document's bytes as a binary file object."""
        if self.member is None:
            with open(self.path, "rb") as f:
                yield f
        else:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
                yield f

    def read(self) -> str:
        try:
            with self.reader() as f:
                data = f.read(self.size + 1)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise UserError(f"{self.name} can no longer be read ({exc}); the corpus changed during the run") from None
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
            raise UserError(f"{self.name} changed after the corpus was read; the prefixes would come from other "
                            "text than its fingerprint says: rerun when the corpus is stable")
        return data.decode("utf-8")


class Documents(Sequence):
    """The documents of a corpus, read when indexed (in-memory texts for the built-in domains)."""

    def __init__(self, items):
        self._items = tuple(items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        item = self._items[i]
        return item if isinstance(item, str) else item.read()


@dataclass(frozen=True)
class Corpus:
    """Documents (a sequence of str, read lazily), the sha256 of their contents, and a description."""

    documents: Sequence
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


def _digest_update(h, data: bytes) -> None:
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def _make_corpus(documents, description) -> Corpus:
    docs = tuple(d for d in documents if d.strip())
    if not docs:
        raise UserError(f"corpus {description} holds no text")
    h = hashlib.sha256()
    for d in docs:
        _digest_update(h, d.encode("utf-8"))
    return Corpus(Documents(docs), h.hexdigest(), description)


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


def _check_empty(spec) -> None:
    if not str(spec).strip():
        raise ValueError(f"`--text` has an empty entry ({str(spec)!r}); give a file, folder, glob or .zip archive")


def text_files(spec: str) -> list:
    """The files a ``--text`` entry names: a file, every file under a folder, or a glob's matches
    (``FileNotFoundError`` when there are none; ``ValueError`` for an empty entry, which would
    otherwise mean the current folder)."""
    _check_empty(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file():
        return [path]
    files = sorted(Path(p) for p in _glob.glob(str(path), recursive=True) if Path(p).is_file())
    if not files:
        raise FileNotFoundError(f"no text found at {spec} (not a file, folder, glob or zip)")
    return files


def _stream(handle, name: str, size: int, whole):
    """Hash one document from ``handle`` (``size`` bytes) into ``whole`` when it holds text:
    returns its ``_Source`` sha256 and whether it was added; NotText when it is not UTF-8 text."""
    trial = whole.copy()
    trial.update(size.to_bytes(8, "little"))
    own = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    seen, blank, first = 0, True, True
    while True:
        chunk = handle.read(CHUNK_BYTES)
        if first and b"\x00" in chunk[:SNIFF_BYTES]:
            raise NotText(f"{name} is a binary file (NUL bytes), not text")
        first = False
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise NotText(f"{name} is not UTF-8 text (byte {seen + exc.start}): a binary file?") from None
        if not chunk:
            break
        seen += len(chunk)
        blank = blank and not text.strip()
        trial.update(chunk)
        own.update(chunk)
    if seen != size:
        raise UserError(f"{name} changed while it was read ({seen} bytes, not {size})")
    return own.hexdigest(), trial, not blank


def _size_ok(name: str, size: int) -> None:
    if size > MAX_DOCUMENT_BYTES:
        raise ValueError(f"`--text`: {name} holds {size} bytes; a document may hold at most {MAX_DOCUMENT_BYTES} "
                         "(it is tokenised whole): split it into smaller files")


def _members(spec: str) -> list:
    """``(path, zip member or None, size, named)`` of every document an entry names; ``named``:
    given by name or glob (a binary one is refused) rather than found in a folder or archive
    (skipped)."""
    from_folder = Path(spec).expanduser().is_dir()
    out = []
    for f in text_files(spec):
        if f.suffix == ".zip":
            try:
                with zipfile.ZipFile(f) as zf:
                    out += [(f, info.filename, info.file_size, False) for info in
                            sorted(zf.infolist(), key=lambda i: i.filename) if not info.is_dir()]
            except zipfile.BadZipFile as exc:
                raise ValueError(f"`--text`: {f} is not a readable zip archive ({exc})") from None
        else:
            out.append((f, None, f.stat().st_size, not from_folder))
    return out


def check_paths(paths) -> list:
    """What a corpus of ``paths`` would read, checked without reading it: every entry names files,
    no document or total exceeds the caps, and no file named on its own or by a glob starts as a
    binary one. Returns the members (see :func:`_members`); ValueError naming the file otherwise."""
    found = []
    for spec in paths:
        _check_empty(spec)
        found += _members(str(spec))
    for path, member, size, named in found:
        _size_ok(f"{path}:{member}" if member else str(path), size)
        if named:
            with open(path, "rb") as f:
                head = f.read(SNIFF_BYTES)
            if b"\x00" in head:
                raise ValueError(f"`--text`: {path} is a binary file (NUL bytes), not text")
            try:
                codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
            except UnicodeDecodeError:
                raise ValueError(f"`--text`: {path} is not UTF-8 text: a binary file?") from None
    total = sum(m[2] for m in found)
    if total > MAX_CORPUS_BYTES:
        raise ValueError(f"`--text` names {total} bytes of files; a corpus may hold at most {MAX_CORPUS_BYTES}: "
                         "give fewer or smaller files")
    return found


def _path_corpus(paths) -> Corpus:
    found = check_paths(paths)
    description = "text: " + ", ".join(str(p) for p in paths)
    h, docs = hashlib.sha256(), []
    for path, member, size, named in found:
        src = _Source(path, member, size, "")
        try:
            with src.reader() as handle:
                sha, trial, text = _stream(handle, src.name, size, h)
        except NotText as exc:
            if named:
                raise ValueError(f"`--text`: {exc}") from None
            continue  # a folder's or an archive's binary files are not part of its text
        if text:
            h = trial
            docs.append(_Source(path, member, size, sha))
    if not docs:
        raise UserError(f"corpus {description} holds no text")
    return Corpus(Documents(docs), h.hexdigest(), description)


def load_corpus(domain=None, paths=None) -> Corpus:
    """A built-in ``domain`` (``"natural"`` or ``"code"``) or the documents at ``paths``
    (files, folders, globs, zip archives; a str or a sequence of them). Exactly one of the two."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if (domain is None) == (not paths):
        raise ValueError("give exactly one of `domain` (natural|code) and `paths`")
    if domain is not None:
        if domain not in DOMAINS:
            raise ValueError(f"`domain` must be one of {list(DOMAINS)}, got {domain!r}")
        if domain == "natural":
            return _make_corpus(_natural_documents(), "natural: pydoc_data.topics")
        return _make_corpus(_code_documents(), f"code: stdlib .py sources ({sysconfig.get_paths()['stdlib']})")
    return _path_corpus(paths)


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
        text = corpus.documents[d]  # read (lazily) once
        ids = encode(tokenizer, text)
        chars += len(text)
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
