"""Sphinx extension of the wzbounds site: pieces that cannot drift from the code or the kept runs.

- ``wzbounds-help COMMAND``: the command's ``--help``, printed by the project's own parser builder
  (``wzbounds.cli.build_parser``) at build time, so the CLI pages equal ``wzbounds COMMAND --help``.
- ``{run}`NUMBER <RUN:PATH>```: a number quoted from a run kept in ``docs/runs/``; a quote that
  differs from the artifact is a build warning (an error under ``-W``). See ``runquote.py``.
- ``kept-run RUN``: the command, model, corpus and versions a kept run records, with its artifacts.
- Theorems: every API docstring that names a theorem id gets links to its page, and
  ``theorem-cited-by ID`` lists the API entries naming it.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

import clihelp
import runquote
from wzbounds.theorems import THEOREMS

logger = logging.getLogger(__name__)

#: Modules and packages documented by automodule on the API pages, in page order; cross-references
#: from theorem pages go to objects found here.
API_MODULES = (
    "wzbounds.bounds", "wzbounds.memory", "wzbounds.profiles", "wzbounds.schemes", "wzbounds.divergences",
    "wzbounds.units", "wzbounds.theorems", "wzbounds.symbolic", "wzbounds.sources", "wzbounds.caches",
    "wzbounds.wz", "wzbounds.fitting", "wzbounds.testing", "wzbounds.cli",
)

_ID = re.compile(r"\b(" + "|".join(sorted(map(re.escape, THEOREMS), key=len, reverse=True)) + r")\b")


def cited_theorems(obj, lines=None) -> list:
    """Theorem ids an API object names: in its docstring, or as its ``achievability_theorem``."""
    text = "\n".join(lines) if lines is not None else (inspect.getdoc(obj) or "")
    ids = _ID.findall(text)
    own = getattr(obj, "achievability_theorem", None) if inspect.isclass(obj) else None
    if isinstance(own, str) and own in THEOREMS:
        ids.append(own)
    return list(dict.fromkeys(ids))


def _public_objects():
    """(qualified name, object) of every documented function and class (and class members)."""
    for modname in API_MODULES:
        module = importlib.import_module(modname)
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if getattr(module, "__all__", None) is None and getattr(obj, "__module__", None) != modname:
                continue
            yield f"{modname}.{name}", obj
            if inspect.isclass(obj):
                for mname, member in vars(obj).items():
                    if not mname.startswith("_") and inspect.isfunction(member) and member.__doc__:
                        yield f"{modname}.{name}.{mname}", member


_LITERAL = re.compile(r"(``.+?``|`[^`]+`)")


def _escape_bars(lines):
    """A bar in prose (``|x|``, ``int | None``) would be read by docutils as a substitution
    reference: escape it outside literals and tables, so the docstrings need no reST-only edits."""
    for k, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith(("|", "+")):
            lines[k] = "".join(part if i % 2 else re.sub(r"(?<!\\)\|", r"\\|", part)
                               for i, part in enumerate(_LITERAL.split(line)))


def _add_theorem_links(app, what, name, obj, options, lines):
    _escape_bars(lines)
    ids = cited_theorems(obj, lines)
    if ids:
        links = ", ".join(f":doc:`{i} </theory/{i}>`" for i in ids)
        lines.extend(["", f"**Theorems:** {links}", ""])


def _parse(directive: SphinxDirective, text: str):
    node = nodes.container()
    directive.state.nested_parse(StringList(text.splitlines(), source=directive.get_source_info()[0]),
                                 directive.content_offset, node)
    return node.children


class TheoremCitedBy(SphinxDirective):
    required_arguments = 1

    def run(self):
        tid = self.arguments[0]
        if tid not in THEOREMS:
            raise self.error(f"unknown theorem id {tid!r}")
        cited = sorted({qual for qual, obj in _public_objects() if tid in cited_theorems(obj)})
        items = "\n".join(f"- {{py:obj}}`{q}`" for q in cited) or "- (no API entry names it directly)"
        t = THEOREMS[tid]
        assumptions = ", ".join(f"`{a}`" for a in t.assumptions) or "none"
        text = (f"**Registry title:** {t.title}\n\n**Named assumptions:** {assumptions}\n\n"
                f"**API entries that cite it:**\n\n{items}\n")
        return _parse(self, text)


class WzboundsHelp(SphinxDirective):
    """The exact ``--help`` text of ``wzbounds COMMAND`` (or of ``wzbounds`` with no argument)."""
    optional_arguments = 1

    def run(self):
        name = self.arguments[0] if self.arguments else None
        if name not in clihelp.commands():
            raise self.error(f"no wzbounds command {name!r}")
        text = clihelp.help_text(name)
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


class RunRole(SphinxRole):
    def run(self):
        try:
            text, value, run, file, path = runquote.check(self.text)
        except (ValueError, KeyError, IndexError) as exc:
            logger.warning(f"run quote: {exc}", location=self.get_location())
            return [nodes.inline(self.text, self.text)], []
        node = nodes.abbreviation(text, text, explanation=f"kept run docs/runs/{run}/{file}: {path} = {value!r}")
        return [node], []


class KeptRun(SphinxDirective):
    """What a kept run records about itself: command, model file, corpus, versions, artifacts."""
    required_arguments = 1
    option_spec = {"figure": directives.unchanged}

    def run(self):
        run = runquote.run_dir(self.arguments[0]).name
        try:
            r = runquote.load_artifact(run)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        prov, model = r["provenance"], r["provenance"]["model"]
        corpus = "; ".join(f"{c['description']} ({c['n_documents']} documents, sha256 {c['sha256'][:12]}…)"
                           for c in prov["corpora"])
        files = ", ".join(f"{{download}}`{f} </runs/{run}/{f}>`" for f in
                          ("result.json", "report.md", "profile.json", "profile_tabulated.json", "profile_tv2.json")
                          if (runquote.RUNS / run / f).is_file())
        text = "\n".join([
            f"**Kept run** `docs/runs/{run}/` — {files}, and the raw rows in `rows/`.", "",
            "```bash", prov["command"], "```", "",
            f"- model: `{model['model_id'].split('/')[-1]}` ({model['model_class']}, sha256 "
            f"{model['file_sha256'][:12]}…, tokenizer source `{model['tokenizer_source']}`, {model['dtype']} on "
            f"{model['device']})",
            f"- corpus: {corpus}",
            f"- versions: wzbounds {prov['package_version']}, torch {model['torch_version']}, transformers "
            f"{model['transformers_version']}, numpy {prov['numpy_version']}; seed {prov['seed']}",
            f"- measured {prov['n_prefixes_measured']} prefixes in {prov['measure_wall_s']:.0f} s "
            f"({prov['forward_tokens']} forward tokens); verdict `{r['verdict']['label']}`",
            "",
        ])
        if "figure" in self.options:
            text += f"\n```{{image}} /runs/{run}/tv_decay.png\n:alt: {run}: TV decay\n:width: 80%\n```\n"
        return _parse(self, text)


_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1", re.S)


def _plain_underscores(app, relative_path, parent_docname, content):
    """The proofs are plain text with subscripts (``X_{<t}``, ``∫_k^{k+1}``): escape their underscores
    outside code spans, which Markdown would otherwise read as emphasis. The files stay as they are."""
    if Path(relative_path).parts[:2] != ("..", "proofs"):
        return
    text, out, last = content[0], [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(text[last:m.start()].replace("_", "\\_"))
        out.append(m.group(0))
        last = m.end()
    out.append(text[last:].replace("_", "\\_"))
    content[0] = "".join(out)


def setup(app):
    app.add_directive("wzbounds-help", WzboundsHelp)
    app.add_directive("theorem-cited-by", TheoremCitedBy)
    app.add_directive("kept-run", KeptRun)
    app.add_role("run", RunRole())
    app.connect("autodoc-process-docstring", _add_theorem_links)
    app.connect("include-read", _plain_underscores)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
