"""MkDocs hooks of the lec-opt site (mkdocs.yml ``hooks:``).

- Every public module, class, function and method of ``lec_opt`` has a docstring, or the strict
  build fails (``on_pre_build``).
- Matplotlib's backend is the inline one for the examples' kernels (``on_config``).
- ``<!-- include: PATH -->`` in a page is replaced by the repository file PATH (relative to
  mkdocs.yml), read at build time, so ``models/FORMULATION.md`` is shown and never copied. A
  relative link inside the included file points at a repository file the site does not hold: it is
  rewritten to the path in code (``[text](lec_opt/x.py)`` -> ``text (`lec_opt/x.py`)``), so the strict
  build never sees a broken link; web links and in-page anchors are kept.
- ``<!-- lec-opt: layers -->``: every sub-package of ``lec_opt`` (pyproject.toml's package list)
  and each of its modules, as mkdocstrings directives showing their docstrings.
- ``<!-- lec-opt: scenario keys -->``: a table of every scenario key from the pydantic schema
  (type, default, the shipped ``paper_5min.toml``'s value, description).
- ``<!-- lec-opt: report figures -->``: the report's figures and files with the captions the
  report itself prints (``lec_opt.report.html``).
- ``<!-- lec-opt: cli reference -->`` is replaced by the reference of every ``lec-opt`` command,
  generated from the typer app itself (``typer.main.get_command``): usage, help, and each argument
  and option with the help record ``--help`` prints (type, meaning, default).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger("mkdocs.hooks.lec_opt_docs")  # under "mkdocs": a warning fails the strict build

INCLUDE = re.compile(r"^<!-- include: (?P<path>\S+) -->$", re.MULTILINE)
CLI_MARKER = "<!-- lec-opt: cli reference -->"
LAYERS_MARKER = "<!-- lec-opt: layers -->"
SCENARIO_MARKER = "<!-- lec-opt: scenario keys -->"
SCENARIO_END = "<!-- lec-opt: end of scenario keys -->"
FIGURES_MARKER = "<!-- lec-opt: report figures -->"
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")


def on_config(config):
    """The examples' kernels draw inline even when the environment names another backend (``Agg``),
    so that every figure an example shows is in its page."""
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return config


def on_pre_build(config) -> None:
    """Every public module, class, function and method of ``lec_opt`` has a docstring, or the
    build warns (and the strict build fails); the same rule as ruff's D1 in pyproject.toml."""
    root = Path(config["config_file_path"]).parent
    for path in undocumented("lec_opt", root):
        log.warning(f"{path} is public and has no docstring (the API reference is generated from them)")


