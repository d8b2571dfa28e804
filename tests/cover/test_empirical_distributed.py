"""torchrun scale-out on CPU: 2 processes (gloo) split the prefixes, rank 0 writes the result,
which equals the single-process result on the same rows."""
import json
import os
import socket
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import save_tiny_random_model  # noqa: E402


def test_torchrun_two_ranks_gloo(tmp_path):
    model = save_tiny_random_model(tmp_path / "model")
    common = ["--model", str(model), "--domain", "natural", "--prefixes", "4", "--prefix-len", "32",
              "--windows", "1,2,4,8,16", "--positions", "preserve", "--sinks", "2", "--bootstrap", "30",
              "--threads", "1", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    with socket.socket() as s:  # a port free now (a fixed one collides with concurrent runs)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
         "-m", "wzbounds.cli", "validate", *common, "--out", str(tmp_path / "dist")],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = sorted(p.name for p in (tmp_path / "dist" / "rows").iterdir())
    assert parts == ["part-rank0of2.jsonl", "part-rank1of2.jsonl"]
    dist = json.loads((tmp_path / "dist" / "result.json").read_text())
    assert dist["provenance"]["n_prefixes_measured"] == 4
    assert main(["validate", *common, "--out", str(tmp_path / "single")]) == 0
    single = json.loads((tmp_path / "single" / "result.json").read_text())
    # same prefixes and seed; rows differ only by float noise of separate processes (~1e-7)
    assert dist["fits"]["preserve/tv"]["alpha"] == pytest.approx(single["fits"]["preserve/tv"]["alpha"], abs=1e-5)
