"""Mutation runs: a check that cannot fail proves nothing, so each statement corrected under
issue 23 is changed the way a wrong constant (or a wrong scope) would change it, and its check
must then fail.

Each mutation replaces one snippet in a copy of ``proofs/`` (and of ``wzbounds/`` for a library
mutation) in a temporary folder, never in the working tree, and runs the named part of the check
from that copy: a check-file mutation in this process, a library mutation in a fresh interpreter
whose ``sys.path`` starts at the copy. The run must end in an ``AssertionError`` from the check
(a syntax or name error would show nothing), and the same part must pass unmutated. ``contrast``
names the part that could not see the mutation before the fix (it is run and reported, not
required to pass).

    python proofs/checks/mutations.py             # every mutation, as a table
    python proofs/checks/mutations.py --only 4c   # those whose id contains "4c"

Exit status 1 when a mutation survives or a baseline fails.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_EXTREMAL = "with mpmath.workdps(50): _check_extremal_ensembles()"
_RANDOM = "with mpmath.workdps(50): _check_achievability(np.random.default_rng(20261113))"


@dataclass(frozen=True)
class Mutation:
    id: str
    statement: str       # what the mutation claims, in words
    path: str            # file to change, relative to the repository root
    old: str             # snippet replaced (must occur exactly once)
    new: str
    check: str           # theorem id: proofs/checks/<check>.py
    run: str             # code run in the check module's namespace
    contrast: str = ""   # the part that could not see it before the fix (reported only)

    @property
    def library(self) -> bool:
        return self.path.startswith("wzbounds/")


MUTATIONS = (
    Mutation("2-G-term", "part 2: G(x) without -(1 - x)log(1 - x)", "proofs/checks/block_markov_rate.py",
             "    return -(1 - x) * mpmath.log(1 - x) + x * mpmath.log(v / x)\n",
             "    return x * mpmath.log(v / x)\n", "block_markov_rate", _EXTREMAL, _RANDOM),
    Mutation("3-C2/eta", "part 3: C2/eta in place of 2 C2/eta", "proofs/checks/block_markov_rate.py",
             "    return 2 * C2 / eta * _avg(alpha, b)", "    return C2 / eta * _avg(alpha, b)",
             "block_markov_rate", _EXTREMAL, _RANDOM),
    Mutation("4b-Etau2", "part 4b: E tau^2 = U^2 (not 2U^2)", "proofs/checks/block_markov_rate.py",
             "    return U, 2 * U ** 2, U * mpmath.log(2 * (1 - U))", "    return U, U ** 2, U * mpmath.log(2 * (1 - U))",
             "block_markov_rate", "with mpmath.workdps(50): _check_pair_examples()"),
    Mutation("4b-lower", "part 4b: E KL >= 2U log(2(1 - U)) for every mu", "proofs/checks/block_markov_rate.py",
             "    return U, 2 * U ** 2, U * mpmath.log(2 * (1 - U))",
             "    return U, 2 * U ** 2, 2 * U * mpmath.log(2 * (1 - U))",
             "block_markov_rate", "with mpmath.workdps(50): _check_pair_examples()"),
    Mutation("4c-EKL", "part 4c: E KL = U log 2 (not 2U log 2)", "proofs/checks/block_markov_rate.py",
             "    return U, U / 2, 2 * U * mpmath.log(2)", "    return U, U / 2, U * mpmath.log(2)",
             "block_markov_rate", "with mpmath.workdps(50): _check_pair_examples()"),
    Mutation("1-4a-scope", "part 4a: Santa Fe's true Bayes-risk exponent is alpha ((B) tight)",
             "proofs/checks/block_markov_rate.py", "    return alpha / 2\n", "    return alpha\n",
             "block_markov_rate", "_check_santa_fe(None)"),
    Mutation("8-b", "part 4a's interval quoted at b = 10^12 while checked at 10^40", "proofs/block_markov_rate.md",
             "exponent interval at b = 10^40", "exponent interval at b = 10^12", "block_markov_rate",
             "_check_statement_text()"),
    Mutation("9-concave", "part 2: G'' = +1/(x(1 - x)) (G convex, per-offset smoothing worse)",
             "proofs/checks/block_markov_rate.py", "sp.diff(G, x, 2) + 1 / (x * (1 - x))",
             "sp.diff(G, x, 2) - 1 / (x * (1 - x))", "block_markov_rate", "_check_algebra()"),
    Mutation("5-library-min", "library: the forward-decay block from part 3 alone (V known)",
             "wzbounds/schemes/block_rate.py",
             "smaller = np.array([u < b for u, b in zip(u_blocks, blocks, strict=True)], dtype=bool)",
             "smaller = np.zeros(len(blocks), dtype=bool)",
             "block_markov_rate", "_check_library()"),
    Mutation("4-g-term", "smoothing_convexity part 4: E KL <= U log(V/U)", "proofs/checks/smoothing_convexity.py",
             "    return -(1 - U) * mpmath.log(1 - U) + U * mpmath.log(v / U)\n", "    return U * mpmath.log(v / U)\n",
             "smoothing_convexity", "with mpmath.workdps(50): _check_extremal_batch()",
             "with mpmath.workdps(50): _check_statement()"),
    Mutation("6-K8", "tv_converse 2c: I_w >= 8c^2 w^-2alpha (four times 2c^2)", "proofs/checks/tv_converse.py",
             "K_DIRECT = 2\n", "K_DIRECT = 8\n", "tv_converse",
             "with mpmath.workdps(50): _check_direct_route(np.random.default_rng(20261112))"),
    Mutation("6-K2.5", "tv_converse 2c: I_w >= 2.5c^2 w^-2alpha", "proofs/checks/tv_converse.py",
             "K_DIRECT = 2\n", "K_DIRECT = 2.5\n", "tv_converse",
             "with mpmath.workdps(50): _check_direct_route(np.random.default_rng(20261112))"),
    Mutation("6-library-8c2", "library: kl_lower_from_tv gives 8c^2", "wzbounds/divergences.py",
             "        return alpha, 2 * mpmath.mpf(c) ** 2, route", "        return alpha, 8 * mpmath.mpf(c) ** 2, route",
             "tv_converse", "_check_library()"),
)

#: Runs a check's part from a copied tree in a fresh interpreter: exit 0 pass, 3 AssertionError, 4 other.
_CHILD = """
import importlib.util, sys, traceback
root, check, code = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
spec = importlib.util.spec_from_file_location("mutated_check", f"{root}/proofs/checks/{check}.py")
module = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(module)
    exec(code, vars(module))
