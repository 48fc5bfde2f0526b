"""Going on with a saved chat: the picker of ``agent chat --resume`` (no id) and the last few
exchanges shown when a chat resumes, so the user sees where they left off."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from agent.errors import UsageError
from agent.messages import AssistantMessage, Message, TextPart, ToolCallPart, ToolResultPart, UserMessage

if TYPE_CHECKING:
    from agent.chat import Chat

__all__ = ["SECOND_CTRL_C", "pick_chat", "show_recent"]

SECOND_CTRL_C = 1.0  # seconds after cancelling a turn in which another Ctrl-C does not end the chat
_PICK = 20  # chats offered by the picker
_EXCHANGES = 3  # exchanges shown on resuming
_LINES = 6  # lines of each text shown


async def pick_chat(chat: Chat) -> str:
    """Show the newest saved chats, numbered, and ask which one; its id."""
    from agent.history import describe, list_chats

    chats = list_chats()[:_PICK]
    if not chats:
        raise UsageError("there is no saved chat yet", hint="start one with: agent chat")
    for number, info in enumerate(chats, 1):
        chat.console.print(Text(f"{number:>3}  {describe(info)}"), soft_wrap=True)
    while True:
        try:
            reply = (await chat.input.ask(f"resume which? [1-{len(chats)}, Enter: 1] ")).strip()
        except EOFError:
            raise UsageError("no chat chosen", hint="agent chat --resume ID") from None
        if not reply:
            return chats[0].id
        if reply.isdigit() and 1 <= int(reply) <= len(chats):
            return chats[int(reply) - 1].id
        if any(info.id.startswith(reply) for info in chats):
            return reply
        chat.console.print(Text(f"please answer a number from 1 to {len(chats)}", style="yellow"))


def _is_prompt(message: Message) -> bool:
    return isinstance(message, UserMessage) and not any(isinstance(p, ToolResultPart) for p in message.parts)


def _clip(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[:_LINES]) + (
        f"\n… ({len(lines) - _LINES} more lines)" if len(lines) > _LINES else ""
    )


def _show_answer(console: Console, message: AssistantMessage) -> None:
    """An answer's text and tool calls, in the order the model gave them."""
    text = ""
    for part in (*message.parts, None):
        if isinstance(part, TextPart):
            text += part.text
            continue
        if text.strip():
            console.print(Text(_clip(text)), soft_wrap=True)
        text = ""
        if isinstance(part, ToolCallPart):
            args = json.dumps(part.arguments, ensure_ascii=False)
            args = args if len(args) <= 60 else args[:59] + "…"
            console.print(Text(f"  · {part.name} {args}", style="dim"), soft_wrap=True)


def show_recent(console: Console, history: list[Message]) -> None:
    """The last few exchanges: each prompt, the tools the model called and its answers (cut short)."""
    starts = [i for i, m in enumerate(history) if _is_prompt(m)]
    if not starts:
        return
    for message in history[starts[-_EXCHANGES] if len(starts) >= _EXCHANGES else starts[0] :]:
        if _is_prompt(message):
            console.print(Text.assemble(("> ", "bold cyan"), (_clip(message.text), "bold")), soft_wrap=True)
        elif isinstance(message, AssistantMessage):
            _show_answer(console, message)
    console.print(Text("─" * 20 + " resumed: your turn " + "─" * 20, style="dim"))
