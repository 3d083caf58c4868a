"""MkDocs hooks of the lec-opt site (mkdocs.yml ``hooks:``).

- ``<!-- include: PATH -->`` in a page is replaced by the repository file PATH (relative to
  mkdocs.yml), read at build time, so ``models/FORMULATION.md`` is shown and never copied. A
  relative link inside the included file points at a repository file the site does not hold: it is
  rewritten to the path in code (``[text](lec_opt/x.py)`` -> ``text (`lec_opt/x.py`)``), so the strict
  build never sees a broken link; web links and in-page anchors are kept.
- ``<!-- lec-opt: cli reference -->`` is replaced by the reference of every ``lec-opt`` command,
  generated from the typer app itself (``typer.main.get_command``): usage, help, and each argument
  and option with the help record ``--help`` prints (type, meaning, default).
"""

from __future__ import annotations

import re
from pathlib import Path

INCLUDE = re.compile(r"^<!-- include: (?P<path>\S+) -->$", re.MULTILINE)
CLI_MARKER = "<!-- lec-opt: cli reference -->"
LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Expand the include and CLI markers of a page."""
    root = Path(config["config_file_path"]).parent
    markdown = INCLUDE.sub(lambda m: included(root, m["path"]), markdown)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, cli_reference())
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
    return "\n".join(out)


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
