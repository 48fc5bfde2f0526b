"""What makes a command start sooner: the provider SDK imported while the servers connect, and
the cyclic garbage collector off until the command is ready.

:func:`import_ahead` imports modules (the provider's adapter and SDK: a second or more of CPU) in
a worker thread: ``Session.open`` starts it before it connects the servers, whose answers the
event loop waits for with the GIL free, and makes the provider once both are done.

The collector is off while a command starts. Starting imports the MCP SDK and a provider SDK:
about a million objects (modules, classes, schemas) that live as long as the process. The
collector's passes over them cost 0.1-0.3 s of CPU before the first model request and find next
to nothing to free (about a thousand objects). :func:`pause_collector` turns it off before the
command is imported (``agent.cli.main``); :func:`resume_collector` turns it on again once
everything is loaded and frozen (``Session.open``, with ``gc.freeze``), or when the command ends.
Only a pause of ours is resumed: a program that turned the collector off itself keeps it off.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Sequence

import anyio
import anyio.to_thread

__all__ = ["import_ahead", "pause_collector", "resume_collector"]

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


async def import_ahead(modules: Sequence[str], done: anyio.Event) -> None:
    """Import ``modules`` in a worker thread, then set ``done``. A failure is left to the import
    that needs the module, which raises it again (the same error, where it was raised before)."""
    try:
        await anyio.to_thread.run_sync(_import_quietly, modules)
    finally:
        done.set()


def _import_quietly(modules: Sequence[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            return
