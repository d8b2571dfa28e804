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
