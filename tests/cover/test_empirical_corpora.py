"""Corpora and seeded prefix sampling."""
import zipfile

import numpy as np
import pytest

pytest.importorskip("torch")

from wzbounds.empirical.corpora import load_corpus, sample_prefixes  # noqa: E402
from wzbounds.empirical.models import ByteTokenizer, UserError  # noqa: E402


def test_builtin_domains_load():
    nat, code = load_corpus("natural"), load_corpus("code")
    assert len(nat.documents) > 50 and len(code.documents) > 100
    assert "def " in code.documents[0] or "import" in code.documents[0]
    assert nat.sha256 == load_corpus("natural").sha256 != code.sha256


def test_paths_files_folders_globs_zip(tmp_path):
    (tmp_path / "a.txt").write_text("alpha " * 50)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("beta " * 50)
    (tmp_path / "bin.dat").write_bytes(b"\xff\xfe\x00\x81")  # not UTF-8: skipped
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as zf:
        zf.writestr("dir/", "")
        zf.writestr("dir/c.txt", "gamma " * 50)
    assert len(load_corpus(paths=str(tmp_path)).documents) == 3  # a, b, c (zip members)
    assert len(load_corpus(paths=str(tmp_path / "*.txt")).documents) == 1
    assert load_corpus(paths=[str(tmp_path / "c.zip")]).documents[0].startswith("gamma")
    with pytest.raises(FileNotFoundError, match="no text found"):
        load_corpus(paths=str(tmp_path / "missing*.txt"))
    with pytest.raises(ValueError, match="exactly one"):
        load_corpus("natural", paths=str(tmp_path))


def test_sampling_is_seeded_and_counts_short_docs(tmp_path):
    for i in range(6):
        (tmp_path / f"d{i}.txt").write_text(("x" * 5) if i % 2 else (f"doc {i} " * 40))
    corpus = load_corpus(paths=str(tmp_path))
    tok = ByteTokenizer()
    # 4 prefixes from 3 long documents: every document is visited, so all short ones are counted
    a = sample_prefixes(corpus, tok, 4, 64, np.random.default_rng(7))
    b = sample_prefixes(corpus, tok, 4, 64, np.random.default_rng(7))
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    assert a.token_ids.shape == (4, 64) and a.token_ids.dtype == np.int64
    assert np.all(a.token_ids[:, 0] == tok.bos_token_id)
    assert a.skipped_short == 3  # the three 5-character documents, never padded
    for row, d, off in zip(a.token_ids, a.doc_index, a.token_offset):
        text = corpus.documents[d].encode()
        assert bytes(row[1:].tolist()) == text[off:off + 63]


def test_more_prefixes_than_documents_uses_non_overlapping_blocks(tmp_path):
    (tmp_path / "long.txt").write_text("".join(chr(97 + i % 26) for i in range(1000)))
    s = sample_prefixes(load_corpus(paths=str(tmp_path)), ByteTokenizer(), 4, 101, np.random.default_rng(0))
    starts = sorted(s.token_offset.tolist())
    assert all(b - a >= 100 for a, b in zip(starts, starts[1:]))


def test_text_shorter_than_prefix_names_both_sizes(tmp_path):
    (tmp_path / "t.txt").write_text("short text")
    with pytest.raises(UserError, match=r"500 tokens.*longest has 10"):
        sample_prefixes(load_corpus(paths=str(tmp_path)), ByteTokenizer(), 2, 500, np.random.default_rng(0))


# ------------------------------------------------------------------ issue 18, item 4: lazy, binary, capped

def test_i18_binary_file_named_or_globbed_is_refused_naming_it(tmp_path):
    """A binary file given by name or matched by a glob is refused at once, naming it (a folder's
    binary files are skipped, as before: a folder means "the text below")."""
    (tmp_path / "a.txt").write_text("alpha " * 50)
    (tmp_path / "nul.txt").write_bytes(bytes(10_000))
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for spec in (tmp_path / "nul.txt", tmp_path / "img.png", tmp_path / "nul*"):
        with pytest.raises(ValueError, match=r"(nul\.txt|img\.png).*binary|binary.*(nul\.txt|img\.png)"):
            load_corpus(paths=str(spec))
    assert len(load_corpus(paths=str(tmp_path)).documents) == 1  # the folder: a.txt only


def test_i18_empty_text_path_is_refused():
    for spec in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            load_corpus(paths=[spec])


def test_i18_corpus_is_read_lazily(tmp_path):
    """Loading a corpus hashes its files as a stream and keeps no text: 20 MB of files cost far
    less than 20 MB of memory; a document is read when asked for."""
    import tracemalloc

    texts = [f"document {i} " + ("lorem ipsum dolor sit amet " * 20_000) for i in range(40)]
    for i, t in enumerate(texts):
        (tmp_path / f"d{i:02d}.txt").write_text(t)
    tracemalloc.start()
    corpus = load_corpus(paths=str(tmp_path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * 2 ** 20, peak  # one 540 kB document and hashing buffers, not 21 MB
    assert len(corpus.documents) == 40 and corpus.documents[7] == texts[7] and corpus.documents[-1] == texts[-1]
    assert corpus.sha256 == load_corpus(paths=[str(tmp_path / f"d{i:02d}.txt") for i in range(40)]).sha256


def test_i18_file_changed_after_hashing_is_named(tmp_path):
    """A lazily read document that changed since the corpus was hashed is refused, naming the file
    (the prefixes would otherwise come from text the fingerprint does not describe)."""
    (tmp_path / "a.txt").write_text("alpha " * 50)
    corpus = load_corpus(paths=str(tmp_path))
    (tmp_path / "a.txt").write_text("gamma " * 50)
    with pytest.raises(UserError, match="a.txt"):
        corpus.documents[0]


def test_i18_corpus_size_is_capped(tmp_path, monkeypatch):
    """A document, and a corpus, larger than the caps are refused in one error naming the file
    (or the total) before anything is tokenised."""
    import wzbounds.empirical.corpora as corpora

    for i in range(4):
        (tmp_path / f"d{i}.txt").write_text("x" * 1000)
    monkeypatch.setattr(corpora, "MAX_DOCUMENT_BYTES", 999)
    with pytest.raises(ValueError, match=r"d0\.txt.*1000 bytes"):
        load_corpus(paths=str(tmp_path))
    monkeypatch.setattr(corpora, "MAX_DOCUMENT_BYTES", 1000)
    monkeypatch.setattr(corpora, "MAX_CORPUS_BYTES", 3999)
    with pytest.raises(ValueError, match="4000 bytes"):
        load_corpus(paths=str(tmp_path))
    monkeypatch.setattr(corpora, "MAX_CORPUS_BYTES", 4000)
    assert len(load_corpus(paths=str(tmp_path)).documents) == 4
