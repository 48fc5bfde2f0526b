"""The cyclic garbage collector is off while a command starts.

Starting imports the MCP SDK and a provider SDK: about a million objects (modules, classes,
schemas) that live as long as the process. The collector's passes over them cost 0.1-0.3 s of
CPU before the first model request and find next to nothing to free (about a thousand objects).
:func:`pause_collector` turns it off before the command is imported (``agent.cli.main``);
:func:`resume_collector` turns it on again once everything is loaded and frozen
(``Session.open``, with ``gc.freeze``), or when the command ends. Only a pause of ours is
resumed: a program that turned the collector off itself keeps it off.
"""

from __future__ import annotations

import gc

__all__ = ["pause_collector", "resume_collector"]

_paused = False


def pause_collector() -> None:
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_collector() -> None:
    global _paused
    if _paused:
        _paused = False
        gc.enable()