def undocumented(package: str, search_path: Path) -> list[str]:
    """Dotted paths of the public modules, classes, functions and methods without a docstring.

    Public: no leading underscore anywhere in the path (dunder methods, ``__init__`` included, are
    left out: a class's docstring says how it is built). Names imported from elsewhere are not
    counted where they are imported.
    """
    import griffe

    found: list[str] = []

    def walk(obj) -> None:
        for name, member in obj.members.items():
            if member.is_alias or name.startswith("_"):
                continue
            is_property = member.is_attribute and "property" in member.labels  # griffe: properties are attributes
            if member.is_module or member.is_class or member.is_function or is_property:
                if not member.docstring or not member.docstring.value.strip():
                    found.append(member.path)
            if member.is_module or member.is_class:
                walk(member)

    root = griffe.load(package, search_paths=[str(search_path)], resolve_aliases=False)
    if not root.docstring:
        found.append(root.path)
    walk(root)
    return sorted(found)


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Expand the include and CLI markers of a page."""
    root = Path(config["config_file_path"]).parent
    markdown = INCLUDE.sub(lambda m: included(root, m["path"]), markdown)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
    if LAYERS_MARKER in markdown:
        markdown = markdown.replace(LAYERS_MARKER, layers(root))
    if SCENARIO_MARKER in markdown:
        check_scenario_keys(markdown)
    if FIGURES_MARKER in markdown:
        markdown = markdown.replace(FIGURES_MARKER, report_figures())
    return markdown


def included(root: Path, path: str) -> str:
    """The text of the repository file ``path``, its relative links made plain paths."""
    file = (root / path).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"docs include: {path} (from {root}) is not a file")
    base = file.parent.relative_to(root.resolve()) if file.is_relative_to(root.resolve()) else file.parent
    return unlink(file.read_text(encoding="utf-8"), base)


def unlink(text: str, base: Path) -> str:
    """Relative links of an included file as code paths from the repository root; others kept."""

    def repl(m: re.Match) -> str:
        target = m["target"]
        if target.startswith("#") or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return m[0]
        path = (base / target.split("#")[0]).as_posix()
        parts: list[str] = []
        for part in path.split("/"):
            if part == "..":
                parts = parts[:-1]
            elif part not in ("", "."):
                parts.append(part)
        return f"{m['text']} (`{'/'.join(parts)}`)"

    return LINK.sub(repl, text)


def cli_reference() -> str:
    """Markdown for every command of ``lec-opt``, in the order of ``lec-opt --help``."""
    import typer

    from lec_opt.cli import app

    root = typer.main.get_command(app)
    out: list[str] = []

    # duck-typed: typer may bring its own copy of click, whose classes are not click's
    def walk(cmd, path: list[str], parent) -> None:
        ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent)
        if path[1:]:
            out.append(f"{'#' * min(len(path), 4)} `{' '.join(path)}`\n")
        text = (cmd.help or "").strip()
        if text:
            out.append(_plain(text) + "\n")
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        out.append(f"```text\n{' '.join(path)} {usage}\n```\n")
        rows = [_param_row(p, ctx) for p in cmd.get_params(ctx) if not getattr(p, "hidden", False)]
        rows = [r for r in rows if r]
        if rows:
            out.append("| argument or option | meaning |\n|---|---|")
            out.extend(rows)
            out.append("")
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name], ctx)

    walk(root, ["lec-opt"], None)
    from lec_opt.io.shipped import DATA_DIR, MODELS_DIR

    # defaults inside the installed package: shown by name, not as this machine's path
    text = "\n".join(out)
    return text.replace(f"{DATA_DIR}{os.sep}", "data/").replace(f"{MODELS_DIR}{os.sep}", "models/")


def _plain(text: str) -> str:
    """A help text as Markdown: typer's paragraph breaks kept, ``\\b`` markers dropped."""
    return text.replace("\b\n", "").replace("\b", "")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _param_row(param, ctx) -> str | None:
    """One table row from the parameter's own help record (what ``--help`` prints)."""
    if param.name == "help":
        return None
    record = param.get_help_record(ctx)
    if record is None:  # an argument without help text
        record = (param.human_readable_name, "")
    names, text = record
    return f"| `{names}` | {_cell(text)} |"


def layers(root: Path) -> str:
    """mkdocstrings directives for each layer (sub-package) and its modules, in pyproject.toml's order."""
    import tomllib

    packages = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    out: list[str] = []
    for package in packages:
        folder = root / Path(*package.split("."))
        if package == "lec_opt" or not (folder / "__init__.py").is_file():
            continue  # the top level is the API page; shipped data folders are not code
        out.append(f"## `{package}`\n")
        out.append(_directive(package, heading=False))
        for module in sorted(folder.glob("*.py")):
            if module.stem.startswith("_"):
                continue
            out.append(_directive(f"{package}.{module.stem}", heading=True))
    return "\n".join(out)


def _directive(path: str, heading: bool) -> str:
    show = "true" if heading else "false"
    return (
        f"::: {path}\n    options:\n      members: false\n      show_root_heading: {show}\n"
        f"      show_root_full_path: true\n      heading_level: 3\n"
    )


