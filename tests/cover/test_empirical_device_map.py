"""`--device-map`: a model spread over devices (accelerate), checked on the CPU with an explicit
per-layer map; every bad map is one line naming the option, exit 2, nothing written."""
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

from wzbounds.cli import main  # noqa: E402
from wzbounds.empirical.models import UserError, load_model, save_tiny_random_model  # noqa: E402
from wzbounds.empirical.truncation import measure_batched, plan_truncation  # noqa: E402

LAYERS = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "cpu", "model.norm": "cpu",
          "model.rotary_emb": "cpu", "lm_head": "cpu"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_random_model(tmp_path_factory.mktemp("m") / "tiny", seed=3)


def _write(tmp_path, doc, name="map.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_mapped_model_measures_what_the_unmapped_one_does(model_dir, tmp_path):
    plain = load_model(str(model_dir), device="cpu")
    mapped = load_model(str(model_dir), device_map=_write(tmp_path, LAYERS))
    assert mapped.device == "cpu" and mapped.provenance.device_map == LAYERS
    ids = np.random.default_rng(0).integers(0, 256, 40)
    plan = plan_truncation(40, [1, 4, 16], sink_tokens=2)
    a, b = measure_batched(plain.model, ids, plan), measure_batched(mapped.model, ids, plan)
    for kind in a.tv:
        np.testing.assert_array_equal(a.tv[kind], b.tv[kind])  # same weights, same device: bit for bit
    assert load_model(str(model_dir), device_map="auto").provenance.device_map == {"": "cpu"}


@pytest.mark.parametrize("doc, message", [
    ({k: v for k, v in LAYERS.items() if k != "model.layers.1"}, "gives no device for 'model.layers.1"),
    ({**LAYERS, "model.layers.7": "cpu"}, "'model.layers.7' is not a module"),
    ({**LAYERS, "lm_head": "cuda:0"}, "CUDA is not available"),
    ({**LAYERS, "lm_head": 2}, "CUDA is not available"),
    ({**LAYERS, "lm_head": "tpu"}, "must be cpu, mps, cuda or cuda:N"),
    ({**LAYERS, "lm_head": True}, "must be a string or a CUDA index"),
    ([], "non-empty object"),
])
def test_bad_map_file_is_refused_before_weights_load(model_dir, tmp_path, doc, message):
    with pytest.raises(UserError, match="--device-map"):
        try:
            load_model(str(model_dir), device_map=_write(tmp_path, doc))
        except UserError as exc:
            assert message in str(exc)
            raise


@pytest.mark.parametrize("extra, message", [
    (["--device-map", "everywhere"], "`--device-map` must be auto or balanced or a JSON file"),
    (["--device-map", "/no/such/map.json"], "(no such file)"),
    (["--device-map", "auto", "--device", "cpu"], "`--device` and `--device-map` exclude each other"),
])
def test_cli_refuses_bad_device_maps_in_one_line(model_dir, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    rc = main(["validate", "--model", str(model_dir), "--prefixes", "2", "--prefix-len", "16", "--out", str(out),
               "--no-progress", *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_refuses_a_map_naming_a_missing_layer(model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    bad = _write(tmp_path, {k: v for k, v in LAYERS.items() if k != "lm_head"})
    rc = main(["validate", "--model", str(model_dir), "--prefixes", "2", "--prefix-len", "16", "--out", str(out),
               "--no-progress", "--device-map", bad])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "gives no device for 'lm_head" in err and len(err.splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_cli_runs_the_mapped_model(model_dir, tmp_path):
    common = ["validate", "--model", str(model_dir), "--prefixes", "3", "--prefix-len", "32", "--windows", "1,2,4,8",
              "--bootstrap", "20", "--no-progress", "--threads", "1"]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--device-map", _write(tmp_path, LAYERS), "--out", str(tmp_path / "mapped")]) == 0
    a, b = (json.loads((tmp_path / n / "result.json").read_text()) for n in ("plain", "mapped"))
    assert a["fits"]["preserve/tv"]["alpha"] == b["fits"]["preserve/tv"]["alpha"]
    assert b["provenance"]["model"]["device_map"] == LAYERS
