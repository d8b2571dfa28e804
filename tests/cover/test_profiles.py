"""Profiles: validation, envelopes, JSON round trip, built-ins, tabulated rules."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wzbounds import Exponential, LogPowerLaw, PowerLaw, Profile, Tabulated, load_profile, save_profile, window_for_epsilon
from wzbounds.profiles import (DEFAULT_POWER_LAW_PROFILE, DEFAULT_PROFILE, Envelope, builtin_profiles,
                               default_power_law_profile, default_profile, profile_from_dict,
                               profile_to_dict)
from wzbounds.testing import exponential_profiles, power_law_profiles, tabulated_profiles


@given(st.one_of(power_law_profiles(cis=True), power_law_profiles(), exponential_profiles(),
                 tabulated_profiles()))
def test_json_round_trip(profile):
    """save -> load gives an equal profile with identical envelopes (JSON keeps float64 exactly)."""
    back = profile_from_dict(json.loads(json.dumps(profile_to_dict(profile))))
    assert back.to_dict() == profile.to_dict()
    w = np.array([profile.w0, profile.w0 + 7, 10 * profile.w0 + 3])
    assert np.array_equal(back.upper(w), profile.upper(w))


def test_save_and_load_file(tmp_path):
    p = PowerLaw(0.5, 2.0, c=1.0, w0=3, divergence="kl_bits", alpha_ci=(0.4, 0.6),
                 provenance={"source": "test"})
    path = save_profile(p, tmp_path / "p.json")
    assert json.loads(path.read_text())["schema_version"] == 1
    assert load_profile(path) == p


def test_builtin_default_profile_is_measured_and_documented():
    """The default profile is the measured upper-confidence curve of a `wzbounds validate` run, and
    the default power law is that same run's fit (same model file, corpus and prefixes), with its CI."""
    assert DEFAULT_PROFILE in builtin_profiles() and DEFAULT_POWER_LAW_PROFILE in builtin_profiles()
    p, law = default_profile(), default_power_law_profile()
    assert isinstance(p, Tabulated) and p.divergence == "tv" and p.provenance["constant"] == "upper-ci-curve"
    assert isinstance(law, PowerLaw) and law.divergence == "tv" and law.alpha_ci[0] < law.alpha < law.alpha_ci[1]
    for key in ("source", "file_sha256", "corpus_sha256", "n_prefixes", "prefix_tokens", "windows_tokens"):
        assert p.provenance[key] == law.provenance[key], key
    assert p.provenance["source"] == "wzbounds validate" and p.provenance["n_prefixes"] > 0
    assert p.windows == tuple(int(w) for w in law.provenance["windows_tokens"])
    assert profile_to_dict(load_profile(DEFAULT_PROFILE)) == profile_to_dict(p)


RUNS = Path(__file__).resolve().parents[2] / "docs" / "runs"


@pytest.mark.parametrize("name, run, artifact", [
    ("smollm2-135m-natural", "smollm2-135m-natural-4096", "profile.json"),
    ("smollm2-135m-natural-tabulated", "smollm2-135m-natural-4096", "profile_tabulated.json"),
    ("smollm2-135m-code", "smollm2-135m-code-4096", "profile.json"),
    ("smollm2-135m-code-tabulated", "smollm2-135m-code-4096", "profile_tabulated.json"),
    ("gemma3-270m-natural-16k", "gemma3-270m-natural-16k", "profile.json"),
    ("gemma3-270m-natural-16k-tabulated", "gemma3-270m-natural-16k", "profile_tabulated.json"),
    ("gemma3-270m-code-16k", "gemma3-270m-code-16k", "profile.json"),
    ("gemma3-270m-code-16k-tabulated", "gemma3-270m-code-16k", "profile_tabulated.json"),
])
def test_builtin_profile_is_the_kept_run_artifact(name, run, artifact):
    """A built-in measured profile is its run's artifact, byte for byte in every number, with only
    the model and corpus described in words; the run's result.json holds the same fit."""
    kept = json.loads((RUNS / run / artifact).read_text())
    shipped = json.loads(json.dumps(profile_to_dict(load_profile(name))))
    described = ("model_id", "corpus")
    for d in (kept, shipped):
        d["provenance"] = {k: v for k, v in d["provenance"].items() if k not in described}
    assert shipped == kept
    result = json.loads((RUNS / run / "result.json").read_text())
    fit = result["fits"][kept["provenance"]["metric"]]
    assert fit["alpha"] == kept.get("alpha", kept.get("tail_alpha"))
    assert result["verdict"]["label"] == kept["provenance"]["verdict"]


def test_paper_profile_is_labelled_illustrative():
    p = load_profile("paper-qwen2.5-0.5b-natural-tv")
    assert p.alpha == 0.44 and p.C == 1.0 and "illustrative" in p.provenance["status"]


