"""agent: a terminal LLM agent that uses the tools of any MCP server."""

__all__ = ["__version__"]

__version__ = "0.1.0"
