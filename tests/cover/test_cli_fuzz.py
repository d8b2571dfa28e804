"""Fuzz ``wzbounds window`` and ``wzbounds simulate`` with drawn argument lists (issue 13).

Every call must end in one of two ways: exit 0 with finite output (no NaN/inf printed as a result,
strict JSON under --json), or exit 2 with exactly one line on stderr. Anything else (a traceback,
another status, a hang) fails.

Calls run in a worker subprocess that imports the CLI once and runs ``wzbounds.cli.main`` per
example with stdout/stderr captured (a fresh interpreter per example would cost ~1 s each). The
harness enforces a per-call time limit: a call that does not answer in time is a hang, the worker is
killed and the example fails, so a hang can never block the suite. Warnings are shown every time
("always"), as a fresh CLI process would show them.
"""
from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

# A hang, not a speed limit: the slowest valid input drawn below (simulate with n <= 3000, <= 4
# replicates, memories <= 2000) takes ~2 s on the loaded 2-core CI machine; 20 s means it is stuck.
CALL_TIMEOUT_S = 20
# Starting the worker imports numpy, scipy, sympy and the CLI: ~5 s on that machine, 60 s is stuck.
START_TIMEOUT_S = 60

WORKER = r"""
import contextlib, io, json, sys, traceback, warnings
from wzbounds.cli import main
print("ready", flush=True)
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            rc = main(json.loads(line))
        except SystemExit as exc:
            rc = exc.code
        except BaseException:  # what the interpreter would print for an uncaught exception
            traceback.print_exc()
            rc = "traceback"
    sys.__stdout__.write(json.dumps([rc, out.getvalue(), err.getvalue()]) + "\n")
    sys.__stdout__.flush()
"""


class Worker:
    """One long-lived CLI process; ``call`` runs one argument list in it under a time limit."""

    def __init__(self):
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.answers = queue.Queue()
        threading.Thread(target=lambda out=self.proc.stdout, q=self.answers: [q.put(x) for x in out],
                         daemon=True).start()
        self._answer(START_TIMEOUT_S, "the worker did not start")

    def call(self, argv):
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.proc.stdin.write(json.dumps(argv) + "\n")
        self.proc.stdin.flush()
        return json.loads(self._answer(CALL_TIMEOUT_S, f"hang: wzbounds {' '.join(argv)}"))

    def _answer(self, timeout, what):
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            pytest.fail(f"{what} (no answer in {timeout} s)")

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.close()


NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def check(worker, argv):
    rc, out, err = worker.call(argv)
    event(f"exit {rc}")  # --hypothesis-show-statistics: how many drawn calls were valid
    shown = f"wzbounds {' '.join(argv)}\nrc={rc}\nstdout: {out[-1500:]}\nstderr: {err[-3000:]}"
    assert rc in (0, 2), shown
    if rc == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"wzbounds {argv[0]}: error: "), shown
        return
    assert not NON_FINITE.search(out), shown
    if "--json" in argv:
        def refuse(constant):
            raise AssertionError(f"non-finite JSON constant {constant}\n{shown}")

        doc = json.loads(out, parse_constant=refuse)
        if argv[0] == "window":  # exact integer windows, never a rounded float
            assert all(isinstance(w, int) for w in doc["window_tokens"]), shown


# ------------------------------------------------------------------ strategies
# Each option's value is drawn from its plausible range across all magnitudes two times in three,
# and from anything at all (JUNK) otherwise, so that both the valid extremes and the refusals are
# explored.

EDGE = ["0", "-0", "1", "-1", "1e-300", "1e300", "5e-324", "1e-320", "1e999", "-1e999", "nan", "-nan", "inf",
        "-inf", str(10 ** 30), str(-10 ** 30), str(2 ** 63), "0.5", "1.5", "0x10", "1_000", " 2 ", ""]
JUNK = st.one_of(st.sampled_from(EDGE), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(-10 ** 40, 10 ** 40).map(str), st.text(max_size=6))


def mostly(valid):
    return st.one_of(valid, valid, JUNK)


positive_reals = st.one_of(st.floats(min_value=5e-324, max_value=1e300).map(repr),
                           st.integers(1, 10 ** 30).map(str), st.sampled_from(["1e-300", "1e300", "1", "0.5"]))
counts = st.one_of(st.integers(0, 64), st.integers(0, 10 ** 30)).map(str)
PROFILES = ["smollm2-135m-natural", "smollm2-135m-natural-tabulated", "smollm2-135m-code", "smollm2-135m-code-tabulated",
            "paper-qwen2.5-0.5b-natural-tv", "no-such-profile", ""]
