"""User-facing errors: bad input is reported with file, row and field, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class LecOptError(Exception):
    """An error caused by the user's input (scenario, data folder, command line).

    The CLI prints the message and exits with status 2; nothing has been solved or written.
    """


class InputError(LecOptError):
    """A problem in one input file, located as precisely as we can (row, field)."""

    def __init__(self, file: str | Path, message: str, *, row: int | None = None, field: str | None = None):
        self.file = str(file)
        self.row = row
        self.field = field
        self.reason = message
        where = [self.file]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join(where)}: {message}")
