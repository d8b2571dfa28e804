"""Architecture: the core never imports torch or transformers; arrows point from
`wzbounds.empirical` to the core, never back."""
import subprocess
import sys

CODE = """
import importlib, pkgutil, sys
import wzbounds
names = [m.name for m in pkgutil.walk_packages(wzbounds.__path__, "wzbounds.")
         if not m.name.startswith("wzbounds.empirical")]
for name in names:
    importlib.import_module(name)
print(len(names), "torch" in sys.modules, "transformers" in sys.modules)
"""


def test_core_modules_import_without_torch():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    n_modules, torch_loaded, transformers_loaded = out.stdout.split()
    assert int(n_modules) > 20  # the walk really found the core's modules
    assert (torch_loaded, transformers_loaded) == ("False", "False")
