"""TargetDistortionPress on a tiny random model: it keeps the profile's budget for each input, equals
the post-prefill eviction that ``wzbounds policies`` measured, runs inside kvpress's own pipeline,
and refuses what it cannot answer."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
kvpress = pytest.importorskip("kvpress", reason="optional extra not installed: pip install 'wzbounds[kvpress]'")

from transformers import DynamicCache, pipeline  # noqa: E402

from wzbounds.budget import kvpress_compression_ratio  # noqa: E402
from wzbounds.empirical import TargetDistortionPress, compat  # noqa: E402
from wzbounds.empirical.models import load_model, save_tiny_random_model, tiny_random_model  # noqa: E402
from wzbounds.empirical.policies import KVPressPolicy  # noqa: E402
from wzbounds.empirical.policies import semantics as sem  # noqa: E402
from wzbounds.empirical.policies.profiles import weights_sha256  # noqa: E402
from wzbounds.profiles import PolicyProfile, Tabulated  # noqa: E402

pytestmark = [pytest.mark.empirical, pytest.mark.kvpress]
WINDOW = 4  # SnapKV's observation window, small enough for 40-80-token contexts


@pytest.fixture(scope="module")
def lm():
    torch.set_num_threads(1)
    return tiny_random_model(seed=0)


def make_profile(model, **change):
    fields = dict(
        policy=f"kvpress:snapkv(window_size={WINDOW})", semantics="prefill", context_tokens=(40, 80),
        budgets_tokens=((4, 8, 16, 32, 39), (4, 8, 16, 32, 64, 79)),
        values=((2.0, 1.0, 0.5, 0.2, 0.1), (3.0, 1.5, 0.8, 0.3, 0.1, 0.05)),
        provenance={"source": "wzbounds policies", "press_class": "SnapKVPress",
                    "press_options": {"window_size": WINDOW}, "weights_sha256": weights_sha256(model),
                    "trusted": True})
    fields.update(change)
    return PolicyProfile(**fields)


@pytest.fixture(scope="module")
def profile(lm):
    return make_profile(lm.model)


def test_keeps_the_budget_and_equals_the_measured_eviction(lm, profile):
    """kvpress's prefill hook with the wrapped press, then the query step, gives the logits of the
    post-prefill eviction ``wzbounds policies`` measured at the same budget (float32 rounding)."""
    T = 60
    ids = torch.randint(0, 256, (1, T), generator=torch.Generator().manual_seed(3))
    press = TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, profile)
    cache = DynamicCache()
    with torch.no_grad():
        with press(lm.model):
            lm.model.model(input_ids=ids[:, :T - 1], **compat.cache_kwarg(cache))
        got = lm.model(input_ids=ids[:, T - 1:], **compat.cache_kwarg(cache),
                       position_ids=torch.tensor([[T - 1]])).logits[0, -1]
    k = press.last_budget.budget_tokens
    assert press.last_budget.context_tokens == T and press.last_budget.context_status == "interpolated"
    assert cache.get_seq_length() == k  # the k - 1 kept entries and the query's own
    policy = KVPressPolicy("snapkv", (("window_size", WINDOW),))
    pre = sem.prefill(lm.model, ids, policy.needs)
    want = sem.prefill_eviction_logits(lm.model, pre, policy.keep(pre.ctx, k), k)[0]
    # float32 logits of the same computation in another order: 1e-4 absolute is ~1000 ulp at |logit| ~ 1
    torch.testing.assert_close(got.float(), want.float(), atol=1e-4, rtol=1e-4)


def test_runs_inside_the_kvpress_pipeline(tmp_path, profile):
    loaded = load_model(str(save_tiny_random_model(tmp_path / "m", seed=0)), dtype="float32", device="cpu")
    pipe = pipeline("kv-press-text-generation", model=loaded.model, tokenizer=loaded.tokenizer, device="cpu")
    context = "The budget follows the length of each input. " * 2  # 92 bytes: outside the profile's 40-80
    for text in (context[:45], context[:70]):
        press = TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, profile)
        cache = DynamicCache()
        answer = pipe(text, question="", press=press, cache=cache, max_new_tokens=2)["answer"]
        n = press.last_budget.context_tokens - 1
        assert n == len(loaded.tokenizer.encode(loaded.tokenizer.bos_token + text, add_special_tokens=False))
        assert cache.get_seq_length() == press.last_budget.cache_tokens
        plain = kvpress.SnapKVPress(window_size=WINDOW, compression_ratio=float(press.last_budget.compression_ratio))
        assert pipe(text, question="", press=plain, max_new_tokens=2)["answer"] == answer
    with pytest.raises(ValueError, match="`context_tokens`"):
        pipe(context, question="", press=TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, profile))


@pytest.mark.parametrize("press, why", [
    (lambda: kvpress.ThinKPress(), "`press` must be a kvpress scorer press"),
    (lambda: kvpress.PyramidKVPress(), "own rule"),
    (lambda: kvpress.KnormPress(), "`profile` measured"),
    (lambda: kvpress.SnapKVPress(), "options differ"),
])
def test_refuses_presses_it_cannot_size(press, why, profile):
    with pytest.raises(ValueError, match=why):
        TargetDistortionPress(press(), 0.4, profile)


@pytest.mark.parametrize("change, why", [
    (dict(semantics="truncation"), "prefill"),
    (dict(divergence="tv"), "kl_nats"),
    (dict(provenance={"press_class": "SnapKVPress", "press_options": {"window_size": WINDOW}, "trusted": False,
                      "untrusted_reasons": ["tokenizer splits words"]}), "untrusted"),
])
def test_refuses_profiles_it_cannot_use(lm, change, why):
    with pytest.raises(ValueError, match=f"`profile`.*{why}|{why}.*`profile`|`profile`"):
        TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, make_profile(lm.model, **change))


def test_refuses_a_truncation_profile_and_another_model(lm, profile):
    with pytest.raises(ValueError, match="`profile` must be a policy profile"):
        TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, Tabulated([1, 8], [1.0, 0.1]))
    other = tiny_random_model(seed=1).model
    press = TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), 0.4, profile)
    with pytest.raises(ValueError, match="`profile` was measured on other weights"):
        with press(other):
            pass
    with pytest.raises(ValueError, match="`eps`"):
        TargetDistortionPress(kvpress.SnapKVPress(window_size=WINDOW), -1.0, profile)


def test_kvpress_ratio_matches_kvpress_itself():
    from kvpress import utils

    for n in (7, 100, 1023, 2047, 4095):
        for m in range(1, n, max(1, n // 97)):
            assert utils.compute_n_kept(n, kvpress_compression_ratio(n, m)) == m
    # the naive ratio keeps one fewer here: why the ulp search exists
    assert utils.compute_n_kept(2047, 1 - 2 / 2047) == 1
    assert math.isclose(kvpress_compression_ratio(2047, 2), 1 - 2 / 2047, rel_tol=1e-15)
