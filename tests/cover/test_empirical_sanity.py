"""The tokenizer sanity stage: a deliberately broken tokenizer is caught (unit and end to end: a
loud warning, result.json, the top of report.md, an untrusted profile that `wzbounds window`
refuses), and correct tokenizers pass."""
from dataclasses import replace

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import find_smollm2_gguf, tiny_random_model  # noqa: E402
from wzbounds.empirical.pipeline import ValidateConfig, run_validate  # noqa: E402
from wzbounds.empirical.sanity import SPLIT_FRACTION_MAX, check_tokenizer, min_characters_per_token  # noqa: E402
from wzbounds.profiles import load_profile  # noqa: E402

pytestmark = pytest.mark.empirical

PROSE = ("The cache holds the past and the decoder predicts the next token from the cache and the query. "
         "When you cut the context, the law of the next token moves, and the question is by how much. ") * 40
WORDS = ["the", "and", "cache", "holds", "past", "decoder", "predicts", "next", "token", "from", "query",
         "when", "you", "cut", "context", "law", "of", "moves", "is", "by", "how", "much", "question"]


def broken_tokenizer():
    """A byte-level BPE tokenizer whose vocabulary holds common words whole (" the", " you", ...) but
    whose merge table is empty, so every word is encoded byte by byte: what a wrongly rebuilt GGUF
    tokenizer does (transformers' conversion dropping or misreading the merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    for w in WORDS:
        vocab["Ġ" + w] = len(vocab)
    vocab["<s>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>")


def fixed_tokenizer():
    """The same vocabulary with the merges that build each whole word: the correct tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    merges = []
    for w in WORDS:
        piece = "Ġ"
        for ch in w:
            merges.append((piece, ch))
            piece += ch
            vocab.setdefault(piece, len(vocab))
    vocab["<s>"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>")


def test_broken_tokenizer_is_caught_by_vocabulary_minimality():
    tok = broken_tokenizer()
    s = check_tokenizer(tok, [PROSE], len(tok))
    assert s.n_words_whole_in_vocab >= 15 and s.split_fraction == 1.0  # every whole word split into bytes
    assert s.round_trip_failures == 0  # a byte tokenizer round-trips: minimality is what catches it
    assert not s.trusted and "holds whole" in s.warnings[0] and "' y', 'o', 'u'" not in s.warnings[0]


def test_correct_merges_pass():
    tok = fixed_tokenizer()
    s = check_tokenizer(tok, [PROSE], len(tok))
    assert s.split_fraction == 0.0 and s.n_words_whole_in_vocab >= 15 and s.trusted


def test_round_trip_failure_is_caught():
    class Lossy:
        """Drops every 'q' on decode (a normaliser the model never saw)."""

        def __init__(self):
            self.inner = fixed_tokenizer()

        def __call__(self, text, add_special_tokens=False):
            return self.inner(text, add_special_tokens=add_special_tokens)

        def decode(self, ids, **kw):
            return self.inner.decode(ids, **kw).replace("q", "")

        def get_vocab(self):
            return self.inner.get_vocab()

        def convert_ids_to_tokens(self, ids):
            return self.inner.convert_ids_to_tokens(ids)

    s = check_tokenizer(Lossy(), [PROSE, "plain text"], 300)
    assert s.round_trip_failures == 1 and "round-trip" in " ".join(s.warnings)


def test_characters_per_token_expectation_grows_with_the_vocabulary():
    assert min_characters_per_token(257) == pytest.approx(0.9)
    assert min_characters_per_token(49152) == pytest.approx(0.13 * 15.585, abs=1e-3)
    # the wrong tokenizer: 2.30 characters per token with a 262144-piece vocabulary
    assert 2.30 < min_characters_per_token(262144)


def test_untrusted_run_end_to_end(tmp_path, capsys):
    """A run with a broken tokenizer warns at once, records the warnings, flags the report, and
    writes a profile that `wzbounds window --profile` refuses unless --allow-untrusted-profile."""
    tok = broken_tokenizer()
    lm = tiny_random_model(0, vocab_size=len(tok), bos_token_id=tok.bos_token_id)
    lm = replace(lm, tokenizer=tok, provenance=replace(lm.provenance, tokenizer="broken-test-tokenizer",
                                                       tokenizer_source="--tokenizer"))
    text = tmp_path / "corpus"
    text.mkdir()
    for i in range(4):
        (text / f"{i}.txt").write_text(PROSE)
    cfg = ValidateConfig(model="tiny", text=(str(text),), n_prefixes=3, prefix_tokens=48, windows=(1, 2, 4, 8, 16),
                         modes=("preserve",), sink_tokens=0, perplexity_tokens=16, n_resamples=40)
    out = tmp_path / "run"
    result = run_validate(cfg, out, loaded=lm, show_progress=False)
    err = capsys.readouterr().err
    assert "holds whole" in err and "marked untrusted" in err
    assert not result.sanity.trusted and result.sanity.tokenizer.split_fraction > SPLIT_FRACTION_MAX
    assert (out / "report.md").read_text().splitlines()[2].startswith("> **UNTRUSTED RUN")
    prov = load_profile(out / "profile.json").provenance
    assert prov["trusted"] is False and "holds whole" in prov["untrusted_reasons"][0]
    assert main(["window", "--profile", str(out / "profile.json")]) == 2
    assert "untrusted" in capsys.readouterr().err
    assert main(["window", "--profile", str(out / "profile.json"), "--allow-untrusted-profile"]) == 0


@pytest.mark.skipif(find_smollm2_gguf() is None, reason="SmolLM2 GGUF not in ~/.cache/wzbounds (see .ci/run)")
def test_smollm2_tokenizer_passes():
    from pydoc_data.topics import topics
    from transformers import AutoTokenizer

    path = find_smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    s = check_tokenizer(tok, [topics[k] for k in sorted(topics)], 49152)
    assert s.trusted and s.split_fraction == 0.0 and s.round_trip_failures == 0
    assert s.n_words_whole_in_vocab > 500 and s.characters_per_token > 3.5
