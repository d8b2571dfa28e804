"""Issue 13's bad-input matrix: every numbered case, and neighbours of the same kind, run through the
real entry point (``python -m wzbounds.cli``) in a subprocess with a timeout.

The contract, for every command (wzbounds/cli.py): bad input exits with status 2 and prints exactly
one line on stderr, ``wzbounds CMD: error: ...``, naming the option or parameter at fault; no
traceback, no hang, no NaN; Ctrl-C exits with 130 in one line. Data cases also check that nothing
on disk was lost or mixed: a rejected command leaves every file it was given byte-identical and
creates nothing (not even an empty ``--out`` folder).

Case ids start with the issue's item number (``c17-...``). Measurement cases use the tiny random
model (``save_tiny_random_model``) and a small generated text folder.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# Hang detection, not speed: the slowest case (a tiny-model validate run) takes ~30 s on the loaded
# 2-core CI machine; 4x that is a hang.
TIMEOUT_S = 120
# Ctrl-C cases: how long to wait for a measurement to start writing rows before giving up (same basis).
START_TIMEOUT_S = 120

# never the network; one thread each on the shared 2-core machine. Warnings stay on: a user sees them
# too, and "one line" means one.
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def cli(*argv, timeout=TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wzbounds.cli", *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, env=ENV)


def assert_one_line_error(proc, needles, status=2):
    """Exit ``status``, exactly one stderr line ``wzbounds...: error: ...`` containing, for each entry
    of ``needles``, the string (or one of the strings of a tuple); no traceback."""
    shown = f"rc={proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, shown
    assert proc.returncode == status, shown
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, shown
    assert re.match(r"wzbounds( [a-z]+)?: error: \S", lines[0]), shown
    if not any("unrecognized" in str(n) for n in needles):  # an unknown option names every option after it
        assert "unrecognized arguments" not in lines[0], shown
    for needle in needles:
        options = needle if isinstance(needle, tuple) else (needle,)
        assert any(n in lines[0] for n in options), f"{options} not named\n{shown}"


def assert_finite_answer(proc):
    """Exit 0 with no NaN/inf printed as a result and nothing but warnings on stderr."""
    shown = f"rc={proc.returncode}\nstdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-3000:]}"
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, shown
    assert not re.search(r"\b(nan|inf|infinity)\b", proc.stdout, re.IGNORECASE), shown


def assert_answer_or_one_line_error(proc, needles):
    """For inputs that are arguably valid (a huge but exact answer exists): a finite answer, or a
    one-line error naming the parameter. Either way: no traceback, no hang (the timeout)."""
    if proc.returncode == 0:
        assert_finite_answer(proc)
    else:
        assert_one_line_error(proc, needles)


def snapshot(root: Path) -> dict:
    """Every file and folder under ``root``: relative path -> bytes (None for a folder)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def unwritable_dir(tmp: Path) -> Path:
    """A folder the user cannot create files in: chmod 0o500, or for root (who ignores modes) /proc,
    where nobody may create files."""
    if os.geteuid() == 0:
        return Path("/proc")
    ro = tmp / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    return ro


# ------------------------------------------------------------------ fixtures

WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly judge boxing matches "
         "near old stone bridges under grey autumn skies").split()


def write_text_folder(folder: Path, n_docs=8, lines=100, seed=0) -> Path:
    import random

    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        (folder / f"doc{i}.txt").write_text(
            "\n".join(" ".join(rnd.choice(WORDS) for _ in range(12)) for _ in range(lines)))
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from wzbounds.empirical.models import save_tiny_random_model

    return save_tiny_random_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    return write_text_folder(tmp_path_factory.mktemp("corpus") / "text")


