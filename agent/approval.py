"""Approval questions on a terminal: one key, no Enter (y = yes, n = no, a = always).

:func:`choose_key` is the one-key answer that the chat (agent/chat_input.py, ``TerminalInput.choose``)
and ``agent run`` (its question on stderr) both use; prompt_toolkit is imported only when a question
is asked.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from agent.terminal import no_color

if TYPE_CHECKING:
    from prompt_toolkit.styles import StyleTransformation

__all__ = ["choose_key", "plain_style"]


async def choose_key(question: str, keys: str, *, on_stderr: bool = False) -> str:
    """One of ``keys``, answered by the key alone (no Enter); other keys are ignored. Ctrl-C
    raises KeyboardInterrupt, Ctrl-D EOFError. ``on_stderr``: the question goes to stderr (for a
    command whose stdout is its result)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.output import create_output

    bindings = KeyBindings()

    @bindings.add("<any>")
    def _ignore(event: KeyPressEvent) -> None:
        pass

    for key in keys:
        for typed in {key, key.upper()}:

            @bindings.add(typed)
            def _chosen(event: KeyPressEvent, key: str = key) -> None:
                event.current_buffer.insert_text(key)
                event.app.exit(result=key)

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        event.app.exit(exception=KeyboardInterrupt)

    @bindings.add("c-d")
    def _end(event: KeyPressEvent) -> None:
        event.app.exit(exception=EOFError)

    plain = plain_style() if no_color() else None
    output = create_output(stdout=sys.stderr) if on_stderr else None
    session: PromptSession[str] = PromptSession(
        key_bindings=bindings, style_transformation=plain, output=output
    )
    return await session.prompt_async(question, handle_sigint=False)


def plain_style() -> StyleTransformation:
    """For ``NO_COLOR``: every style off (prompt_toolkit drops only the colours; bold, reverse and
    underline are escape codes too)."""
    from prompt_toolkit.styles import Attrs, StyleTransformation

    class _Plain(StyleTransformation):
        def transform_attrs(self, attrs: Attrs) -> Attrs:
            return Attrs("", "", False, False, False, False, False, False, False, False)

    return _Plain()
