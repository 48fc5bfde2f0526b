"""One TLS context for the support code's HTTP clients, built once per process.

httpx2 builds a context for every client, and building one loads the whole CA bundle: 20-50 ms
of CPU on the test machine. The support code makes a client per browser redirect chain, per
``echo`` and per fake-server handle, and speaks plain HTTP to 127.0.0.1 anyway; sharing one
context keeps the default verification at no cost.
"""

from __future__ import annotations

import functools
import ssl

import httpx2

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx2's default context (it honours ``SSL_CERT_FILE``), made on first use."""
    return httpx2.create_ssl_context()