SCHEMES = [None, "sliding", "sink", "block", "block-average", "bogus"]


def optional(draw, name, values):
    return [name, draw(values)] if draw(st.booleans()) else []


@st.composite
def window_argv(draw):
    argv = []
    source = draw(st.sampled_from(["default", "power law", "profile"]))
    if source == "power law":
        argv += ["--alpha", draw(mostly(positive_reals)), "--C", draw(mostly(positive_reals))]
        argv += optional(draw, "--c", mostly(positive_reals)) + optional(draw, "--w0", mostly(counts))
        argv += optional(draw, "--divergence", st.sampled_from(["kl_nats", "kl_bits", "tv", "nats"]))
    elif source == "profile":
        argv += ["--profile", draw(st.sampled_from(PROFILES))]
    argv += optional(draw, "--eps", mostly(st.lists(positive_reals, min_size=1, max_size=3).map(",".join)))
    scheme = draw(st.sampled_from(SCHEMES))
    if scheme is not None:
        argv += ["--scheme", scheme] + optional(draw, "--sinks", mostly(counts))
    if draw(st.booleans()):
        argv += ["--layers", draw(mostly(counts)), "--kv-heads", draw(mostly(counts)),
                 "--head-dim", draw(mostly(counts))] + optional(draw, "--dtype-bytes", mostly(counts))
    return ["window", *argv, *draw(st.sampled_from([[], ["--json"]]))]


# simulate: a valid small call, then up to two of its values replaced by bad ones (invalid, or sizes
# so huge the limits refuse them). Valid mid-range sizes (10^4 .. 5*10^7 steps) are legitimately slow
# runs, not hangs, so they are never drawn: junk integers are <= 1 or >= 10^9, junk text <= 4 chars.
SIZE_JUNK = st.one_of(st.sampled_from(EDGE), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.integers(-10 ** 40, 1).map(str), st.integers(10 ** 9, 10 ** 40).map(str),
                      st.text(max_size=4))
SIMULATE = {  # option -> (valid values, bad values)
    "--n": (st.integers(2, 3000).map(str), SIZE_JUNK),
    "--replicates": (st.integers(2, 4).map(str), SIZE_JUNK),
    "--burn-in": (st.integers(0, 3000).map(str), SIZE_JUNK),
    "--beta": (st.floats(1.0, 50.0, exclude_min=True).map(repr), JUNK),
    "--confidence": (st.floats(0.0, 1.0, exclude_min=True, exclude_max=True).map(repr), JUNK),
    "--seed": (st.integers(0, 10 ** 30).map(str), JUNK),
}


@st.composite
def simulate_argv(draw):
    names = ["--n", "--replicates"] + [n for n in ("--burn-in", "--beta", "--confidence", "--seed")
                                       if draw(st.booleans())]
    bad = set(draw(st.lists(st.sampled_from(names + ["--memories"]), max_size=2)))
    argv = [x for n in names for x in (n, draw(SIMULATE[n][n in bad]))]
    memory = st.one_of(st.integers(1, 2000).map(str), SIZE_JUNK) if "--memories" in bad else st.integers(1, 2000).map(str)
    argv += ["--memories", *draw(st.lists(memory, min_size=1, max_size=3))]
    return ["simulate", *argv, *draw(st.sampled_from([[], ["--json"]]))]


# ------------------------------------------------------------------ tests

@given(argv=window_argv())
def test_window_answers_finitely_or_refuses_in_one_line(worker, argv):
    """Any drawn `wzbounds window` call: exit 0 with finite output, or exit 2 with one line."""
    check(worker, argv)


@given(argv=simulate_argv())
def test_simulate_answers_finitely_or_refuses_in_one_line(worker, argv):
    """Any drawn `wzbounds simulate` call: exit 0 with finite output, or exit 2 with one line."""
    check(worker, argv)


def test_harness_detects_failures(worker):
    """The harness itself: a good call passes, a bad one is one line, an unknown option is exit 2."""
    rc, out, _ = worker.call(["window", "--alpha", "0.5", "--C", "2", "--eps", "0.01", "--json"])
    assert rc == 0 and json.loads(out)["window_tokens"] == [40000]
    rc, _, err = worker.call(["window", "--eps", "nan"])
    assert rc == 2 and err.count("\n") == 1
    rc, out, _ = worker.call(["simulate", "--n", "200", "--memories", "4", "--replicates", "2", "--json"])
    assert rc == 0 and len(json.loads(out)["points"]) == 3  # sliding, selective, summary at memory 4
