"""Numbers quoted in the docs, tied to the runs kept in ``docs/runs/``.

A quote names a kept run, a path into one of its JSON artifacts, and the number as written, e.g.
``0.398 <smollm2-135m-natural-4096:fits.preserve/tv.alpha>``. The number is right when the artifact
value, rounded to the digits written, prints as the quote. Used by the ``{run}`` role of the docs
build (a wrong quote fails ``sphinx-build -W``) and by ``tests/cover/test_docs_quotes.py``.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

RUNS = Path(__file__).resolve().parents[1] / "runs"

#: ``NUMBER <RUN[/FILE]:PATH>``; FILE defaults to result.json.
QUOTE = re.compile(r"^\s*(?P<text>\S+)\s+<(?P<run>[\w.-]+)(?:/(?P<file>[\w.-]+\.json))?:(?P<path>[^>]+)>\s*$")


#: a run named without its model prefix (``natural-4096``) is SmolLM2-135M's
DEFAULT_MODEL_PREFIX = "smollm2-135m-"


#: ``bench`` names the benchmark results kept beside their scripts (``bench/*.json``)
BENCH = RUNS.parents[1] / "bench"


def run_dir(run: str) -> Path:
    if run == "bench":
        return BENCH
    return RUNS / run if (RUNS / run).is_dir() else RUNS / (DEFAULT_MODEL_PREFIX + run)


@lru_cache(maxsize=None)
def load_artifact(run: str, file: str = "result.json"):
    path = run_dir(run) / file
    if not path.is_file():
        raise ValueError(f"no kept artifact {path}")
    return json.loads(path.read_text())


def lookup(doc, path: str):
    """Follow a dotted path; a key may itself contain dots or slashes (``kl_mu=0.01``,
    ``preserve/tv``): the shortest run of segments that is a key wins; integers index lists."""
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if isinstance(doc, list):
            doc, i = doc[int(parts[i])], i + 1
            continue
        for j in range(i + 1, len(parts) + 1):
            key = ".".join(parts[i:j])
            if isinstance(doc, dict) and key in doc:
                doc, i = doc[key], j
                break
        else:
            raise ValueError(f"no key {'.'.join(parts[i:])!r} at {'.'.join(parts[:i]) or 'top level'}")
    return doc


def formatted_like(value, text: str) -> str:
    """``value`` printed with the precision of ``text`` (decimals, or significant digits in
    scientific notation; an integer text asks for an exact integer)."""
    text = text.replace("\u2212", "-")
    m = re.fullmatch(r"-?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?", text)
    if m is None:
        raise ValueError(f"quoted value {text!r} is not a number")
    decimals = len(m.group(2) or "")
    if m.group(3) is not None:
        return f"{float(value):.{decimals}e}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")
    if decimals == 0 and float(value) != int(round(float(value))):
        return f"{float(value):.0f}"
    return f"{float(value):.{decimals}f}"


def check(spec: str):
    """``(text, value, run, file, path)`` for a quote; ValueError saying why when it is wrong."""
    m = QUOTE.match(spec)
    if m is None:
        raise ValueError(f"run quote {spec!r} is not 'NUMBER <RUN[/FILE.json]:PATH>'")
    text, run, file, path = m["text"], m["run"], m["file"] or "result.json", m["path"].strip()
    value = lookup(load_artifact(run, file), path)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{run}/{file}:{path} is {value!r}, not a number")
    expected = formatted_like(value, text)
    if expected != text.replace("\u2212", "-"):
        raise ValueError(f"quoted {text} but {run}/{file}:{path} = {value!r} (prints {expected})")
    return text, value, run, file, path
