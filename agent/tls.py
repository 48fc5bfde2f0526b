"""One TLS context for every HTTPS client of this process: the MCP connections, the logins and
the provider SDKs' clients.

httpx2's default context (it honours ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), made on first use:
loading the CA bundle costs 20-50 ms of CPU, and every client would otherwise load it again.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    import httpx2

    return httpx2.create_ssl_context()