@dataclass
class Ctx:
    request: pytest.FixtureRequest
    tmp: Path

    @property
    def model(self) -> Path:  # requested only by the cases that need torch
        return self.request.getfixturevalue("model")

    @property
    def text(self) -> Path:
        return self.request.getfixturevalue("text")

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    def file(self, name, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        return path

    def json(self, name, doc) -> Path:
        return self.file(name, json.dumps(doc))


SMALL = ["--prefixes", "2", "--prefix-len", "16"]


def validate(c: Ctx, *extra):
    return ["validate", "--model", c.model, "--text", c.text, *SMALL, "--bootstrap", "20", "--no-progress",
            *extra, *([] if "--out" in extra else ["--out", c.out])]


def policies(c: Ctx, *extra):
    return ["policies", "--model", c.model, "--text", c.text, *SMALL, "--policies", "sliding,sink,random",
            "--budgets", "4,8", "--semantics", "truncation,prefill,streaming",
            *extra, *([] if "--out" in extra else ["--out", c.out])]


def both(case_id, build_extra, needles):
    """The same bad option for validate and for policies (one vocabulary, issue 9)."""
    return [pytest.param(lambda c, cmd=cmd: cmd(c, *build_extra(c)), needles, id=f"{case_id}-{cmd.__name__}")
            for cmd in (validate, policies)]


# ------------------------------------------------------------------ profile and config files

POWER_LAW = {"schema_version": 1, "kind": "power_law", "divergence": "tv", "alpha": 0.5, "C": 1.0, "c": None,
             "w0": 1, "alpha_ci": None, "C_ci": None, "provenance": {}}
TABULATED = {"schema_version": 1, "kind": "tabulated", "divergence": "tv", "windows": [1, 2, 4],
             "values": [0.5, 0.3, 0.2], "lower_values": None, "extrapolate": "power_law", "provenance": {}}
C_NAMED = ("`C`", "'C'", '"C"', "--C")  # a bare "C" would match any capital letter
POLICIES_NAMED = ("--policies", "`policies`")  # a bare "policies" matches the command name
MODEL_CONFIG = {"num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_size": 576}


def profile(**changes):
    doc = {**POWER_LAW, **changes}
    return {k: v for k, v in doc.items() if v != "<drop>"}


def window_profile(doc_or_bytes, *extra):
    def build(c):
        path = (c.file("profile.json", doc_or_bytes) if isinstance(doc_or_bytes, bytes)
                else c.json("profile.json", doc_or_bytes))
        return ["window", "--profile", path, "--eps", "0.1", *extra]
    return build


def window_config(doc_or_bytes):
    def build(c):
        path = (c.file("config.json", doc_or_bytes) if isinstance(doc_or_bytes, bytes)
                else c.json("config.json", doc_or_bytes))
        return ["window", "--alpha", "0.5", "--C", "1", "--model-config", path]
    return build


def corrupt_zip(c):
    return c.file("corpus.zip", b"PK\x03\x04 this is not really a zip archive")


def empty_zip(c):
    path = c.tmp / "empty.zip"
    zipfile.ZipFile(path, "w").close()
    return path


def empty_folder(c):
    path = c.tmp / "no-text"
    path.mkdir()
    return path


# ------------------------------------------------------------------ the matrix: bad input -> exit 2, one line
# Each case: (build(ctx) -> argv, needles). After the call, the temporary folder must be exactly as
# the case built it: nothing written, nothing lost, no empty --out left behind.

CASES = [
    # 3, 18: analysis options are checked before anything is measured
    pytest.param(lambda c: validate(c, "--bootstrap", "0"), ["--bootstrap"], id="c3-bootstrap-0"),
    pytest.param(lambda c: policies(c, "--n-resamples", "0"), [("--n-resamples", "--bootstrap")],
                 id="c7-policies-n-resamples-0"),
    pytest.param(lambda c: validate(c, "--bootstrap", "1"), ["--bootstrap"], id="c3-bootstrap-1"),
    pytest.param(lambda c: validate(c, "--bootstrap", "-5"), ["--bootstrap"], id="c3-bootstrap-negative"),
    pytest.param(lambda c: validate(c, "--bootstrap", str(10 ** 9)), ["--bootstrap"], id="c18-bootstrap-1e9"),
    pytest.param(lambda c: validate(c, "--bootstrap", str(10 ** 30)), ["--bootstrap"], id="c18-bootstrap-1e30"),
    # 4, 24: windows
    pytest.param(lambda c: validate(c, "--windows", "log:0"), ["--windows"], id="c4-windows-log0"),
    pytest.param(lambda c: validate(c, "--windows", "log:-3"), ["--windows"], id="c24-windows-log-negative"),
    pytest.param(lambda c: validate(c, "--windows", "log:x"), ["--windows"], id="c24-windows-log-text"),
    pytest.param(lambda c: validate(c, "--windows", ","), ["--windows"], id="c4-windows-empty"),
    pytest.param(lambda c: validate(c, "--windows", "0,1,2"), ["--windows"], id="c4-windows-zero"),
    pytest.param(lambda c: validate(c, "--windows", "-1,2"), ["--windows"], id="c4-windows-negative"),
    pytest.param(lambda c: validate(c, "--windows", "8:2"), ["--windows"], id="c4-windows-empty-range"),
    pytest.param(lambda c: validate(c, "--windows", "1,2,64"), [("--windows", "--prefix-len")], id="c4-windows-beyond-prefix"),
    # 7: policies overlay profile
    pytest.param(lambda c: policies(c, "--profile", c.tmp / "nonexistent.json"), ["--profile"],
                 id="c7-policies-profile-missing"),
    pytest.param(lambda c: policies(c, "--profile", c.file("bad.json", b"{not json")), [("--profile", "bad.json")],
                 id="c7-policies-profile-corrupt"),
    # 15: devices
    *both("c15-device-tpu", lambda c: ["--device", "tpu"], ["--device"]),
    *both("c15-device-gpu", lambda c: ["--device", "gpu"], ["--device"]),
    *both("c15-device-cuda-text", lambda c: ["--device", "cuda:x"], ["--device"]),
    *both("c15-device-empty", lambda c: ["--device", ""], ["--device"]),
    # 16: corpora
    *both("c16-text-corrupt-zip", lambda c: ["--text", corrupt_zip(c)], [("corpus.zip", "--text")]),
    *both("c16-text-empty-zip", lambda c: ["--text", empty_zip(c)], [("empty.zip", "--text")]),
    *both("c16-text-missing", lambda c: ["--text", c.tmp / "missing.txt"], [("missing.txt", "--text")]),
    *both("c16-text-empty-folder", lambda c: ["--text", empty_folder(c)], [("no-text", "--text")]),
    *both("c16-text-empty-file", lambda c: ["--text", c.file("empty.txt", "")], [("empty.txt", "--text")]),
    # 17: --out that cannot be a run directory (the existing file must survive untouched)
    *both("c17-out-existing-file", lambda c: ["--out", c.file("results.txt", "keep me\n")], ["--out"]),
    *both("c17-out-under-a-file", lambda c: ["--out", c.file("results.txt", "keep me\n") / "run"], ["--out"]),
    *both("c17-out-read-only", lambda c: ["--out", unwritable_dir(c.tmp) / "run"], [("--out", "/run")]),
    # 19: threads and batch sizes
    *both("c19-threads-negative", lambda c: ["--threads", "-1"], ["--threads"]),
    *both("c19-threads-zero", lambda c: ["--threads", "0"], ["--threads"]),
    pytest.param(lambda c: validate(c, "--max-rows", "0"), ["--max-rows"], id="c19-max-rows-0"),
    pytest.param(lambda c: validate(c, "--max-rows", "-1"), ["--max-rows"], id="c19-max-rows-negative"),
    pytest.param(lambda c: policies(c, "--batch-size", "0"), ["--batch-size"], id="c19-batch-size-0"),
    # 23: integers named, before any model is loaded
    *both("c23-seed-negative", lambda c: ["--seed", "-1"], ["--seed"]),
    *both("c23-prefixes-zero", lambda c: ["--prefixes", "0"], ["--prefixes"]),
    *both("c23-prefix-len-one", lambda c: ["--prefix-len", "1"], ["--prefix-len"]),
    *both("c23-sinks-negative", lambda c: ["--sinks", "-1"], ["--sinks"]),
    pytest.param(lambda c: validate(c, "--protocol", "fixed-start", "--start", "-1"), ["--start"],
                 id="c23-start-negative"),
    pytest.param(lambda c: validate(c, "--protocol", "fixed-start", "--start", "16"), [("--start", "--windows")],
                 id="c23-start-whole-prefix"),
    pytest.param(lambda c: validate(c, "--shard", "2/2"), ["--shard"], id="c23-shard-out-of-range"),
    pytest.param(lambda c: validate(c, "--shard", "x"), ["--shard"], id="c23-shard-text"),
    # 24: comma lists
    pytest.param(lambda c: policies(c, "--semantics", ","), ["--semantics"], id="c24-semantics-empty"),
    pytest.param(lambda c: policies(c, "--semantics", "bogus"), ["--semantics"], id="c24-semantics-unknown"),
    pytest.param(lambda c: ["policies", "--model", c.model, "--domains", ",", "--n-prefixes", "2",
                            "--prefix-tokens", "16", "--out", c.out], ["--domain"], id="c24-domains-empty-alias"),
    pytest.param(lambda c: policies(c, "--policies", ","), [POLICIES_NAMED], id="c24-policies-empty"),
    pytest.param(lambda c: policies(c, "--policies", "sliding,nonsense"), [POLICIES_NAMED], id="c24-policies-unknown"),
    pytest.param(lambda c: policies(c, "--budgets", ","), ["--budgets"], id="c24-budgets-empty"),
    pytest.param(lambda c: policies(c, "--budgets", "0,4"), ["--budgets"], id="c24-budgets-zero"),
    pytest.param(lambda c: policies(c, "--budgets", "4,x"), ["--budgets"], id="c24-budgets-text"),
    pytest.param(lambda c: policies(c, "--budgets", "4,64"), [("--budgets", "--prefix-len")], id="c24-budgets-beyond-prefix"),
    *both("c24-positions-empty", lambda c: ["--positions", ","], ["--positions"]),
    *both("c24-positions-unknown", lambda c: ["--positions", "sideways"], ["--positions"]),
    # 26: model and tokenizer sources
    *both("c26-model-and-gguf", lambda c: ["--gguf", c.file("fake.gguf", b"GGUF not really")], ["--gguf"]),
    pytest.param(lambda c: ["validate", "--gguf", c.file("fake.gguf", b"GGUF not really"), "--text", c.text,
                            *SMALL, "--out", c.out], [("fake.gguf", "--gguf")], id="c26-gguf-fake"),
    pytest.param(lambda c: ["validate", "--model", c.tmp / "no-such-model", "--text", c.text, *SMALL,
                            "--out", c.out], [("no-such-model", "--model")], id="c26-model-missing"),
    pytest.param(lambda c: ["validate", "--model", c.model, "--tokenizer", c.tmp / "no-such-tokenizer",
                            "--text", c.text, *SMALL, "--out", c.out], [("no-such-tokenizer", "--tokenizer")],
                 id="c26-tokenizer-missing"),
    # 5, 6, 11, 12, 25, 26: profile files given to window
    pytest.param(window_profile(profile(divergence="<drop>")), ["divergence"], id="c5-profile-no-divergence"),
    pytest.param(window_profile(profile(divergence="nats")), ["divergence"], id="c5-profile-bad-divergence"),
    pytest.param(window_profile(profile(alpha_ci=[0.6, 0.7])), ["alpha_ci"], id="c6-profile-alpha-ci-excludes"),
    pytest.param(window_profile(profile(C_ci=[2.0, 3.0])), ["C_ci"], id="c6-profile-C-ci-excludes"),
    pytest.param(window_profile(profile(alpha_ci=[0.7, 0.3])), ["alpha_ci"], id="c6-profile-alpha-ci-reversed"),
    pytest.param(window_profile(profile(alpha="<drop>")), ["alpha"], id="c12-profile-no-alpha"),
    pytest.param(window_profile(profile(C="<drop>")), [C_NAMED], id="c12-profile-no-C"),
    pytest.param(window_profile(profile(alpha="0.5")), ["alpha"], id="c12-profile-alpha-string"),
    pytest.param(window_profile(profile(kind="<drop>")), ["kind"], id="c12-profile-no-kind"),
    pytest.param(window_profile(profile(schema_version=99)), ["schema_version"], id="c12-profile-future-schema"),
    pytest.param(window_profile({**TABULATED, "values": [0.2, 0.3, 0.5]}), ["values"],
                 id="c12-profile-tabulated-increasing"),
    pytest.param(window_profile({**TABULATED, "windows": [1, 2]}), [("values", "windows")],
                 id="c12-profile-tabulated-length-mismatch"),
    pytest.param(window_profile([1, 2, 3]), ["profile"], id="c12-profile-json-list"),
    pytest.param(window_profile(b'{"schema_version": 1, "kind": "power_l'), ["profile.json"],
                 id="c25-profile-truncated"),
    pytest.param(window_profile(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"), ["profile.json"],
                 id="c26-profile-binary"),
    pytest.param(window_profile(profile(provenance=5)), ["provenance"], id="c26-profile-provenance-number"),
    pytest.param(window_profile(profile(provenance=["a"])), ["provenance"], id="c26-profile-provenance-list"),
    pytest.param(lambda c: ["window", "--profile", c.tmp], ["profile"], id="c26-profile-is-a-folder"),
    # 11: magnitudes without an exact answer
    pytest.param(lambda c: ["window", "--alpha", "1e-300", "--C", "1", "--eps", "0.1"], [("alpha", "eps")],
                 id="c11-alpha-1e-300"),
    # 13: model configs
    pytest.param(window_config({**MODEL_CONFIG, "num_attention_heads": 0}), ["num_attention_heads"],
                 id="c13-config-zero-heads"),
    pytest.param(window_config({**MODEL_CONFIG, "num_key_value_heads": 0}), ["num_key_value_heads"],
                 id="c13-config-zero-kv-heads"),
    pytest.param(window_config({**MODEL_CONFIG, "num_hidden_layers": -2}), ["num_hidden_layers"],
                 id="c13-config-negative-layers"),
    pytest.param(window_config({**MODEL_CONFIG, "hidden_size": 577}), [("hidden_size", "head_dim")],
                 id="c13-config-head-dim-not-integer"),
    pytest.param(window_config({**MODEL_CONFIG, "num_attention_heads": "nine"}), ["num_attention_heads"],
                 id="c13-config-heads-string"),
    pytest.param(window_config({"num_attention_heads": 9}),
                 [("num_hidden_layers", "hidden_size", "num_key_value_heads")], id="c13-config-missing-keys"),
    pytest.param(window_config([1, 2]), ["config.json"], id="c13-config-json-list"),
    pytest.param(window_config(b"\x00\x01binary"), ["config.json"], id="c13-config-binary"),
    # window: neighbours of the calculator cases
    pytest.param(lambda c: ["window", "--eps", "0"], ["eps"], id="c11-eps-zero"),
    pytest.param(lambda c: ["window", "--eps", "1e-400"], ["eps"], id="c11-eps-underflow"),
    pytest.param(lambda c: ["window", "--eps", "inf"], ["eps"], id="c11-eps-inf"),
    pytest.param(lambda c: ["window", "--alpha", "nan", "--C", "1"], ["alpha"], id="c11-alpha-nan"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1e400"], [C_NAMED], id="c11-C-overflow"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--w0", "0"], ["w0"], id="c22-w0-zero"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--scheme", "sink", "--sinks", "-1"],
                 ["sinks"], id="c11-sinks-negative"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--layers", "0", "--kv-heads", "1",
                            "--head-dim", "1"], ["layers"], id="c13-layers-zero"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--layers", "1", "--kv-heads", "1",
                            "--head-dim", "1", "--dtype-bytes", "0"], ["dtype"], id="c13-dtype-bytes-zero"),
    # 14, 23: simulate
    pytest.param(lambda c: ["simulate", "--memories", "4", "100000000000"], ["--memories"],
                 id="c14-simulate-memory-1e11"),
    pytest.param(lambda c: ["simulate", "--memories", "4", str(10 ** 30)], ["--memories"],
                 id="c14-simulate-memory-1e30"),
    pytest.param(lambda c: ["simulate", "--n", str(10 ** 12)], ["--n"], id="c14-simulate-n-1e12"),
    pytest.param(lambda c: ["simulate", "--replicates", str(10 ** 9)], ["--replicates"],
                 id="c14-simulate-replicates-1e9"),
    pytest.param(lambda c: ["simulate", "--n", "100", "--burn-in", "0", "--memories", "500"], ["--memories"],
                 id="c14-simulate-memory-beyond-path"),
    pytest.param(lambda c: ["simulate", "--seed", "-1"], ["--seed"], id="c23-simulate-seed-negative"),
    pytest.param(lambda c: ["simulate", "--beta", "1"], ["--beta"], id="c23-simulate-beta-1"),
    pytest.param(lambda c: ["simulate", "--beta", "nan"], ["--beta"], id="c23-simulate-beta-nan"),
    pytest.param(lambda c: ["simulate", "--n", "1"], ["--n"], id="c23-simulate-n-1"),
    pytest.param(lambda c: ["simulate", "--replicates", "1"], ["--replicates"], id="c23-simulate-replicates-1"),
    pytest.param(lambda c: ["simulate", "--confidence", "1"], ["--confidence"], id="c23-simulate-confidence-1"),
    pytest.param(lambda c: ["simulate", "--burn-in", "-1"], ["--burn-in"], id="c23-simulate-burn-in-negative"),
    pytest.param(lambda c: ["simulate", "--memories", "0"], ["--memories"], id="c23-simulate-memory-zero"),
    pytest.param(lambda c: ["simulate", "--plot", c.tmp / "figure.txt"], ["--plot"], id="c14-simulate-plot-suffix"),
    # 1, 2, 25: merge inputs that are not runs
    pytest.param(lambda c: ["merge", c.tmp / "nowhere"], ["nowhere"], id="c1-merge-missing-dir"),
    pytest.param(lambda c: ["merge", c.file("a-file.txt", "x")], ["a-file.txt"], id="c1-merge-a-file"),
    pytest.param(lambda c: ["merge", empty_folder(c)], ["no-text"], id="c1-merge-not-a-run"),
    # 27: argparse usage errors, every command
    pytest.param(lambda c: [], ["command"], id="c27-no-command"),
    pytest.param(lambda c: ["bogus"], ["bogus"], id="c27-unknown-command"),
    pytest.param(lambda c: ["window", "--alpha", "x"], ["--alpha"], id="c27-window-float"),
    pytest.param(lambda c: ["window", "--scheme", "bogus"], ["--scheme"], id="c27-window-choice"),
    pytest.param(lambda c: ["window", "--bogus"], ["unrecognized arguments: --bogus"], id="c27-window-unknown-option"),
    pytest.param(lambda c: ["window", "--eps"], ["--eps"], id="c27-window-missing-value"),
    pytest.param(lambda c: ["simulate", "--n", "1e5"], ["--n"], id="c27-simulate-int"),
    pytest.param(lambda c: ["simulate", "--memories"], ["--memories"], id="c27-simulate-missing-values"),
    pytest.param(lambda c: ["validate", "--model", c.model], ["--out"], id="c27-validate-missing-out"),
    pytest.param(lambda c: ["validate", "--domain", "natural", "--text", c.text, "--out", c.out],
                 ["--text"], id="c27-validate-exclusive"),
    pytest.param(lambda c: ["validate", "--domain", "poetry", "--out", c.out], ["--domain"],
                 id="c27-validate-choice"),
    pytest.param(lambda c: ["validate", "--prefixes", "many", "--out", c.out], ["--prefixes"],
                 id="c27-validate-int"),
    pytest.param(lambda c: ["merge"], ["DIR"], id="c27-merge-no-dirs"),
    pytest.param(lambda c: ["merge", c.tmp, "--bogus"], ["unrecognized arguments: --bogus"],
                 id="c27-merge-unknown-option"),
    pytest.param(lambda c: ["policies", "--model", c.model], ["--out"], id="c27-policies-missing-out"),
    pytest.param(lambda c: ["policies", "--dtype", "int3", "--out", c.out], ["--dtype"], id="c27-policies-choice"),
    pytest.param(lambda c: ["policies", "--prefixes", "2.5", "--out", c.out], ["--prefixes"],
                 id="c27-policies-int"),
]


