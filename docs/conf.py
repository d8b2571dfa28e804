"""Sphinx configuration of the wzbounds site (``sphinx-build -W --keep-going docs docs/_build/html``)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import wzbounds  # noqa: E402

project = "wzbounds"
author = "wzbounds contributors"
copyright = "2026, wzbounds contributors"
release = version = wzbounds.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx-mathjax-offline",  # MathJax 3 shipped inside the package: no network at read time
    "wzdocs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_screenshots", "runs/**/report.md", "README.md"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # proofs start at "#" and use "##"; included pages keep their levels

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

html_theme = "furo"
html_title = f"wzbounds {release}"
html_static_path = []
nitpicky = False
