"""Where a client spends its CPU when it lists many tools (issue 5, the 1000-tool goal).

    uv run python bench/listing_breakdown.py [N ...]     (default: 1000 5000)

Starts ``bench/many_tools_server.py N --prepared`` (the server replays a prepared reply, so it
costs next to nothing), lists the tools through ``ServerManager.list_tools`` five times and
converts them with ``Toolbox``, and prints the client's CPU per listing, split between the MCP
SDK steps that handle the reply. The steps are timed by wrapping the SDK functions in this
process only (measurement, not product code):

- envelope: the streamable HTTP transport validating the JSON-RPC message (``validate_json``);
- result schema: ``validate_server_result``, the reply checked against the negotiated protocol
  version's schema (validated, then dumped again);
- x-mcp-header: the 2026-07-28 MUST-check of every tool's input schema and the header map that
  ``tools/call`` mirrors (``find_invalid_x_mcp_header`` + ``x_mcp_header_map``);
- result model: ``ListToolsResult.model_validate``;
- the rest: HTTP (httpx2 reading the body), the dispatcher, our manager (filters, GC pause).
"""

from __future__ import annotations

import collections
import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
from common import PY, ROOT, start, stop

sys.path.insert(0, str(ROOT))

SPENT: collections.Counter[str] = collections.Counter()


def _timed(step: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            SPENT[step] += time.process_time() - began

    return wrapper


class _TimedAdapter:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.validate_json = _timed("envelope", inner.validate_json)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def instrument() -> None:
    import mcp.client.session as session
    import mcp.client.streamable_http as streamable_http
    import mcp_types
    import mcp_types.methods as methods

    streamable_http.jsonrpc_message_adapter = _TimedAdapter(streamable_http.jsonrpc_message_adapter)  # type: ignore[assignment]
    methods.validate_server_result = _timed("result schema", methods.validate_server_result)
    session.find_invalid_x_mcp_header = _timed("x-mcp-header", session.find_invalid_x_mcp_header)
    session.x_mcp_header_map = _timed("x-mcp-header", session.x_mcp_header_map)
    validate = mcp_types.ListToolsResult.model_validate.__func__  # type: ignore[attr-defined]
    mcp_types.ListToolsResult.model_validate = classmethod(_timed("result model", validate))  # type: ignore[method-assign, assignment]


async def measure(url: str, repeats: int = 5) -> None:
    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager
    from agent.tools import Toolbox

    async with ServerManager({"many": ServerSettings(url=url)}) as manager:
        await manager.list_tools()  # warm-up: first-call imports, compiled validators
        SPENT.clear()
        began = time.process_time()
        for _ in range(repeats):
            tools = await manager.list_tools()
        listed = time.process_time()
        for _ in range(repeats):
            Toolbox(manager, tools)
        converted = time.process_time()
    client = (listed - began) / repeats
    sdk = sum(SPENT.values()) / repeats
    print(
        f"  client CPU per listing {client * 1000:6.1f} ms, then converting {(converted - listed) / repeats * 1000:5.1f} ms"
    )
    for step in ("envelope", "result schema", "x-mcp-header", "result model"):
        print(f"    {step:16} {SPENT[step] / repeats * 1000:6.1f} ms")
    print(f"    {'the rest':16} {(client - sdk) * 1000:6.1f} ms")


def main() -> None:
    instrument()
    for n in [int(x) for x in sys.argv[1:]] or [1000, 5000]:
        proc, url = start([PY, str(ROOT / "bench" / "many_tools_server.py"), str(n), "--prepared"])
        try:
            print(f"{n} tools (server replays a prepared reply):")
            anyio.run(measure, url)
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