_PL = {"schema_version": 1, "kind": "power_law", "divergence": "tv", "alpha": 1, "C": 1}


@pytest.mark.parametrize("d, name", [
    ({**_PL, "schema_version": 2}, "schema_version"), ({**_PL, "kind": "spline"}, "kind"),
    ({**_PL, "kind": ["power_law"]}, "kind"), ({**_PL, "beta": 3}, "unknown keys"), ({**_PL, "alpha": -1}, "alpha"),
    ({k: v for k, v in _PL.items() if k != "divergence"}, "`divergence` is missing"),
    ({k: v for k, v in _PL.items() if k != "alpha"}, "`alpha` is missing"),
    ({**_PL, "achievability_theorem": "x"}, "unknown keys"), ({**_PL, "alpha": "fast"}, "alpha"),
    ({**_PL, "provenance": "measured"}, "provenance"),
    ({**_PL, "provenance": {"windows_tokens": "1-256"}}, "provenance.windows_tokens"),
    ({**_PL, "provenance": {"trusted": "no"}}, "provenance.trusted"),
    ({**_PL, "provenance": {"untrusted_reasons": [3]}}, "provenance.untrusted_reasons"),
])
def test_bad_json_raises(d, name):
    """A dict that is not a complete, well-typed profile is refused naming the field (a TV
    profile without "divergence" is never read as KL)."""
    with pytest.raises(ValueError, match=name):
        profile_from_dict(d)


def test_allowed_keys_exclude_class_attributes():
    """The unknown-key message lists only constructor fields, so every listed key is accepted."""
    with pytest.raises(ValueError) as err:
        profile_from_dict({**_PL, "beta": 3})
    assert "achievability_theorem" not in str(err.value) and "lower_prefix" not in str(err.value)


@pytest.mark.parametrize("content, needle", [
    (b'{"schema_version": 1, "kind": "power_law", "alpha"', "not valid JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not UTF-8"),
    (b'{"schema_version": 1, "kind": "power_law", "divergence": "tv", "alpha": 1, "C": 1, "provenance": 5}',
     "`provenance`"),
    (b'{"schema_version": 1, "kind": "power_law", "alpha": 1, "C": 1}', "`divergence` is missing"),
])
def test_bad_profile_files_name_the_file_and_field(tmp_path, content, needle):
    """Truncated, binary or mistyped profile files: one ValueError line naming file and field."""
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_provenance_trust_flag_is_kept(tmp_path):
    """A profile marked untrusted by its measurement keeps the flag and its reasons; profiles
    without the field are trusted."""
    p = PowerLaw(0.4, 1.0, divergence="tv", provenance={"trusted": False, "untrusted_reasons": ["tokenizer split words"]})
    back = load_profile(save_profile(p, tmp_path / "u.json"))
    assert not back.trusted and back.untrusted_reasons == ("tokenizer split words",)
    assert default_profile().trusted and default_power_law_profile().trusted


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha=0.5, C=1, alpha_ci=(0.6, 0.7)), "alpha_ci"), (dict(alpha=0.5, C=1, C_ci=(2, 3)), "C_ci"),
    (dict(alpha=0.5, C=1, alpha_ci=(0.1, 0.4)), "contain the estimate"),
])
def test_confidence_intervals_must_contain_the_estimate(kwargs, name):
    """A CI missing its own point estimate would give a window range not containing the window."""
    with pytest.raises(ValueError, match=name):
        PowerLaw(**kwargs)


def test_one_profile_base_class():
    """Every profile is a Profile whose envelopes are Envelope objects; to_dict/from_dict and
    ci_profiles are shared, and LogPowerLaw and tv2 profiles round-trip like the others."""
    profiles = [PowerLaw(0.5, 2.0, c=1.0, alpha_ci=(0.4, 0.6)), Exponential(0.5, 1.0, c=0.5),
                Tabulated([1, 4], [1.0, 0.5], lower_values=[0.5, 0.1]), LogPowerLaw(0.5, 3.0, 0.5, w0=2),
                PowerLaw(0.8, 0.3, divergence="tv2")]
    for p in profiles:
        assert isinstance(p, Profile) and isinstance(p.upper_envelope, Envelope)
        assert p.lower_envelope is None or isinstance(p.lower_envelope, Envelope)
        back = profile_from_dict(json.loads(json.dumps(profile_to_dict(p))))
        assert type(back) is type(p) and back.to_dict() == p.to_dict()
    assert len(profiles[0].ci_profiles()) == 2 and profiles[1].ci_profiles() == ()
    assert [p.lower_assumption for p in profiles[:3]] == ["PTS-lower-kl", "GTS-lower-kl", "tabulated-lower-kl"]
    assert profiles[4].lower_assumption == "PTS-lower-tv2"