# ------------------------------------------------------------------ issue 18: more bad input, same contract
# Case ids start with "i18-" and the issue's item number.

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(64)
#: A profile whose provenance says it was measured by validate, for the provenance-reading cases.
MEASURED_TABULATED = {**TABULATED, "provenance": {"source": "wzbounds validate", "windows_tokens": [1, 2, 4],
                                                  "constant": "upper-ci-curve", "confidence_level": 0.95}}


def short_corpus(c):
    return c.file("short/a.txt", "only a few words here\n")


def tiny_files(c, n=10_000):
    """``n`` files of one short line each (every one shorter than a prefix)."""
    folder = c.tmp / "tiny-files"
    folder.mkdir()
    for i in range(n):
        (folder / f"t{i:05d}.txt").write_text(f"word {i}\n")
    return folder


def nul_file_glob(c):
    """A glob whose one match is a file of NUL bytes."""
    c.file("data/blob.txt", bytes(4096))
    return c.tmp / "data" / "*.txt"


def nested(depth: int, leaf="0") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def deep_provenance(depth: int) -> bytes:
    """A profile whose provenance is ``{"a": {"a": ... }}`` ``depth`` levels deep."""
    doc = json.dumps(profile(provenance="@@"))
    return doc.replace('"@@"', '{"a": ' * depth + "0" + "}" * depth).encode()


def huge_int_field(field: str, digits=5000) -> bytes:
    doc = json.dumps(profile(**{field: "@@"}))
    return doc.replace('"@@"', "9" * digits).encode()


def rate(*extra):
    """block-markov-rate on a TV power law (the options that only that scheme reads)."""
    return ["window", "--scheme", "block-markov-rate", "--alpha", "0.5", "--C", "1", "--divergence", "tv",
            "--eps", "0.1", *extra]


