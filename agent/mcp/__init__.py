"""MCP connections: transports (connection.py), many servers (manager.py), OAuth (oauth.py)."""
