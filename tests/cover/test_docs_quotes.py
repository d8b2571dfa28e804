"""Measured numbers quoted in the docs and the README equal the artifacts of the runs kept in docs/runs.

On the site a quote is the ``{run}`NUMBER <RUN:PATH>``` role (the build fails on a wrong one, and so
does this test, without Sphinx). The README is plain Markdown, so its quotes are listed here with the
artifact field each one reads, and every other decimal number in its prose must be accounted for.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _runquote():
    spec = importlib.util.spec_from_file_location("runquote", DOCS / "_ext" / "runquote.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rq = _runquote()
ROLE = re.compile(r"\{run\}`([^`]+)`")
PAGES = [p for p in sorted(DOCS.rglob("*.md")) if not {"_build", "runs"} & set(p.relative_to(DOCS).parts)]
QUOTES = [(p, m.group(1)) for p in PAGES for m in ROLE.finditer(p.read_text())]


@pytest.mark.parametrize("page, spec", QUOTES, ids=[f"{p.relative_to(DOCS)}:{s.split()[0]}" for p, s in QUOTES])
def test_site_quote_equals_kept_artifact(page, spec):
    rq.check(spec)  # raises, saying which artifact field differs


def test_site_quotes_cover_every_kept_run():
    """Each run kept in docs/runs is quoted, and each validate run (a result.json: what the kept-run
    directive renders) is shown by the results page's kept-run directive."""
    runs = {p.name for p in (DOCS / "runs").iterdir() if p.is_dir()}
    quoted = {rq.run_dir(rq.QUOTE.match(s)["run"]).name for _, s in QUOTES}
    assert runs <= quoted, runs - quoted
    shown = set(re.findall(r"```\{kept-run\} (\S+)", (DOCS / "results" / "truncation.md").read_text()))
    assert {rq.run_dir(r).name for r in shown} == {r for r in runs if (DOCS / "runs" / r / "result.json").is_file()}


@pytest.mark.parametrize("spec, why", [
    ("0.3980 <natural-4096:fits.preserve/tv.alpha>", "digits the artifact does not have"),
    ("0.399 <natural-4096:fits.preserve/tv.alpha>", "a wrong value"),
    ("0.398 <natural-4096:fits.preserve/tv.beta>", "a missing field"),
    ("0.398 <no-such-run:fits.preserve/tv.alpha>", "a run that is not kept"),
])
def test_a_wrong_quote_is_refused(spec, why):
    with pytest.raises((ValueError, KeyError)):
        rq.check(spec)


#: README phrase -> the artifact fields of the numbers in it, in order
README_QUOTES = {
    "0.60 ε and 0.87 ε": ["smollm2-135m-budget-inaugural/calibration.json:rows.10.reached_over_eps",
                          "smollm2-135m-budget-natural-seed1/calibration.json:rows.4.reached_over_eps"],
    "reached 0.28 and 0.69 nats": ["smollm2-135m-budget-inaugural/calibration.json:rows.16.reached_mean_kl_nats",
                                   "smollm2-135m-budget-natural-seed1/calibration.json:rows.16.reached_mean_kl_nats"],
}
#: other decimal numbers the README's prose may hold, and why they are not kept-run quotes
README_OTHER_NUMBERS = {
    "0.44": "the paper's exponent, as the paper reports it", "0.38": "the paper's exponent",
    "2605.25085": "the paper's arXiv id", "2.13.0": "the tested torch version", "1.24": "a version bound",
    "1.11": "a version bound", "1.12": "a version bound", "1.3": "a version bound", "5.2": "a version bound",
    "5.17": "a checked version", "5.23": "a checked version", "5.25": "a checked version",
    "5.3": "a version bound", "2.2": "a version bound",
    "0.5": "a version (kvpress 0.5.x)",
    "3.10": "the Python version",
}


#: the README's results table: row label -> kept run; column header -> the artifact fields of the
#: numbers in its cells, in order (a str: the cell is that field's text)
README_TABLE_RUNS = {
    "SmolLM2-135M, Python docs, T = 4096": "smollm2-135m-natural-4096",
    "SmolLM2-135M, Python docs, T = 8192": "smollm2-135m-natural-8192",
    "SmolLM2-135M, stdlib code, T = 4096": "smollm2-135m-code-4096",
    "Gemma 3 270M, King James Bible, T = 4096": "gemma3-270m-natural-4096",
    "Gemma 3 270M, King James Bible, T = 16,500": "gemma3-270m-natural-16k",
    "Gemma 3 270M, stdlib code, T = 16,500": "gemma3-270m-code-16k",
}
README_TABLE_COLUMNS = {
    "α_TV [95% CI]": ["fits.preserve/tv.alpha", "fits.preserve/tv.alpha_ci.0", "fits.preserve/tv.alpha_ci.1"],
    "log-RMSE power / exponential": ["verdict.log_rmse_power", "verdict.log_rmse_exponential"],
    "exponential ÷ power: in sample; extrapolated": ["verdict.in_sample_ratio", "verdict.extrapolation_ratio"],
    "verdict": "verdict.label",
    "α_KL/α_TV (sinks)": ["exponent_ratio.sink_kl/sink_tv.ratio"],
    "perplexity": ["sanity.perplexity"],
    "whole words split": ["sanity.tokenizer.n_words_split_although_whole", "sanity.tokenizer.n_words_whole_in_vocab"],
}


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _results_table():
    """The README's results table lines (header, rule, rows)."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| run |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def test_readme_results_table_equals_kept_runs():
    header, rule, *rows = _results_table()
    assert _cells(header) == ["run", *README_TABLE_COLUMNS], "update README_TABLE_COLUMNS"
    assert set(_cells(rule)) == {"---"} and rows
    for row in rows:
        label, *cells = _cells(row)
        run = README_TABLE_RUNS[label]
        for cell, fields in zip(cells, README_TABLE_COLUMNS.values(), strict=True):
            if isinstance(fields, str):
                assert cell == rq.lookup(rq.load_artifact(run), fields), (label, fields)
                continue
            numbers = re.findall(r"\d+(?:\.\d+)?", cell)
            assert len(numbers) == len(fields), (label, cell)
            for number, field in zip(numbers, fields, strict=True):
                rq.check(f"{number} <{run}:{field}>")


def _readme_prose():
    text = (ROOT / "README.md").read_text()
    text = text.replace("\n".join(_results_table()), "")  # checked cell by cell above
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # examples: checked by test_docs_examples
    return re.sub(r"\]\([^)]*\)", "]", text)  # link targets


@pytest.mark.parametrize("phrase", README_QUOTES)
def test_readme_quote_equals_kept_artifact(phrase):
    prose = _readme_prose()
    assert phrase in prose, f"the README no longer says {phrase!r}: update README_QUOTES"
    numbers = re.findall(r"\d+\.\d+", phrase)
    assert len(numbers) == len(README_QUOTES[phrase])
    for number, field in zip(numbers, README_QUOTES[phrase]):
        rq.check(f"{number} <{field}>")


def test_every_readme_number_is_accounted_for():
    quoted = {n for phrase in README_QUOTES for n in re.findall(r"\d+\.\d+", phrase)}
    loose = set(re.findall(r"(?<![\w.])\d+\.\d+(?:\.\d+)?", _readme_prose())) - quoted - set(README_OTHER_NUMBERS)
    assert not loose, f"README numbers with no kept run or executed example: {sorted(loose)}"