ISSUE18_CASES = [
    # 3: a run refused after the model loaded leaves nothing and says so in one line (no warning banner)
    *both("i18-c3-prefix-len-beyond-corpus", lambda c: ["--text", short_corpus(c), "--prefix-len", "64"],
          [("--prefix-len", "too short")]),
    *both("i18-c3-ten-thousand-tiny-files", lambda c: ["--text", tiny_files(c)], [("--prefix-len", "too short")]),
    # 4: binary files named or matched are refused before anything loads, naming the file
    *both("i18-c4-binary-file-named", lambda c: ["--text", c.file("image.png", PNG)], ["image.png"]),
    *both("i18-c4-nul-file-by-glob", lambda c: ["--text", nul_file_glob(c)], ["blob.txt"]),
    *both("i18-c4-binary-with-txt-suffix", lambda c: ["--text", c.file("notes.txt", b"text\x00\x01\x02" * 100)],
          ["notes.txt"]),
    # 15: empty strings are not "the current folder" or "no config"
    *both("i18-c15-text-empty-string", lambda c: ["--text", ""], ["--text"]),
    *both("i18-c15-text-blank-string", lambda c: ["--text", "  "], ["--text"]),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--model-config", ""], ["--model-config"],
                 id="i18-c15-model-config-empty"),
    pytest.param(lambda c: ["window", "--profile", ""], ["--profile"], id="i18-c15-profile-empty"),
    pytest.param(lambda c: policies(c, "--profile", ""), ["--profile"], id="i18-c15-policies-profile-empty"),
    pytest.param(lambda c: ["window", "--alpha", "0.5", "--C", "1", "--model-config", c.tmp / "nonexistent.json"],
                 ["--model-config", "nonexistent.json"], id="i18-c15-model-config-missing"),
    pytest.param(lambda c: rate("--vocab-size", "100", "--model-config", c.tmp / "nonexistent.json"),
                 ["--model-config", "nonexistent.json"], id="i18-c15-model-config-missing-with-vocab-size"),
    pytest.param(lambda c: rate("--vocab-size", "100", "--model-config", ""), ["--model-config"],
                 id="i18-c15-model-config-empty-with-vocab-size"),
    pytest.param(lambda c: rate("--model-config", c.json("config.json", {**MODEL_CONFIG, "vocab_size": "many"})),
                 ["vocab_size"], id="i18-c15-model-config-vocab-size-string"),
    pytest.param(window_profile(profile(schema_version=True)), ["schema_version"], id="i18-c15-profile-schema-true"),
    pytest.param(window_profile(profile(schema_version=1.0)), ["schema_version"], id="i18-c15-profile-schema-float"),
    pytest.param(window_profile(profile(schema_version="1")), ["schema_version"], id="i18-c15-profile-schema-string"),
    # 14: messages name what is wrong
    pytest.param(window_profile(huge_int_field("schema_version")), ["schema_version"],
                 id="i18-c14-profile-schema-5000-digits"),
    pytest.param(window_profile(huge_int_field("alpha")), ["alpha"], id="i18-c14-profile-alpha-5000-digits"),
    pytest.param(window_profile(huge_int_field("w0")), ["w0"], id="i18-c14-profile-w0-5000-digits"),
    pytest.param(window_config(json.dumps({**MODEL_CONFIG, "num_hidden_layers": "@@"}).replace('"@@"', "9" * 5000).encode()),
                 ["num_hidden_layers"], id="i18-c14-config-layers-5000-digits"),
    pytest.param(window_profile({**MEASURED_TABULATED, "provenance": {**MEASURED_TABULATED["provenance"],
                                                                      "confidence_level": "high"}}),
                 ["confidence_level"], id="i18-c14-provenance-confidence-level-text"),
    pytest.param(window_profile({**MEASURED_TABULATED, "provenance": {**MEASURED_TABULATED["provenance"],
                                                                      "confidence_level": 95}}),
                 ["confidence_level"], id="i18-c14-provenance-confidence-level-percent"),
    pytest.param(window_profile({**MEASURED_TABULATED, "provenance": {**MEASURED_TABULATED["provenance"],
                                                                      "windows_tokens": ["one", "two"]}}),
                 ["windows_tokens"], id="i18-c14-provenance-windows-text"),
    pytest.param(lambda c: rate("--forward-decay", c.tmp / "nonexistent.json"), ["--forward-decay", "nonexistent.json"],
                 id="i18-c14-forward-decay-missing"),
    pytest.param(lambda c: rate("--forward-decay", c.file("fd.json", b"{not json")), ["--forward-decay", "fd.json"],
                 id="i18-c14-forward-decay-corrupt"),
    pytest.param(lambda c: rate("--forward-decay", "no-such-builtin"), ["--forward-decay"],
                 id="i18-c14-forward-decay-unknown-name"),
    pytest.param(lambda c: policies(c, "--budgets", "2"), ["--budgets", "at least two"], id="i18-c14-budgets-one"),
    pytest.param(lambda c: policies(c, "--budgets", "8,4"), ["--budgets", "increasing"], id="i18-c14-budgets-decreasing"),
    # 11: nesting deeper than any real file
    pytest.param(window_profile(nested(100_000)), ["profile.json"], id="i18-c11-profile-nested-100000"),
    pytest.param(window_profile(nested(100_000, "{}").replace(b"[", b"{\"a\":").replace(b"]", b"}")),
                 ["profile.json"], id="i18-c11-profile-nested-objects"),
    pytest.param(window_profile(deep_provenance(20_000)), ["profile.json"], id="i18-c11-provenance-nested-20000"),
    pytest.param(window_profile(deep_provenance(900)), [("profile.json", "provenance")],
                 id="i18-c11-provenance-nested-900"),
    pytest.param(window_config(nested(100_000)), ["config.json"], id="i18-c11-config-nested-100000"),
    pytest.param(lambda c: policies(c, "--profile", c.file("deep.json", nested(100_000))), [("deep.json", "--profile")],
                 id="i18-c11-policies-profile-nested"),
    pytest.param(lambda c: rate("--forward-decay", c.file("deep.json", nested(100_000))), ["--forward-decay"],
                 id="i18-c11-forward-decay-nested"),
    # 6: model configs it cannot count are named, never guessed
    pytest.param(window_config({**MODEL_CONFIG, "head_dim": 0}), ["head_dim"], id="i18-c6-config-head-dim-zero"),
    pytest.param(window_config({**MODEL_CONFIG, "head_dim": -64}), ["head_dim"], id="i18-c6-config-head-dim-negative"),
    pytest.param(window_config({**MODEL_CONFIG, "model_type": "jamba", "layers_block_type": ["mamba", "attention"] * 15}),
                 ["jamba", "layers_block_type"], id="i18-c6-config-hybrid-mamba"),
    pytest.param(window_config({"model_type": "falcon", "num_hidden_layers": 32, "num_attention_heads": 71,
                                "hidden_size": 4544, "multi_query": True}), ["falcon", "multi_query"],
                 id="i18-c6-config-falcon-multi-query"),
    pytest.param(window_config({**MODEL_CONFIG, "model_type": "mystery", "sliding_window": 4096}),
                 ["mystery", "sliding_window"], id="i18-c6-config-sliding-without-rule"),
    pytest.param(window_config({**MODEL_CONFIG, "sliding_window": 64, "layer_types": ["sliding_attention"] * 29}),
                 ["layer_types"], id="i18-c6-config-layer-types-length"),
    pytest.param(window_config({**MODEL_CONFIG, "sliding_window": 64, "layer_types": ["chunked_attention"] * 30}),
                 ["chunked_attention"], id="i18-c6-config-layer-types-unknown"),
    pytest.param(window_config({**MODEL_CONFIG, "layer_types": ["sliding_attention"] * 30}),
                 ["sliding_window"], id="i18-c6-config-sliding-layers-without-window"),
    pytest.param(window_config({**MODEL_CONFIG, "sliding_window": 0, "layer_types": ["sliding_attention"] * 30}),
                 ["sliding_window"], id="i18-c6-config-sliding-window-zero"),
    pytest.param(window_config({**MODEL_CONFIG, "model_type": "deepseek_v2", "kv_lora_rank": 512}),
                 ["qk_rope_head_dim"], id="i18-c6-config-mla-without-rope-dim"),
    pytest.param(window_config({**MODEL_CONFIG, "model_type": "deepseek_v2", "kv_lora_rank": 0, "qk_rope_head_dim": 64}),
                 ["kv_lora_rank"], id="i18-c6-config-mla-rank-zero"),
    pytest.param(window_config({"model_type": "gemma3", "torch_dtype": "float13", "text_config": MODEL_CONFIG}),
                 ["torch_dtype"], id="i18-c6-config-top-dtype-unknown"),
    pytest.param(window_config({"model_type": "gemma3", "text_config": [1, 2]}), ["text_config"],
                 id="i18-c6-config-text-config-list"),
]


@pytest.mark.parametrize("build, needles", CASES + ISSUE18_CASES)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(build, needles, request, tmp_path):
    """Issue 13 cases 3-7, 11-19, 22-27 and neighbours: exit 2, one line naming the option, and the
    temporary folder exactly as the case built it (no file changed, none created, no empty --out)."""
    argv = build(Ctx(request, tmp_path))
    before = snapshot(tmp_path)
    try:
        proc = cli(*argv)
    finally:
        for p in tmp_path.rglob("*"):  # let pytest clean a read-only folder
            if p.is_dir():
                p.chmod(0o700)
    assert_one_line_error(proc, needles)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("argv", [[], ["window"], ["simulate"], ["validate"], ["merge"], ["policies"]],
                         ids=lambda a: "c27-help-" + ("-".join(a) or "top"))
def test_help_still_prints_full_help(argv):
    """Case 27's other side: --help is untouched by the one-line usage errors."""
    proc = cli(*argv, "--help")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("usage: wzbounds") and proc.stdout.count("\n") > 5


