"""User-facing errors. Every mistake a user can make surfaces as one of these, never as a traceback.

The CLI maps ``UserError`` (and its subclasses) to exit code 2 with a one-line message; ``DslError``
additionally renders the offending source line with a caret under the column.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (spec, graph, checkpoint, flag). Exit code 2."""

    def one_line(self) -> str:
        return str(self).splitlines()[0] if str(self) else type(self).__name__


class DslError(UserError):
    """An error in a ``.dp`` spec, with its position.

    ``line`` and ``column`` are 1-based; ``source`` is the full spec text so the message can show the
    offending line with a caret under the column.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        source: str | None = None,
        filename: str = "<spec>",
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.filename = filename
        super().__init__(self.render())

    def render(self) -> str:
        if self.line is None:
            return f"{self.filename}: error: {self.message}"
        col = self.column or 1
        head = f"{self.filename}:{self.line}:{col}: error: {self.message}"
        if not self.source:
            return head
        lines = self.source.splitlines()
        if not 1 <= self.line <= len(lines):
            return head
        text = lines[self.line - 1].replace("\t", " ")
        return f"{head}\n    {text}\n    {' ' * (col - 1)}^"

    def one_line(self) -> str:
        return self.render().splitlines()[0]


class GraphError(UserError):
    """A graph file or graph object that does not fit the spec."""


class CheckpointError(UserError):
    """A teacher checkpoint or student artifact that cannot be loaded safely."""
