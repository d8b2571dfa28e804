"""Smoke test of ``bench/device.py --device cpu``: every part runs (the same code paths as on a
GPU, small), the JSON says which comparisons were between devices, and a failing part is recorded
while the others still run. The GPU figures themselves come from a real device run, not from here."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.empirical
SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "device.py"
# smaller than the script's CPU defaults: the parts' code paths are the same, the test stays fast
SMALL = ["--device", "cpu", "--threads", "1", "--check-tokens", "32", "--lengths", "64", "--repeats", "1",
         "--policy-tokens", "48", "--policy-prefixes", "1", "--policy-budgets", "8,24"]


def _run(tmp_path, *extra):
    proc = subprocess.run([sys.executable, str(SCRIPT), *SMALL, "--out", str(tmp_path), *extra],
                          capture_output=True, text=True, timeout=300)
    doc = json.loads((tmp_path / "device.json").read_text()) if (tmp_path / "device.json").exists() else None
    return proc, doc


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_device", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("device")
    proc, doc = _run(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc, doc


def test_every_part_ran_without_error(smoke):
    out, proc, doc = smoke
    assert doc["errors"] == {} and doc["finished"] and doc["skipped"] == []
    assert {"environment", "correctness", "speed", "policies"} <= set(doc)
    assert (out / "device.log").read_text().strip().endswith("device.json")
    assert "correctness fp32" in proc.stdout  # the summary table is printed last


def test_correctness_covers_validate_and_every_policy(smoke):
    from wzbounds.empirical.policies import make_policy
    from wzbounds.empirical.policies.registry import POLICIES
    from wzbounds.empirical.policies.semantics import SEMANTICS

    c = smoke[2]["correctness"]
    # on the CPU the "device" pair is two CPU copies: the JSON must say so
    assert c["device_vs_device"] == {"fp32": False, "bf16": False}
    assert c["pairs"]["fp32"] == "cpu float32 vs cpu float32"
    cells = {(r["model"], r["protocol"], r["floor_method"]) for r in c["truncation"]}
    assert cells == {(m, p, f) for m in ("llama", "gemma2") for p in ("fixed-end", "fixed-start")
                     for f in ("shift", "decode")}
    labels = {make_policy(p).label for p in POLICIES}
    for row in c["policies"]:
        assert set(row["cells"]) == {f"{s}/{p}" for s in SEMANTICS for p in labels}
    assert {(r["model"], r["streaming"]) for r in c["policies"]} == {
        (m, s) for m in ("llama", "gemma2") for s in ("auto", "decode")}
    s = c["summary"]
    # two copies of one CPU model run the same kernels on the same inputs: bit-identical
    assert s["fp32_max_abs_dtv"] == 0 and s["fp32_max_abs_dkl_nats"] == 0 and s["fp32_within_tolerance"]
    # bf16 rounds differently from fp32 (nonzero), and its own floor is measured (nonzero too)
    assert 0 < s["bf16_max_abs_dtv"] < 1 and 0 < s["bf16_floor_tv_max"] < 1


def test_speed_and_policies_rows(smoke):
    doc = smoke[2]
    (row,) = doc["speed"]["models"]["qwen2-tiny"]["rows"]
    assert row["T"] == 64 and row["plain_tokens_per_s"] > 0 and row["measure_tokens_per_s"] > 0
    # plan runs T + (T - s) + (S + T - s), and with the floor the shift floor's second full run of T
    assert row["measure_nofloor_tokens"] == row["measure_plan_tokens"] == 64 + 32 + 36
    assert row["measure_tokens"] == row["measure_plan_tokens"] + 64
    for tag in ("measure", "measure_nofloor"):
        assert row[f"{tag}_ratio_tokens_per_s"] == pytest.approx(row[f"{tag}_tokens_per_s"] / row["plain_tokens_per_s"])
    assert row["measure_flops"] > row["measure_nofloor_flops"] > row["plain_flops"] > 0
    assert row["plain_mfu_datasheet"] is None  # no datasheet peak for a CPU: said, not invented
    assert doc["environment"]["peak_bf16_dense_flops"] is None
    p = doc["policies"]
    assert set(p["floor_tokens"]) == {"shared_prefill", "truncation", "prefill", "streaming"}
    assert [c["budgets"] for c in p["calls"]] == [[8, 24], [24], [8]]  # streaming: fewest decode steps first
    assert all(v > 0 for v in p["seconds_over_floor_seconds"].values())


def test_flops_count_matches_a_hand_count():
    """run_flops on a one-layer model, counted by hand: projections, MLP, causal attention, head."""
    device = _bench_module()
    dims = dict(hidden=4, layers=1, q_heads=2, kv_heads=1, head_dim=2, intermediate=8, vocab=10)
    # per token: q 4x4, k 4x2, v 4x2, o 4x4, MLP 3 x 4x8 -> 144 multiply-adds; a run of 3 tokens:
    # QK^T and AV over 1 + 2 + 3 keys, 2 heads x 2 dims each -> 2 x 6 x 4 multiply-adds; one logits row: 40
    assert device.run_flops(dims, [3], 1) == 2 * (3 * 144 + 2 * 6 * 4 + 40)
    # a one-token decode over 5 earlier tokens attends to 6 keys
    assert device.run_flops(dims, [], 0, [5]) == 2 * (144 + 2 * 6 * 4)


def test_a_failing_part_is_recorded_and_the_run_goes_on(tmp_path):
    proc, doc = _run(tmp_path, "--parts", "correctness,speed", "--fail", "correctness")
    assert proc.returncode == 1  # errors were recorded
    assert "failure injected" in doc["errors"]["correctness"]["error"] and "correctness" not in doc
    assert doc["speed"]["models"]["qwen2-tiny"]["rows"] and doc["finished"]
    assert "ERROR in correctness" in proc.stdout


@pytest.mark.parametrize("shape, parameters", [("qwen2.5-0.5b", 494_032_768), ("qwen2.5-3b", 3_085_938_688)])
def test_speed_shapes_are_qwen25s(shape, parameters):
    """The GPU run's random-weight models have Qwen2.5's published parameter counts (built on
    ``meta``: shapes without memory), in bf16 with SDPA."""
    import torch

    model = _bench_module().build_model(shape, torch.device("meta"), torch.bfloat16)
    assert sum(p.numel() for p in model.parameters()) == parameters
    assert next(model.parameters()).dtype == torch.bfloat16 and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("args, option", [(["--lengths", "8"], "--lengths"), (["--parts", "nope"], "--parts"),
                                          (["--policy-budgets", "99"], "--policy-budgets")])
def test_bad_input_is_one_line_exit_2(tmp_path, args, option):
    proc, _ = _run(tmp_path, *args)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and option in proc.stderr, proc.stderr