def test_log_power_law_is_exact_and_monotone():
    """LogPowerLaw: U(w) = (C + D log w) w^-alpha; its windows are the smallest with U <= eps
    (checked in mpmath), and a w0 where U still increases is refused."""
    import mpmath
    from wzbounds._inversion import verify_boundary

    p = LogPowerLaw(0.5, 2.0, 1.0, w0=1)
    for eps in (1.0, 0.1, 1e-3, 1e-9):
        w = window_for_epsilon(eps, p).window_tokens
        assert verify_boundary(w, eps, p.upper_envelope, p.w0)
        with mpmath.workdps(40):
            assert (2 + mpmath.log(w)) * mpmath.power(w, -0.5) <= eps * (1 + 1e-30)
    with pytest.raises(ValueError, match="w0"):
        LogPowerLaw(0.5, 0.1, 1.0, w0=1)  # C + D log 1 = 0.1 < D/alpha = 2


def test_unknown_profile_name_raises(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        load_profile(bad)


@pytest.mark.parametrize("kwargs, name", [
    (dict(alpha=0.0, C=1.0), "alpha"), (dict(alpha=-1, C=1.0), "alpha"), (dict(alpha=float("nan"), C=1), "alpha"),
    (dict(alpha=1, C=0.0), "C"), (dict(alpha=1, C=-2), "C"), (dict(alpha=1, C=1, c=2), "`c`"),
    (dict(alpha=1, C=1, c=0), "`c`"), (dict(alpha=1, C=1, w0=0), "w0"), (dict(alpha=1, C=1, w0=1.5), "w0"),
    (dict(alpha=1, C=1, divergence="js"), "divergence"), (dict(alpha=1, C=1, alpha_ci=(0.9, 0.1)), "alpha_ci"),
    (dict(alpha=1, C=1, C_ci=(0, 1)), "C_ci"), (dict(alpha=1, C=1, provenance="x"), "provenance"),
])
def test_power_law_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        PowerLaw(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(rho=1.0, C=1), "rho"), (dict(rho=0.0, C=1), "rho"), (dict(rho=0.5, C=0), "C"),
    (dict(rho=0.5, C=1, c=1.5), "`c`"), (dict(rho=0.5, C=1, divergence="kl"), "divergence"),
])
def test_exponential_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Exponential(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(windows=[1, 2, 3], values=[1.0, 0.5, 0.7]), "values"),  # non-monotone
    (dict(windows=[1, 2], values=[1.0, 0.0]), "values"), (dict(windows=[1, 2], values=[1.0, np.nan]), "values"),
    (dict(windows=[2, 1], values=[1.0, 0.5]), "windows"), (dict(windows=[0, 1], values=[1.0, 0.5]), "windows"),
    (dict(windows=[1.5, 2], values=[1.0, 0.5]), "windows"), (dict(windows=[1], values=[1.0]), "windows"),
    (dict(windows=[1, 2], values=[1.0]), "values"),
    (dict(windows=[1, 2], values=[1.0, 0.5], lower_values=[2.0, 0.1]), "lower_values"),
    (dict(windows=[1, 2], values=[1.0, 0.5], lower_values=[0.1, 0.2]), "lower_values"),
    (dict(windows=[1, 2], values=[1.0, 0.5], extrapolate="linear"), "extrapolate"),
    (dict(windows=[1, 2, 2 ** 70], values=[1.0, 0.5, 0.1]), "windows"), (dict(windows=[1, True], values=[1, .5]), "windows"),
    (dict(windows=[1, 2.0, float("inf")], values=[1.0, 0.5, 0.1]), "windows"),
    (dict(windows=[1, 2], values=[1.0, 0.5], tail_alpha=0.0), "tail_alpha"),
    (dict(windows=[1, 2], values=[1.0, 0.5], tail_alpha=float("nan")), "tail_alpha"),
    (dict(windows=[1, 2], values=[1.0, 0.5], tail_alpha=0.5, extrapolate="none"), "tail_alpha"),
])
def test_tabulated_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Tabulated(**kwargs)


def test_tabulated_envelope_of_noisy_curve():
    """envelope() is the smallest non-increasing sequence above the data."""
    t = Tabulated.envelope([1, 2, 4, 8], [1.0, 0.4, 0.5, 0.1], lower_values=[0.5, 0.1, 0.2, 0.05])
    assert t.values == (1.0, 0.5, 0.5, 0.1)
    assert t.lower_values == (0.5, 0.2, 0.2, 0.05)


