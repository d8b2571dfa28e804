"""validate's batched measurement on torch's ``meta`` device: a CPU-only proof of device hygiene.

The companion of ``test_policies_meta.py`` for :func:`measure_batched`: on ``meta`` torch refuses
to mix in a CPU tensor, which is what would break a CUDA run if the measurement built an index,
a position or a cache on the CPU. Every forward runs (stacked runs, the full run, both floor
methods: the shifted full run and the one-token decodes over the full run's cache); the one step
that needs values, :func:`~wzbounds.empirical.truncation._finish` (the divergences and the
perplexity on the host), is swapped for a check of the logits it receives.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical import truncation as tr  # noqa: E402
from wzbounds.empirical.models import tiny_random_model  # noqa: E402

pytestmark = [pytest.mark.empirical, pytest.mark.usefixtures("meta_device")]  # see tests/conftest.py
T = 24
V = 257  # the tiny models' vocabulary


@pytest.fixture
def finished(monkeypatch):
    """Replace the host step by a check that every tensor it gets lives on ``meta`` with the plan's shapes."""
    seen = []

    def _finish(plan, ref_logits, read_logits, ppl_logits, targets, forward_tokens, calls, t0, floor_logits=None,
                floor=None):
        n, k = len(plan.readouts), plan.perplexity_tokens
        m = len({ro.reference for ro in plan.readouts})
        want = [(ref_logits, (n, V)), (read_logits, (n, V)), (ppl_logits, (k, V)), (targets, (k,))]
        want += [(x, (m, V)) for x in floor_logits or ()]
        for x, shape in want:
            assert x.device.type == "meta" and tuple(x.shape) == shape, (x.device, tuple(x.shape), shape)
        seen.append((floor, floor_logits is not None))
        return None

    monkeypatch.setattr(tr, "_finish", _finish)
    return seen


@pytest.mark.parametrize("model_type", ["llama", "gemma2"])
@pytest.mark.parametrize("protocol", ["fixed-end", "fixed-start"])
@pytest.mark.parametrize("floor", ["shift", "decode", None])
def test_measure_batched_runs_on_meta(model_type, protocol, floor, finished):
    model = tiny_random_model(seed=0, model_type=model_type).model.to("meta")  # llama: SDPA; gemma2: eager
    plan = tr.plan_truncation(T, [1, 3, 10], sink_tokens=2, perplexity_tokens=5, protocol=protocol)
    tr.measure_batched(model, np.zeros(T, dtype=np.int64), plan, floor=floor)  # validate passes numpy ids
    assert finished == [(floor, floor is not None)]

