"""A griffe extension (mkdocs.yml, mkdocstrings ``extensions``): the package's docstrings as Markdown.

lec-opt's docstrings are plain text with reStructuredText touches: ``>>>`` example lines (which
Markdown would read as nested quotes) become a fenced Python block, and Sphinx roles
(``:mod:`~lec_opt.cli.app```) become code spans. The text itself is not changed.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc):`~?(?P<name>[^`]+)`")


def as_markdown(text: str) -> str:
    """``>>>``/``...`` runs as fenced Python blocks, Sphinx roles as code spans."""
    out: list[str] = []
    in_block = False
    for line in ROLE.sub(lambda m: f"`{m['name']}`", text).splitlines():
        stripped = line.strip()
        is_example = stripped.startswith(">>>") or (in_block and stripped.startswith("..."))
        if is_example and not in_block:
            if out and out[-1].strip():
                out.append("")
            out.append("```python")
            in_block = True
        elif not is_example and in_block:
            out.append("```")
            in_block = False
            if stripped:
                out.append("")
        if is_example:
            out.append(stripped[4:] if len(stripped) > 3 else "")
        else:
            out.append(line)
    if in_block:
        out.append("```")
    return "\n".join(out)


class MarkdownDocstrings(griffe.Extension):
    """Rewrites each object's docstring with :func:`as_markdown` as griffe loads it."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        """Called by griffe for every loaded object."""
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
