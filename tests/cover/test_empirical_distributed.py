"""torchrun scale-out on CPU: 2 processes (gloo) split the prefixes, rank 0 writes the result,
which equals the single-process result on the same rows."""
import json
import os
import shutil
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


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="accelerate's multi-CPU launch runs mpirun (Debian: openmpi-bin)")
def test_accelerate_launch_two_processes_gloo(tmp_path):
    """`accelerate launch --cpu --num_processes 2` (mpirun underneath: Open MPI's rank variables, not
    torchrun's) splits the prefixes like torchrun: the same rows as one process, one result."""
    pytest.importorskip("accelerate")
    model = save_tiny_random_model(tmp_path / "model")
    common = ["--model", str(model), "--domain", "natural", "--prefixes", "4", "--prefix-len", "32",
              "--windows", "1,2,4,8,16", "--positions", "preserve", "--sinks", "2", "--bootstrap", "30",
              "--threads", "1", "--no-progress"]
    (tmp_path / "hostfile").write_text("localhost slots=2\n")
    # Open MPI refuses root unless told; CI containers run as root
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
         "--mpirun_hostfile", str(tmp_path / "hostfile"), "--main_process_port", str(_free_port()),
         "--mixed_precision", "no", "--dynamo_backend", "no",
         "-m", "wzbounds.cli", "validate", *common, "--out", str(tmp_path / "acc")],
        env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = sorted(p.name for p in (tmp_path / "acc" / "rows").iterdir())
    assert parts == ["part-rank0of2.jsonl", "part-rank1of2.jsonl"]
    assert main(["validate", *common, "--out", str(tmp_path / "single")]) == 0
    rows = {}
    for name in ("acc", "single"):
        for part in (tmp_path / name / "rows").iterdir():
            for line in part.read_text().splitlines():
                row = json.loads(line)
                rows.setdefault(name, {})[row["key"]] = row["tv"]["preserve"]
    assert sorted(rows["acc"]) == sorted(rows["single"]) == [0, 1, 2, 3]
    for key, tv in rows["single"].items():  # separate processes: float noise only (~1e-7)
        assert tv == pytest.approx(rows["acc"][key], abs=1e-5)
    acc = json.loads((tmp_path / "acc" / "result.json").read_text())
    single = json.loads((tmp_path / "single" / "result.json").read_text())
    assert acc["provenance"]["n_prefixes_measured"] == 4
    assert acc["fits"]["preserve/tv"]["alpha"] == pytest.approx(single["fits"]["preserve/tv"]["alpha"], abs=1e-5)


def test_launcher_ranks_read_every_family():
    from wzbounds.empirical.distributed import launcher_ranks

    assert launcher_ranks({}) is None and launcher_ranks({"WORLD_SIZE": "1", "RANK": "0"}) is None
    assert launcher_ranks({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"}) == (4, 2, 0)
    assert launcher_ranks({"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1",
                           "OMPI_COMM_WORLD_LOCAL_RANK": "1"}) == (2, 1, 1)
    assert launcher_ranks({"PMI_SIZE": "3", "PMI_RANK": "2"}) == (3, 2, 2)