# ------------------------------------------------------------------ arguably valid, huge: answer or one line

@pytest.mark.parametrize("argv, needles", [
    pytest.param(["window", "--alpha", "1e-6", "--C", "1", "--eps", "0.5"], [("alpha", "eps")], id="c8-alpha-1e-6"),
    pytest.param(["window", "--alpha", "1e-7", "--C", "1", "--eps", "0.5"], [("alpha", "eps")], id="c8-alpha-1e-7"),
    pytest.param(["window", "--alpha", "1e-6", "--C", "1", "--eps", "0.5", "--json"], [("alpha", "eps")],
                 id="c8-alpha-1e-6-json"),
    pytest.param(["window", "--scheme", "block-average", "--alpha", "0.1", "--C", "1", "--eps", "1e-40"],
                 [("alpha", "eps")], id="c9-block-average-1e-40"),
    pytest.param(["window", "--scheme", "block", "--alpha", "0.1", "--C", "1", "--eps", "1e-40"],
                 [("alpha", "eps")], id="c9-block-1e-40"),
    pytest.param(["window", "--scheme", "sink", "--sinks", str(10 ** 21), "--alpha", "0.5", "--C", "1"],
                 ["sinks"], id="c11-sinks-1e21"),
    pytest.param(["window", "--alpha", "0.5", "--C", "1", "--eps", "0.1", "--layers", str(10 ** 20), "--kv-heads",
                  "8", "--head-dim", "128"], ["layers"], id="c11-layers-1e20"),
])
def test_huge_inputs_answer_or_one_line(argv, needles):
    """Cases 8, 9, 11: exact answers exist but are astronomically large; the command must answer
    (exactly, finitely) or refuse in one line, within the timeout, never hang or overflow."""
    assert_answer_or_one_line_error(cli(*argv), needles)


@pytest.mark.parametrize("doc, needles", [
    pytest.param({**TABULATED, "windows": [1, 2, 2 ** 70]}, ["windows"], id="c11-tabulated-2-70"),
    pytest.param(profile(achievability_theorem="achievability_sliding"), ["achievability_theorem"],
                 id="c12-profile-listed-key"),
])
def test_profile_edge_answer_or_one_line(doc, needles, tmp_path):
    """Cases 11, 12: a profile the loader could accept must then work; otherwise one line naming the key."""
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(doc))
    assert_answer_or_one_line_error(cli("window", "--profile", path, "--eps", "0.1"), needles)


def test_w0_huge_is_valid(tmp_path):
    """Case 22: --w0 10**30 is valid; the window is then w0 itself (the envelope holds from w0 on)."""
    proc = cli("window", "--alpha", "0.5", "--C", "1", "--eps", "0.1", "--w0", str(10 ** 30), "--json")
    assert_finite_answer(proc)
    assert json.loads(proc.stdout)["window_tokens"] == [10 ** 30]


@pytest.mark.parametrize("w", [2 ** 63, 1e20, 10 ** 30], ids=["c22-2-63", "c22-1e20", "c22-1e30"])
def test_distortion_at_huge_window(w):
    """Case 22 in Python: distortion_at_window accepts any window >= w0 (exact int or float) and
    returns C w^-alpha, finite and positive."""
    from wzbounds import PowerLaw, distortion_at_window

    bound = float(distortion_at_window(w, PowerLaw(0.5, 2.0)).distortion_bound)
    assert bound == pytest.approx(2.0 / math.sqrt(float(w)), rel=1e-12)  # float64 round-off only


def test_power_law_ci_must_contain_estimate():
    """Case 6 in Python: a CI that excludes its own estimate is refused, naming it."""
    from wzbounds import PowerLaw

    with pytest.raises(ValueError, match="alpha_ci"):
        PowerLaw(0.5, 1.0, alpha_ci=(0.6, 0.7))


# ------------------------------------------------------------------ simulate (case 10, 14)

@pytest.mark.parametrize("memories", [["4", "16"], ["16"], ["16", "16"]], ids=lambda m: "c10-" + "-".join(m))
@pytest.mark.parametrize("json_out", [False, True], ids=["table", "json"])
def test_simulate_never_prints_nan(memories, json_out):
    """Case 10: Santa Fe(50) on short paths loses nothing at these memories (and one memory cannot be
    fitted): the exponent is reported as not fitted, never NaN; JSON stays strict JSON."""
    proc = cli("simulate", "--beta", "50", "--n", "2000", "--replicates", "2", "--memories", *memories,
               *(["--json"] if json_out else []))
    assert_finite_answer(proc)
    if json_out:
        def refuse(name):
            raise AssertionError(f"non-finite JSON constant {name}")

        doc = json.loads(proc.stdout, parse_constant=refuse)
        assert all(f["fitted_exponent"] is None and "not fitted" in f["note"] for f in doc["fits"])
    else:
        assert "not fitted" in proc.stdout


SIM = ["simulate", "--beta", "1.5", "--n", "2000", "--memories", "4", "16", "--replicates", "2"]


@pytest.mark.parametrize("target", ["read-only", "under-a-file", "missing-folder"], ids=lambda t: f"c14-plot-{t}")
def test_simulate_plot_unwritable_prints_results_first(target, tmp_path):
    """Case 14: when the figure cannot be written, the results are printed first, then one line
    naming --plot; exit 2, nothing written."""
    pytest.importorskip("matplotlib")
    where = {"read-only": lambda: unwritable_dir(tmp_path) / "fig.png",
             "under-a-file": lambda: tmp_path / "a-file.txt" / "fig.png",
             "missing-folder": lambda: tmp_path / "no" / "such" / "fig.png"}
    (tmp_path / "a-file.txt").write_text("keep me\n")
    path = where[target]()
    before = snapshot(tmp_path)
    try:
        proc = cli(*SIM, "--plot", path)
    finally:
        for p in tmp_path.rglob("*"):
            if p.is_dir():
                p.chmod(0o700)
    assert_one_line_error(proc, ["--plot"])
    assert "santa_fe" in proc.stdout and "selective_cache" in proc.stdout  # the table came first
    assert not path.exists() and snapshot(tmp_path) == before


@pytest.mark.parametrize("given, written", [
    pytest.param("figs", "figs/simulate.png", id="c14-plot-dir"),
    pytest.param("figs/", "figs/simulate.png", id="c14-plot-dir-slash"),
    pytest.param("fig", "fig.png", id="c14-plot-no-suffix"), pytest.param("fig.svg", "fig.svg", id="c14-plot-svg"),
])
def test_simulate_plot_says_exactly_what_it_wrote(given, written, tmp_path):
    """Case 14: the line "plot written to PATH" names the file that exists, and nothing else is written
    (an existing directory gets simulate.png inside it; a name without suffix gets .png)."""
    pytest.importorskip("matplotlib")
    (tmp_path / "figs").mkdir()
    proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *SIM, "--plot", given], capture_output=True,
                          text=True, timeout=TIMEOUT_S, env=ENV, cwd=tmp_path)
    assert_finite_answer(proc)
    said = re.search(r"^plot written to (.+)$", proc.stdout, re.MULTILINE)
    assert said and Path(said.group(1)) == Path(written), proc.stdout
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == [written] and (tmp_path / written).stat().st_size > 0


# ------------------------------------------------------------------ measured runs (cases 1-3, 20, 21, 25)

def run_ok(*argv):
    proc = cli(*argv)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def shard(model, text, out, *extra):
    """One half of a 4-prefix validate run."""
    base = {"--seed": "0", "--prefixes": "4", "--windows": "1,2,4,8"}
    for flag, value in zip(extra[::2], extra[1::2]):
        base[flag] = value
    return run_ok("validate", "--model", model, "--text", text, "--prefix-len", "16", "--bootstrap", "20",
                  "--no-progress", *[x for kv in base.items() for x in kv], "--out", out, "--shard",
                  "0/2" if out.name.startswith("first") else "1/2")


@pytest.fixture(scope="module")
def shards(model, tmp_path_factory):
    """Shard 0/2 of a run, and shard 1/2 of the same run and of runs that differ in one setting."""
    root = tmp_path_factory.mktemp("shards")
    text = write_text_folder(root / "text")
    shard(model, text, root / "first")
    made = {"same": root / "second-same"}
    shard(model, text, made["same"])
    for name, extra in {"seed": ("--seed", "7"), "prefixes": ("--prefixes", "6"),
                        "windows": ("--windows", "1,2,4")}.items():
        made[name] = root / f"second-{name}"
        shard(model, text, made[name], *extra)
    # case 2: the corpus changes between the shards (same path and options, other text)
    changed = write_text_folder(root / "text-changing")
    shard(model, changed, root / "first-corpus")
    (changed / "doc0.txt").write_text((changed / "doc0.txt").read_text().replace("fox", "cat"))
    made["corpus"] = root / "second-corpus"
    shard(model, changed, made["corpus"])
    return root, made