except AssertionError:
    frame = traceback.extract_tb(sys.exc_info()[2])[-1]
    print(f"AssertionError at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}")
    sys.exit(3)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(4)
"""


def _in_process(root: Path, check: str, code: str) -> tuple[str, str]:
    spec = importlib.util.spec_from_file_location(f"mutation_{check}", root / "proofs" / "checks" / f"{check}.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        exec(code, vars(module))
    except AssertionError:
        frame = traceback.extract_tb(sys.exc_info()[2])[-1]
        return "fails", f"AssertionError at {Path(frame.filename).name}:{frame.lineno}"
    except Exception as exc:  # noqa: BLE001 - reported: it is not the check failing
        return "error", f"{type(exc).__name__}: {exc}"
    return "passes", ""


def _child(root: Path, check: str, code: str) -> tuple[str, str]:
    # bounded: the slowest part (Santa Fe) takes seconds
    done = subprocess.run([sys.executable, "-c", _CHILD, str(root), check, code], capture_output=True, text=True,
                          timeout=600)
    status = {0: "passes", 3: "fails"}.get(done.returncode, "error")
    return status, (done.stdout + done.stderr).strip().splitlines()[-1] if status != "passes" else ""


def _copy_tree(dest: Path, library: bool) -> Path:
    shutil.copytree(ROOT / "proofs", dest / "proofs", ignore=shutil.ignore_patterns("__pycache__"))
    if library:
        shutil.copytree(ROOT / "wzbounds", dest / "wzbounds", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def run_mutation(m: Mutation, *, baseline: bool = True, contrast: bool = True) -> dict:
    """Apply ``m`` in a temporary copy and run its check part there (and unmutated first, when
    ``baseline``; its ``contrast`` part too, when asked). Returns the outcomes; ``ok`` when the
    baseline passes and the mutation fails with an AssertionError."""
    out = {"id": m.id, "statement": m.statement, "check": m.check}
    with tempfile.TemporaryDirectory(prefix="wzbounds-mutation-") as tmp:
        root = _copy_tree(Path(tmp), m.library)
        runner = _child if m.library else _in_process
        if baseline:
            out["baseline"] = runner(root, m.check, m.run)[0]
        target = root / m.path
        text = target.read_text()
        if text.count(m.old) != 1:
            raise ValueError(f"mutation {m.id!r}: its snippet occurs {text.count(m.old)} times in {m.path}, not once")
        target.write_text(text.replace(m.old, m.new))
        out["mutated"], out["where"] = runner(root, m.check, m.run)
        if m.contrast and contrast:
            out["contrast"] = runner(root, m.check, m.contrast)[0]
    out["ok"] = out.get("baseline", "passes") == "passes" and out["mutated"] == "fails"
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the mutations whose id contains this text")
    args = parser.parse_args(argv)
    rows = [run_mutation(m) for m in MUTATIONS if args.only in m.id]
    print("| mutation | statement | check part | unmutated | mutated | before the fix |")
    print("|---|---|---|---|---|---|")
    for r, m in zip(rows, (m for m in MUTATIONS if args.only in m.id)):
        part = m.run.split(":")[-1].strip()
        print(f"| {r['id']} | {r['statement']} | {r['check']}: {part} | {r['baseline']} | "
              f"{r['mutated']} ({r['where']}) | {r.get('contrast', '') and m.contrast.split(':')[-1].strip().split('(')[0] + ' ' + r['contrast']} |")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
