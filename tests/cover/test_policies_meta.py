"""Every policy under every semantics on torch's ``meta`` device: a CPU-only proof of device hygiene.

A model on ``meta`` has shapes and dtypes but no data, and torch refuses to mix its tensors with
CPU ones ("Tensor on device cpu is not on the expected device meta") — exactly what would crash a
CUDA run if a policy or a semantics built a tensor on the CPU. So :func:`measure_batch` runs here,
on the tiny random model and its Gemma-2 variant (sliding + global layers, per-layer-type masks),
through the same code path as a real run, up to the one step that needs numbers: TV and KL, which
:func:`~wzbounds.empirical.policies.semantics.divergences` computes on the host. The test swaps that
function for a check of the logits' device, dtype and shape.

What cannot run on ``meta``: anything reading values (``.item()``, ``.tolist()``, ``.cpu()``,
data-dependent shapes). Our code avoids them on the measurement path (counts come from the budget,
not from the masks); the step-by-step oracle (Python lists) and kvpress presses that call
``.item()`` in their own code (SnapKV, ExpectedAttention) cannot — the latter is checked to fail
there, and only there.

Two accommodations of code that is not ours (torch's autocast query and transformers' SDPA
mask skip, which read values meta does not have) come from the ``meta_device`` fixture in
``tests/conftest.py``.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from wzbounds.empirical.models import tiny_random_model  # noqa: E402
from wzbounds.empirical.policies import make_policy  # noqa: E402
from wzbounds.empirical.policies import semantics as sem  # noqa: E402
from wzbounds.empirical.policies.measure import measure_batch  # noqa: E402
from wzbounds.empirical.policies.registry import POLICIES  # noqa: E402

pytestmark = [pytest.mark.empirical, pytest.mark.usefixtures("meta_device")]
T = 20
BUDGETS = (1, 5, 12, T)  # 12 > the Gemma-2 variant's sliding window of 8: its masks matter
try:
    import kvpress  # noqa: F401

    KVPRESS = ("kvpress:knorm", "kvpress:keydiff")  # presses whose own code reads no values
except ImportError:
    KVPRESS = ()


@pytest.fixture(scope="module", params=["llama", "gemma2"])
def meta_model(request):
    return tiny_random_model(seed=0, model_type=request.param).model.to("meta")


@pytest.fixture
def checked_logits(monkeypatch):
    """Replace TV and KL by a check that both logits are float32 ``(B, V)`` on ``meta``."""
    seen = []

    def divergences(full_logits, logits):
        for x in (full_logits, logits):
            assert x.device.type == "meta" and x.dtype == torch.float32 and x.shape == (2, 257), (x.device, x.shape)
        seen.append(logits.shape)
        return np.zeros(logits.shape[0]), np.zeros(logits.shape[0])

    monkeypatch.setattr(sem, "divergences", divergences)
    return seen


def _policies():
    return [make_policy(name) for name in sorted(POLICIES)] + [make_policy(spec) for spec in KVPRESS]


@pytest.mark.parametrize("streaming", ["masked", "decode"])
def test_every_policy_every_semantics_runs_on_meta(meta_model, checked_logits, streaming):
    """Truncation, post-prefill and streaming (decode for attention-scored policies; step-invariant
    ones by the masked pass or the decode) for every policy, on meta: no CPU tensor is created."""
    ids = torch.zeros(2, T, dtype=torch.long, device="meta")
    policies = _policies()
    m = measure_batch(meta_model, ids, policies, BUDGETS, seeds=(3, 4), streaming=streaming)
    want = {(s, p.label) for s in sem.SEMANTICS for p in policies}
    assert set(m.kl_nats) | set(m.skipped) == want and m.tv.keys() == m.kl_nats.keys()
    assert set(m.skipped) == {("streaming", p.label) for p in policies if p.name == "kvpress"}
    assert len(checked_logits) == len(m.kl_nats) * len(BUDGETS)


def test_press_reading_values_fails_only_there(meta_model):
    """SnapKV's own code calls ``.item()`` (its observation-window bonus), which meta cannot answer:
    the failure is that call, not a device mismatch of ours."""
    pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")
    ids = torch.zeros(2, T, dtype=torch.long, device="meta")
    policy = make_policy("kvpress:snapkv(window_size=4)")
    pre = sem.prefill(meta_model, ids, policy.needs)
    with pytest.raises(RuntimeError, match=r"item\(\) cannot be called on meta tensors"):
        policy.keep(pre.ctx, 5)


@pytest.mark.parametrize("budget", [1, 5])
def test_keep_sets_live_on_the_model_device(meta_model, budget):
    """Every policy's keep-sets (whole cache and token level) are built on the model's device.
    (Not every op checks devices on meta — a gather with a CPU index passes — so the sets are
    checked directly as well as through the semantics.)"""
    ids = torch.zeros(2, T, dtype=torch.long, device="meta")
    for policy in _policies():
        pre = sem.prefill(meta_model, ids, policy.needs)
        for keep in (policy.keep(pre.ctx, budget), policy.token_keep(pre.ctx, budget)):
            assert keep.device.type == "meta" and keep.dtype == torch.bool, policy.label