def test_merge_of_matching_shards_works(shards, tmp_path):
    """Positive control for cases 1-2: two halves of one run merge into a 4-prefix result."""
    root, made = shards
    before = snapshot(root)
    run_ok("merge", root / "first", made["same"], "--out", tmp_path / "merged")
    result = json.loads((tmp_path / "merged" / "result.json").read_text())
    assert "4" in json.dumps(result.get("provenance", result))
    assert snapshot(root) == before  # inputs untouched


@pytest.mark.parametrize("variant, needle", [
    pytest.param("seed", "seed", id="c1-seed"), pytest.param("prefixes", "prefixes", id="c1-prefixes"),
    pytest.param("windows", "windows", id="c1-windows"),
    pytest.param("corpus", ("corpus", "sha256", "text"), id="c2-corpus"),
])
def test_merge_of_different_runs_is_refused(variant, needle, shards, tmp_path):
    """Cases 1, 2: shards of different runs (another seed, --prefixes, windows, or a corpus that changed
    in between) are not merged, neither into a new --out nor into an existing run; every input
    directory stays byte-identical and no result is written."""
    root, made = shards
    first = root / ("first-corpus" if variant == "corpus" else "first")
    before = snapshot(root)
    assert_one_line_error(cli("merge", first, made[variant], "--out", tmp_path / "merged"), [needle])
    assert not (tmp_path / "merged").exists()
    assert_one_line_error(cli("merge", made[variant], "--out", first), [needle])  # into an existing run
    assert snapshot(root) == before


@pytest.fixture(scope="module")
def measured(model, text, tmp_path_factory):
    """A complete small validate run (2 prefixes of 16 tokens), to copy and damage."""
    out = tmp_path_factory.mktemp("run") / "run"
    argv = ["validate", "--model", model, "--text", text, *SMALL, "--windows", "1,2,4,8", "--bootstrap", "20",
            "--no-progress", "--out", out]
    run_ok(*argv)
    return out, argv


def copy_run(measured, tmp_path):
    out, argv = measured
    dst = tmp_path / "run"
    shutil.copytree(out, dst)
    return dst, [dst if a == out else a for a in argv]


def rows(run: Path) -> list:
    """The rows stored under ``run/rows`` that are rows: JSON objects with an integer key and TV
    curves. A torn line or one of another shape is what the store skips (and measures again)."""
    found = []
    for part in sorted((run / "rows").glob("*.jsonl")):
        for line in part.read_text().splitlines():
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(doc, dict) and type(doc.get("key")) is int and isinstance(doc.get("tv"), dict):
                found.append(doc)
    return found


def rows_bytes(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in (run / "rows").glob("*.jsonl")}


@pytest.mark.parametrize("change", [("--bootstrap", "30"), ("--bootstrap", "40", "--include-boundary")],
                         ids=["c3-rerun-bootstrap", "c3-rerun-include-boundary"])
def test_analysis_options_reuse_measured_rows(change, measured, tmp_path):
    """Case 3: analysis settings do not invalidate measured rows: a rerun with another bootstrap count
    (or include-boundary) re-analyses the stored rows, rows unchanged."""
    run, argv = copy_run(measured, tmp_path)
    before = rows_bytes(run)
    run_ok(*[a for a in argv if a != "--bootstrap" and a != "20"], *change)
    assert rows_bytes(run) == before
    json.loads((run / "result.json").read_text())


@pytest.mark.parametrize("bad_line", [
    '{"key": 1, "foo": "bar"}', "[1, 2]", "7", '{"key": "one"}', '{"key": 1, "tv": {"pres',
], ids=["c21-wrong-keys", "c21-list", "c21-number", "c21-key-type", "c21-torn"])
def test_row_of_wrong_shape_is_remeasured(bad_line, measured, tmp_path):
    """Case 21: a rows line that is valid JSON of the wrong shape is treated like a torn row (the last
    param, measured again silently as before): a warning names the file, the row is measured again,
    the run completes with the same rows as before."""
    run, argv = copy_run(measured, tmp_path)
    original = rows(run)
    part = sorted((run / "rows").glob("*.jsonl"))[0]
    lines = part.read_text().splitlines()
    lines[-1] = bad_line
    part.write_text("\n".join(lines) + "\n")
    proc = run_ok(*argv)
    try:
        json.loads(bad_line)
    except json.JSONDecodeError:
        pass  # torn: no warning required
    else:
        assert part.name in proc.stderr or "rows" in proc.stderr, proc.stderr  # the warning
    again = rows(run)
    assert sorted(r["key"] for r in again) == sorted(r["key"] for r in original)  # nothing lost, nothing doubled
    by_key = {r["key"]: r for r in again}
    for r in original:
        # re-measured alone instead of in a batch: float32 noise only (~1e-7 relative)
        for mode, curve in r["tv"].items():
            assert by_key[r["key"]]["tv"][mode] == pytest.approx(curve, rel=1e-4, abs=1e-6)


def test_corrupt_result_is_rebuilt(measured, tmp_path):
    """Case 25: result.json is derived from the rows; a truncated one is rebuilt by the rerun."""
    run, argv = copy_run(measured, tmp_path)
    before = rows_bytes(run)
    (run / "result.json").write_text('{"fits": {"pres')
    run_ok(*argv)
    json.loads((run / "result.json").read_text())
    assert rows_bytes(run) == before


@pytest.mark.parametrize("stage", ["config.json", "prefixes.json", "model.json", "measure.json"],
                         ids=lambda s: f"c25-stages-{s}")
