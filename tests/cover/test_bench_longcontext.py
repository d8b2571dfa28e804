"""Smoke test of ``bench/longcontext.py --model DIR`` on tiny random models: the script runs, its
token counts are the plan's (computed here independently), its ratios are the ratios of its own
raw columns, a model with sliding-window layers is measured in bands against stock SDPA, and bad
options are one line naming the option. The speeds themselves come from the kept JSON in
``bench/``, not from here."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical.models import save_tiny_random_model

pytestmark = pytest.mark.empirical
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "longcontext.py"
LENGTHS = (16, 64)  # given out of order below: the script must sort them
SINKS = 4


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module", params=["llama", "gemma3"])
def bench(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    model = save_tiny_random_model(root / "model", seed=0, model_type=request.param)
    proc = _run("--model", str(model), "--lengths", ",".join(map(str, LENGTHS[::-1])), "--windows", "4",
                "--sinks", str(SINKS), "--repeats", "1", "--threads", "1", "--json", str(root / "out.json"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return request.param, json.loads((root / "out.json").read_text())


def test_rows_follow_the_plan_in_increasing_length(bench):
    _, doc = bench
    rows = doc["results"]
    assert [r["T"] for r in rows] == sorted(LENGTHS)
    for r in rows:
        T, s = r["T"], r["T"] // 2
        plan = T + (T - s) + (SINKS + T - s)  # full run, suffix run, sinks ++ suffix run (fixed-start)
        assert r["measure_plan_tokens"] == plan
        assert r["floor_method"] == "shift" and r["measure_tokens"] == plan + T  # the floor's second pass
    peaks = [r["peak_rss_gb"] for r in rows]
    assert peaks == sorted(peaks) and peaks[0] > 0  # a high-water mark never falls


def test_ratios_are_ratios_of_the_raw_columns(bench):
    for r in bench[1]["results"]:
        T = r["T"]
        # float64 quotients of the same numbers, in another order: a few ulps apart at most
        close = {"rel": 1e-12}
        assert r["plain_tokens_per_s"] == pytest.approx(T / r["plain_wall_s"], **close)
        assert r["processed_rate_over_plain"] == pytest.approx(
            r["measure_tokens"] / r["measure_wall_s"] * r["plain_wall_s"] / T, **close)
        assert r["useful_cpu_rate_over_plain"] == pytest.approx(
            r["measure_plan_tokens"] / r["measure_cpu_s"] * r["plain_cpu_s"] / T, **close)
        assert r["useful_cpu_rate_over_plain_same_attn"] == pytest.approx(
            r["measure_plan_tokens"] / r["measure_cpu_s"] * r["plain_same_attn_cpu_s"] / T, **close)


def test_floor_is_float32_rounding(bench):
    for r in bench[1]["results"]:
        # two float32 computations of one law on a tiny model differ by rounding only (~1e-7 in TV);
        # 1e-4 is far below any truncation effect and far above that rounding
        assert 0 <= r["floor_tv_mean"] <= r["floor_tv_max"] < 1e-4
        assert 0 <= r["floor_kl_nats_mean"] <= r["floor_kl_nats_max"] < 1e-6


def test_sliding_window_model_is_banded_against_stock_sdpa(bench):
    model_type, doc = bench
    assert doc["plain_attn_implementation"] == "sdpa"
    if model_type == "gemma3":
        assert doc["attn_implementation"] == "wzbounds_banded_sdpa" and "sliding" in doc["attn_reason"]
    else:  # nothing to band: the same-attention plain forward is the stock one, timed once
        assert doc["attn_implementation"] == "sdpa"
        assert all(r["plain_same_attn_cpu_s"] == r["plain_cpu_s"] for r in doc["results"])


@pytest.mark.parametrize("args, option", [
    (["--lengths", "abc"], "--lengths"),
    (["--lengths", "4"], "--lengths"),
    (["--lengths", ","], "--lengths"),
    (["--repeats", "0"], "--repeats"),
    (["--threads", "0"], "--threads"),
    (["--windows", "0"], "--windows"),
    (["--sinks", "-1"], "--sinks"),
    (["--lengths", "16", "--sinks", "8"], "--sinks"),
    (["--json", "/nonexistent-dir/x.json"], "--json"),
    (["--gguf", "a.gguf", "--model", "m"], "--model"),
])
def test_bad_option_is_one_line_naming_it(args, option):
    proc = _run(*args, timeout=60)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("longcontext.py: error:") and option in last and "Traceback" not in proc.stderr