def scenario_keys() -> str:
    """Every scenario key: section, key, type, default, the shipped default scenario's value, meaning."""
    import typing

    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    from lec_opt import DEFAULT_SCENARIO, Scenario, load_scenario

    shipped = load_scenario(DEFAULT_SCENARIO)
    rows = ["| key | type | default | `paper_5min.toml` | meaning |", "|---|---|---|---|---|"]

    def section_model(annotation):
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                return candidate
        return None

    def walk(model: type[BaseModel], prefix: str, value) -> None:
        for name, field in model.model_fields.items():
            sub = section_model(field.annotation)
            current = getattr(value, name, None) if value is not None else None
            if isinstance(current, str) and Path(current).is_absolute():  # resolved on load: show it as written
                current = Path(os.path.relpath(current, DEFAULT_SCENARIO.parent)).as_posix()
            if sub is not None:
                walk(sub, f"{prefix}{name}.", current)
                continue
            default = "required" if field.default is PydanticUndefined else f"`{field.default!r}`"
            rows.append(
                f"| `{prefix}{name}` | {_cell(_type_name(field.annotation))} | {_cell(default)} | "
                f"{_cell(f'`{current!r}`' if value is not None else '')} | {_cell(field.description or '')} |"
            )

    walk(Scenario, "", shipped)
    return "\n".join(rows) + "\n"


def scenario_keys_block(markdown: str) -> str:
    """The committed table between the scenario-key markers of a page ("" when there is none)."""
    if SCENARIO_MARKER not in markdown or SCENARIO_END not in markdown:
        return ""
    return markdown.split(SCENARIO_MARKER, 1)[1].split(SCENARIO_END, 1)[0].strip("\n") + "\n"


def check_scenario_keys(markdown: str) -> None:
    """The scenarios guide holds the table itself (readable on GitHub too); the build fails when the
    table no longer matches the schema, and says how to write it again."""
    if scenario_keys_block(markdown) != scenario_keys():
        raise ValueError(
            "docs/guides/scenarios.md: the table of scenario keys differs from the schema; "
            "write it again with: python docs/_hooks/site.py"
        )


def write_scenario_keys(page: Path) -> None:
    """Write the schema's table of scenario keys between the markers of ``page``."""
    text = page.read_text(encoding="utf-8")
    before, rest = text.split(SCENARIO_MARKER, 1)
    after = rest.split(SCENARIO_END, 1)[1] if SCENARIO_END in rest else rest
    page.write_text(f"{before}{SCENARIO_MARKER}\n\n{scenario_keys()}\n{SCENARIO_END}{after}", encoding="utf-8")


def _type_name(annotation) -> str:
    """A field's type as a reader writes it: ``float | None``, ``'ring' | 'feeder'``, ``list[int]``."""
    import types
    import typing

    def name(a) -> str:
        origin, args = typing.get_origin(a), typing.get_args(a)
        if origin is typing.Annotated:
            return name(args[0])
        if origin in (typing.Union, types.UnionType):
            return " | ".join(name(x) for x in args)
        if origin is typing.Literal:
            return " | ".join(repr(x) for x in args)
        if origin is not None:
            return f"{getattr(origin, '__name__', str(origin))}[{', '.join(name(x) for x in args)}]"
        if a is type(None):
            return "None"
        return getattr(a, "__name__", str(a))

    return name(annotation)  # plain text: a pipe escaped inside a code span would show its backslash


def report_figures() -> str:
    """The report's figure captions and linked files, as the report writes them."""
    from lec_opt.report.captions import CAPTIONS
    from lec_opt.report.html import FILES

    rows = ["| figure file | the paper's figure | what to look at |", "|---|---|---|"]
    for prefix, (paper, what) in CAPTIONS.items():
        rows.append(f"| `figures/{prefix}*.png` | {_cell(paper)} | {_cell(what)} |")
    rows += ["", "| file | what it holds |", "|---|---|"]
    rows += [f"| `{name}` | {_cell(what)} |" for name, what in FILES.items()]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # python docs/_hooks/site.py: the scenarios guide's table of keys, from the schema
    write_scenario_keys(Path(__file__).resolve().parents[1] / "guides" / "scenarios.md")