@pytest.mark.parametrize("command", ["validate", "merge"])
def test_truncated_stage_file_is_named_or_rebuilt(stage, command, measured, tmp_path):
    """Case 25: a truncated stages/*.json is either rebuilt (a rerun completes and the file parses) or
    refused in one line naming that file; the measured rows survive either way."""
    run, argv = copy_run(measured, tmp_path)
    before = rows_bytes(run)
    path = run / "stages" / stage
    path.write_text(path.read_text()[: len(path.read_text()) // 2])
    proc = cli(*argv) if command == "validate" else cli("merge", run)
    if proc.returncode == 0:
        assert "Traceback" not in proc.stderr
        json.loads(path.read_text())
    else:
        assert_one_line_error(proc, [stage])
    assert rows_bytes(run) == before


# ------------------------------------------------------------------ Ctrl-C (case 20)

def _interrupt_when(proc, ready, what):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{what} never started (rc={proc.returncode}): {err[-3000:]}")
        time.sleep(0.05)  # polling interval, not a timing assertion
    status = Path(f"/proc/{proc.pid}/status")
    masks = " ".join(l for l in status.read_text().splitlines() if l.startswith(("SigBlk", "SigIgn"))) \
        if status.exists() else ""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return out, err if proc.returncode == 130 else f"{err}\n(child signal masks when interrupted: {masks})"


def _default_sigint():
    """Run the child as a terminal's foreground job would: SIGINT at its default disposition (a
    test runner's process may have it ignored, and an exec'd Python then keeps ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_validate(model, tmp_path):
    """Case 20: Ctrl-C while validate measures: one line saying so, exit 130, no traceback; the rows
    written so far are intact and the same command resumes to completion."""
    # 256 prefixes of 512 tokens: ~10 s of measurement on the tiny model, so the interrupt lands well
    # inside it (with 128 tokens, ~6 s, one full-suite run ended with rc 0 and no interrupt line)
    text = write_text_folder(tmp_path / "text", n_docs=16, lines=1200)
    argv = ["validate", "--model", model, "--text", text, "--prefixes", "256", "--prefix-len", "512",
            "--bootstrap", "20", "--no-progress", "--out", tmp_path / "run"]
    proc = subprocess.Popen([sys.executable, "-m", "wzbounds.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=_default_sigint)
    part_dir = tmp_path / "run" / "rows"
    _, err = _interrupt_when(proc, lambda: any(p.stat().st_size for p in part_dir.glob("*.jsonl"))
                             if part_dir.exists() else False, "validate")
    assert proc.returncode == 130 and "Traceback" not in err, f"rc={proc.returncode}\n{err[-3000:]}"
    said = [line for line in err.splitlines() if "interrupt" in line]  # progress notes may precede it
    assert said == [err.splitlines()[-1]] and said[0].startswith("wzbounds validate: "), err[-3000:]
    kept = rows(tmp_path / "run")
    assert 0 < len(kept) < 256 and len({r["key"] for r in kept}) == len(kept)
    run_ok(*argv)
    assert sorted(r["key"] for r in rows(tmp_path / "run")) == list(range(256))  # resumed, none doubled


@pytest.mark.parametrize("argv", [
    ["window"], ["simulate"], ["validate", "--model", "m", "--out", "o"], ["merge", "d"],
    ["policies", "--model", "m", "--out", "o"],
], ids=lambda a: f"c20-{a[0]}")
def test_ctrl_c_in_any_command(argv, monkeypatch, capsys):
    """Case 20, generic part: KeyboardInterrupt inside any command is one line and exit 130."""
    import wzbounds.cli as cli_module

    real = cli_module._parse

    def parse_then_interrupt(parser, args):
        ns = real(parser, args)

        def interrupted(_):
            raise KeyboardInterrupt

        ns.func = interrupted
        return ns

    monkeypatch.setattr(cli_module, "_parse", parse_then_interrupt)
    assert cli_module.main(argv) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"wzbounds {argv[0]}: interrupted"), err


# ================================================================== issue 18: data, concurrency, signals

def start(*argv, env=None, **kwargs) -> subprocess.Popen:
    """The CLI in the background, as a terminal's foreground job would run it."""
    return subprocess.Popen([sys.executable, "-m", "wzbounds.cli", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or ENV, preexec_fn=_default_sigint, **kwargs)


def wait_for(proc, ready, what):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"{what} never started (rc={proc.returncode}): {err[-3000:]}")
        time.sleep(0.05)  # polling interval, not a timing assertion


def has_rows(folder: Path) -> bool:
    return any(p.stat().st_size for p in folder.rglob("*.jsonl")) if folder.exists() else False


def stray_files(folder: Path) -> list:
    """Temporary files of an atomic write, and files left empty: neither may survive a run."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and (".tmp" in p.name or p.stat().st_size == 0))


@pytest.fixture(scope="module")
def long_text(tmp_path_factory) -> Path:
    """Enough text for runs that measure for a minute (they are interrupted long before)."""
    return write_text_folder(tmp_path_factory.mktemp("long") / "text", n_docs=16, lines=1200)


def long_validate(model, text, out, *extra):
    return ["validate", "--model", model, "--text", text, "--prefixes", "1024", "--prefix-len", "512",
            "--windows", "1,2,4,8", "--bootstrap", "20", "--no-progress", *extra, "--out", out]


def long_policies(model, text, out, *extra):
    return ["policies", "--model", model, "--text", text, "--prefixes", "2048", "--prefix-len", "256",
            "--policies", "sliding,sink", "--budgets", "4,8", "--bootstrap", "20", "--no-progress", *extra,
            "--out", out]


def assert_refused_by_holder(proc, folder: Path, holder: subprocess.Popen, holder_command: str):
    """One line naming the folder, the holder's pid and its command; exit 2."""
    assert_one_line_error(proc, [str(folder), str(holder.pid), holder_command])


def interrupt(proc) -> tuple:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return proc.returncode, err


def test_i18_c1_one_writer_per_folder_validate(model, long_text, tmp_path):
    """Item 1: while a validate run writes into D, every second writer is refused in one line naming
    D and the holder (pid and command): the same command, the same with other windows, policies,
    merge into D and merge from D. The holder's data stays its own: one row per key, its windows,
    its config."""
    folder = tmp_path / "run"
    holder = start(*long_validate(model, long_text, folder))
    try:
        wait_for(holder, lambda: has_rows(folder), "validate")
        for argv in (long_validate(model, long_text, folder),
                     long_validate(model, long_text, folder)[:-2] + ["--windows", "1,2,4,8,16", "--out", folder],
                     long_policies(model, long_text, folder),
                     ["merge", folder],
                     ["merge", folder, "--out", tmp_path / "merged"]):
            assert holder.poll() is None, "the holder ended before every second writer was tried: enlarge it"
            assert_refused_by_holder(cli(*argv), folder, holder, "validate")
        assert not (tmp_path / "merged").exists()
    finally:
        rc, err = interrupt(holder)
    assert rc == 130, err[-3000:]
    kept = rows(folder)
    assert kept and len({r["key"] for r in kept}) == len(kept)
    assert all(len(curve) == 4 for r in kept for curve in r["tv"].values())
    assert json.loads((folder / "stages" / "config.json").read_text())["windows"] == [1, 2, 4, 8]


def test_i18_c1_one_writer_per_folder_policies(model, long_text, tmp_path):
    """Item 1 for policies: a second policies run, and a validate run, into a folder policies is
    writing are refused in one line naming the folder and the holder."""
    folder = tmp_path / "run"
    holder = start(*long_policies(model, long_text, folder))
    try:
        wait_for(holder, lambda: (folder / "rows.jsonl").exists() and (folder / "rows.jsonl").stat().st_size,
                 "policies")
        for argv in (long_policies(model, long_text, folder), long_policies(model, long_text, folder, "--sinks", "2"),
                     long_validate(model, long_text, folder)):
            assert holder.poll() is None, "the holder ended before every second writer was tried: enlarge it"
            assert_refused_by_holder(cli(*argv), folder, holder, "policies")
    finally:
        rc, err = interrupt(holder)
    assert rc == 130, err[-3000:]
    keys = [json.loads(line)["key"] for line in (folder / "rows.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys))


def test_i18_c1_lock_dies_with_its_process_and_tmp_files_go(model, text, tmp_path):
    """Items 1, 3: the lock is the OS's: a writer killed with SIGKILL holds nothing, so the same command
    resumes at once; the temporary files a kill leaves mid-rename are removed by that next run."""
    folder = tmp_path / "run"
    argv = ["validate", "--model", model, "--text", write_text_folder(tmp_path / "text", n_docs=16, lines=1200),
            "--prefixes", "256", "--prefix-len", "512", "--windows", "1,2,4,8", "--bootstrap", "20",
            "--no-progress", "--out", folder]
    holder = start(*argv)
    wait_for(holder, lambda: has_rows(folder), "validate")
    holder.kill()
    holder.communicate()
    for name in ("result.json.4242.tmp", "report.4242.tmp.md", "stages/config.json.4242.tmp", "stages/x.4242.tmp.json"):
        (folder / name).write_text("{half a fi")
    run_ok(*argv)
    assert stray_files(folder) == []
    assert sorted(r["key"] for r in rows(folder)) == list(range(256))


@pytest.mark.parametrize("command", ["validate", "policies"])
def test_i18_c2_ascii_locale_still_writes_utf8(command, model, text, tmp_path):
    """Item 2: the outputs do not depend on the locale's encoding: under LC_ALL=C without UTF-8 mode
    the run succeeds and report.md is UTF-8 (it holds non-ASCII characters)."""
    env = {**ENV, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""}
    out = tmp_path / "out"
    if command == "validate":
        argv = ["validate", "--model", model, "--text", text, *SMALL, "--windows", "1,2,4,8", "--bootstrap", "20",
                "--no-progress", "--out", out]
    else:
        argv = ["policies", "--model", model, "--text", text, *SMALL, "--policies", "sliding,sink", "--budgets", "4,8",
                "--bootstrap", "20", "--no-progress", "--out", out]
    proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *map(str, argv)], capture_output=True,
                          timeout=TIMEOUT_S, env=env)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    report = (out / "report.md").read_bytes().decode("utf-8")
    assert report.startswith("#") and any(ord(ch) > 127 for ch in report)
    assert stray_files(out) == []


@pytest.mark.parametrize("damage", [
    pytest.param(("profile.json", b""), id="i18-c2-profile-empty"),
    pytest.param(("profile_tabulated.json", b'{"schema_version": 1, "ki'), id="i18-c2-tabulated-truncated"),
    pytest.param(("profile_tv2.json", b""), id="i18-c2-tv2-empty"),
    pytest.param(("report.md", b""), id="i18-c2-report-empty"),
    pytest.param(("report.md", b"# validate\n\xff\xfe half"), id="i18-c2-report-not-utf8"),
    pytest.param(("tv_decay.png", b""), id="i18-c2-plot-empty"),
    pytest.param(("kl_vs_tv2.png", b"\x89PNG\r\n\x1a\n\x00\x00"), id="i18-c2-plot-truncated"),
])
def test_i18_c2_derived_output_that_does_not_parse_is_rebuilt(damage, measured, tmp_path):
    """Item 2: a derived output left empty or cut short (a full disk, a crash before atomic writes)
    is rebuilt from the rows by the rerun, which says nothing misleading; the rows are untouched."""
    run, argv = copy_run(measured, tmp_path)
    name, content = damage
    before = rows_bytes(run)
    good = (run / name).read_bytes()
    (run / name).write_bytes(content)
    run_ok(*argv)
    rebuilt = (run / name).read_bytes()
    assert rows_bytes(run) == before and stray_files(run) == []
    if name.endswith(".json"):
        from wzbounds.profiles import load_profile

        load_profile(run / name)
    elif name.endswith(".md"):
        assert rebuilt.decode("utf-8") == good.decode("utf-8")
    else:
        assert rebuilt.startswith(b"\x89PNG") and rebuilt.endswith(b"IEND\xaeB`\x82")


def _file_size_limit(limit):
    def limited():
        _default_sigint()
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited


def _tmpfs_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def run_on_full_disk(argv, out: Path, how: str, copy_to: Path) -> subprocess.CompletedProcess:
    """Run the CLI with ``out`` on a disk that fills up: ``fsize`` (writes past 20 kB fail, as a full
    disk's do), or ``tmpfs`` (``out`` on a 48 kB tmpfs in a private mount namespace: ENOSPC itself).
    Afterwards ``copy_to`` holds what the run left in ``out`` (nothing: not created)."""
    if how == "fsize":
        proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", *map(str, argv)], capture_output=True,
                              text=True, timeout=TIMEOUT_S, env=ENV, preexec_fn=_file_size_limit(20_000))
        if out.exists():
            shutil.copytree(out, copy_to)
        return proc
    if not _tmpfs_available():
        pytest.skip("needs root and unshare to mount a small tmpfs")
    mount = out.parent
    command = " ".join(["exec", sys.executable, "-m", "wzbounds.cli", *(f"'{a}'" for a in map(str, argv))])
    script = (f"mount -t tmpfs -o size=48k tmpfs '{mount}' && ({command}); rc=$?; "
              f"if [ -e '{out}' ]; then cp -a '{out}' '{copy_to}'; fi; exit $rc")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=ENV)