def test_tabulated_interpolation_and_extrapolation_rules():
    """Exact power law 1/w tabulated at 1,2,4,8: interpolation and extrapolation reproduce it."""
    t = Tabulated([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125])
    w = np.array([1, 3, 5, 8, 100])
    assert np.allclose(t.upper(w), 1.0 / w, rtol=1e-13)  # log-log interpolation of an exact power law
    assert window_for_epsilon([0.3, 1e-3], t).window_tokens.tolist() == [4, 1000]
    none = Tabulated([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125], extrapolate="none")
    assert window_for_epsilon(0.125, none).window_tokens == 8
    with pytest.raises(ValueError, match="eps"):
        window_for_epsilon(0.1, none)
    flat = Tabulated([1, 2, 4], [1.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="eps"):
        window_for_epsilon(0.1, flat)
    # extrapolate="none" makes no claim beyond the table: block sums stop there too (w = 8 itself is in)
    assert float(none.upper_envelope.range_sum_mp(4, 9)) == pytest.approx(float(none.upper(np.arange(4, 9)).sum()),
                                                                          rel=1e-12)  # closed forms vs floats
    assert window_for_epsilon(0.3, none, "block").window_tokens == 4
    with pytest.raises(ValueError, match="`b`"):
        window_for_epsilon(0.13, none, "block")


def test_tabulated_tail_exponent_continues_from_the_last_point():
    """tail_alpha = a: beyond the last window U(w) = V_last (w / W_last)^-a (not the two-point slope,
    here 0.2 against a = 1), windows there are ceil(W_last (V_last / eps)^(1/a)), and block sums
    over the tail match a term-by-term sum; equal last values no longer stall the extrapolation."""
    t = Tabulated([1, 2, 4, 8], [1.0, 0.6, 0.5, 0.435275281648062], tail_alpha=1.0)  # 0.5 * 2^-0.2
    w = np.array([8, 16, 80])
    assert np.allclose(t.upper(w), 0.435275281648062 * 8.0 / w, rtol=1e-13)
    eps = np.array([0.1, 1e-3])
    expected = np.ceil(8 * 0.435275281648062 / eps).astype(int)  # 35 and 3483: not on an integer boundary
    assert window_for_epsilon(eps, t).window_tokens.tolist() == expected.tolist()
    direct = float(np.sum(t.upper(np.arange(3, 40))))  # the float path, apart from the mpmath segments
    # 1e-12: a sum of 37 float64 terms against closed-form segment sums in 30 digits
    assert float(t.upper_envelope.range_sum_mp(3, 40)) == pytest.approx(direct, rel=1e-12)
    flat = Tabulated([1, 2, 4], [1.0, 0.5, 0.5], tail_alpha=0.5)
    assert window_for_epsilon(0.25, flat).window_tokens == 16


def test_tabulated_values_are_exact_at_the_table_windows():
    """At a tabulated window U is the tabulated value itself (exp(log 0.1) is an ulp above 0.1),
    so a window read off the table reports a bound <= eps."""
    p = Tabulated([1, 10, 100], [0.5, 0.2, 0.1], divergence="tv", tail_alpha=0.4)
    assert p.upper(np.array([1, 10, 100])).tolist() == [0.5, 0.2, 0.1]
    r = window_for_epsilon(0.1, p)
    assert r.window_tokens == 100 and r.distortion_bound <= 0.1


def test_huge_exponents_and_integers_are_fast_or_refused():
    """A tail exponent of 1e300 sums in closed form (the first term, to working precision) instead of
    seconds of Hurwitz zeta; an integer beyond float range is a ValueError naming the field."""
    p = Tabulated([1, 10, 100], [0.5, 0.2, 0.1], tail_alpha=1e300)
    assert float(p.upper_envelope.range_sum_mp(100, 10 ** 6)) == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(ValueError, match="tail_alpha"):
        Tabulated([1, 2], [1.0, 0.5], tail_alpha=10 ** 400)
    with pytest.raises(ValueError, match="values"):
        Tabulated([1, 2], [10 ** 400, 0.5])


def test_tabulated_lower_is_step_envelope():
    """L(w) = lower_values[i] on (windows[i-1], windows[i]], 0 beyond the last window."""
    t = Tabulated([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125], lower_values=[0.5, 0.25, 0.1, 0.05])
    assert t.lower(np.array([1, 2, 3, 4, 5, 8, 9])).tolist() == [0.5, 0.25, 0.1, 0.1, 0.05, 0.05, 0.0]
    assert window_for_epsilon([0.6, 0.3, 0.1, 1e-3], t).converse_window_tokens.tolist() == [1, 2, 3, 9]


def test_lower_extends_below_w0():
    p = PowerLaw(1.0, 2.0, c=1.0, w0=10)
    assert np.allclose(p.lower([1, 5, 10, 20]), [0.1, 0.1, 0.1, 0.05])
    assert PowerLaw(1.0, 2.0).lower([1]) is None
