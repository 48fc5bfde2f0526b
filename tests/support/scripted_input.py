"""The chat's user, as a list of lines: messages, and answers to approval questions."""

from __future__ import annotations

from collections.abc import Iterable


class ScriptedInput:
    """Stands in for the chat's line editor; EOF (as Ctrl-D) once the lines run out."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        self.questions: list[str] = []

    async def read(self) -> str:
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    async def ask(self, question: str) -> str:
        self.questions.append(question)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)