@pytest.mark.parametrize("how", ["fsize", "tmpfs"])
@pytest.mark.parametrize("command", ["validate", "policies", "merge"])
def test_i18_c2_c3_c14_full_disk(command, how, model, text, shards, tmp_path):
    """Items 2, 3, 14: a disk that fills up during a run: one line naming the file that could not be
    written, exit 2; afterwards no temporary or empty file anywhere, and the --out the run created
    holds only what a resume needs (validate: stages/ and rows/; policies: its JSON stages and
    rows.jsonl; merge: nothing, it is rerun from its inputs). The same command without the limit
    then completes from the kept rows, measuring nothing again."""
    disk = tmp_path / "disk"
    disk.mkdir()
    out, left = disk / "out", tmp_path / "left"
    root, made = shards
    argv = {"validate": ["validate", "--model", model, "--text", text, *SMALL, "--windows", "1,2,4,8",
                         "--bootstrap", "20", "--no-progress", "--out", out],
            "policies": ["policies", "--model", model, "--text", text, *SMALL, "--policies", "sliding,sink",
                         "--budgets", "4,8", "--bootstrap", "20", "--no-progress", "--out", out],
            "merge": ["merge", root / "first", made["same"], "--out", out]}[command]
    before = snapshot(root)
    proc = run_on_full_disk(argv, out, how, left)
    # the progress notes of what was measured may come first; the error is one line, the last
    errors = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert errors == proc.stderr.splitlines()[-1:] and str(out) in errors[0], proc.stderr[-3000:]
    assert ("No space left" in proc.stderr) if how == "tmpfs" else ("too large" in proc.stderr)
    assert snapshot(root) == before  # merge inputs untouched
    if command == "merge" or not left.exists():
        assert not left.exists()
        return
    assert stray_files(left) == []
    kept = sorted(str(p.relative_to(left)) for p in left.rglob("*") if p.is_file())
    if command == "validate":
        assert all(k.startswith(("stages/", "rows/")) for k in kept), kept
    else:
        assert all(k == "rows.jsonl" or re.fullmatch(r"(config|model|corpus_\w+|sanity_\w+)\.json", k) for k in kept), kept
    rows_before = {p: (left / p).read_bytes() for p in kept if p.endswith(".jsonl")}
    resumed = [left if a == out else a for a in argv]
    proc = run_ok(*resumed)
    assert {p: (left / p).read_bytes() for p in rows_before} == rows_before, "rows measured again"


def test_i18_c4_gigabyte_of_nul_bytes_is_refused_at_once(tmp_path):
    """Item 4: a 1 GB file of NUL bytes matched by a glob is refused in one line naming it, without
    being read (the child may not map 4 GB; the old code read it whole and was OOM-killed)."""
    big = tmp_path / "data" / "big.txt"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(1 << 30)  # sparse: no disk used

    def limited():
        _default_sigint()
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    for command in ("validate", "policies"):
        proc = subprocess.run([sys.executable, "-m", "wzbounds.cli", command, "--model", tmp_path / "no-model",
                               "--text", str(tmp_path / "data" / "*.txt"), "--out", tmp_path / "out"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=ENV, preexec_fn=limited)
        assert_one_line_error(proc, ["big.txt"])
        assert not (tmp_path / "out").exists()


CTRL_C_EARLY = [["window"], ["simulate", "--n", "2000", "--replicates", "2"], ["validate", "--help"]]


@pytest.mark.parametrize("delay", [0.1, 0.15, 0.2, 0.25, 0.35], ids=lambda d: f"{d:g}s")
@pytest.mark.parametrize("argv", CTRL_C_EARLY, ids=lambda a: "i18-c13-" + a[0])
def test_i18_c13_ctrl_c_while_starting(argv, delay):
    """Item 13: Ctrl-C in the first fraction of a second of any command (while Python imports the
    package) is no traceback and exit 130, like Ctrl-C at any later moment."""
    proc = start(*argv)
    time.sleep(delay)  # when the interrupt lands, not a timing assertion
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT_S)
    if proc.returncode == 0:
        pytest.skip("finished before the interrupt")  # a fast machine: nothing to interrupt
    if "init_import_site" in err:  # a loaded machine: Python itself was still starting, before any wzbounds code
        pytest.skip("the interrupt landed in Python's own start-up")
    assert proc.returncode == 130 and "Traceback" not in err, f"rc={proc.returncode}\n{err[-3000:]}"
    assert len(err.splitlines()) <= 1, err


def test_i18_c13_second_ctrl_c_during_validate(model, long_text, tmp_path):
    """Item 13: Ctrl-C pressed again and again while validate stops: still one line and exit 130."""
    folder = tmp_path / "run"
    proc = start(*long_validate(model, long_text, folder))
    wait_for(proc, lambda: has_rows(folder), "validate")
    deadline = time.monotonic() + TIMEOUT_S
    while proc.poll() is None and time.monotonic() < deadline:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)  # a burst of interrupts, some landing in the clean-up of the first
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 130 and "Traceback" not in err, f"rc={proc.returncode}\n{err[-3000:]}"
    said = [line for line in err.splitlines() if "interrupt" in line]
    assert len(said) == 1 and said[0] == err.splitlines()[-1], err[-3000:]
    assert rows(folder) and stray_files(folder) == []


def write_tiny_gguf(path: Path) -> Path:
    """A two-layer Llama GGUF (F32 tensors, a byte-level BPE vocabulary) that transformers loads."""
    gguf = pytest.importorskip("gguf")
    import numpy as np
    from tokenizers import pre_tokenizers

    rng = np.random.default_rng(0)
    tokens = sorted(pre_tokenizers.ByteLevel.alphabet()) + ["Ġt", "he", "<|endoftext|>"]
    V, H, F, L, NH, KV = len(tokens), 32, 64, 2, 4, 2
    w = gguf.GGUFWriter(str(path), "llama")
    for add, value in ((w.add_context_length, 1024), (w.add_embedding_length, H), (w.add_block_count, L),
                       (w.add_feed_forward_length, F), (w.add_head_count, NH), (w.add_head_count_kv, KV),
                       (w.add_layer_norm_rms_eps, 1e-6), (w.add_rope_freq_base, 10000.0),
                       (w.add_rope_dimension_count, H // NH), (w.add_vocab_size, V), (w.add_tokenizer_model, "gpt2"),
                       (w.add_tokenizer_pre, "gpt-2"), (w.add_token_list, tokens),
                       (w.add_token_types, [1] * (V - 1) + [3]), (w.add_token_merges, ["Ġ t", "h e"]),
                       (w.add_eos_token_id, V - 1), (w.add_bos_token_id, V - 1), (w.add_add_bos_token, False)):
        add(value)
    shapes = {"token_embd.weight": (V, H), "output_norm.weight": (H,), "output.weight": (V, H)}
    for i in range(L):
        shapes.update({f"blk.{i}.attn_norm.weight": (H,), f"blk.{i}.ffn_norm.weight": (H,),
                       f"blk.{i}.attn_q.weight": (H, H), f"blk.{i}.attn_k.weight": (KV * H // NH, H),
                       f"blk.{i}.attn_v.weight": (KV * H // NH, H), f"blk.{i}.attn_output.weight": (H, H),
                       f"blk.{i}.ffn_gate.weight": (F, H), f"blk.{i}.ffn_up.weight": (F, H),
                       f"blk.{i}.ffn_down.weight": (H, F)})
    for name, shape in shapes.items():
        w.add_tensor(name, (rng.standard_normal(shape) * 0.2).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("command", ["validate", "policies"])
def test_i18_c15_no_progress_silences_the_gguf_conversion_bar(command, text, tmp_path):
    """Item 15: --no-progress also silences transformers' GGUF conversion bar; without it the bar
    shows (it is the feedback on a minute-long conversion)."""
    pytest.importorskip("transformers")
    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    extra = (["--windows", "1,2,4,8"] if command == "validate" else
             ["--policies", "sliding,sink", "--budgets", "4,8"])
    base = [command, "--gguf", model, "--text", text, *SMALL, "--bootstrap", "20", *extra]
    quiet = run_ok(*base, "--no-progress", "--out", tmp_path / "quiet")
    assert "Converting and de-quantizing" not in quiet.stderr and "%|" not in quiet.stderr, quiet.stderr[-3000:]
    loud = run_ok(*base, "--out", tmp_path / "loud")
    assert "Converting and de-quantizing" in loud.stderr
