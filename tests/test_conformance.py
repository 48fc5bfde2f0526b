"""agent/conformance.py: the suite's scenario and context become the settings a user would write.

The suite itself runs from .ci/conformance.sh; these only pin the mapping, which must keep up
with the config schema.
"""

from __future__ import annotations

import stat
from pathlib import Path

from agent.conformance import CIMD_CLIENT_METADATA_URL, server_settings

URL = "http://127.0.0.1:9/mcp"


def test_plain_scenario_has_no_oauth_client(tmp_path: Path) -> None:
    settings = server_settings(URL, "auth/metadata-default", {}, tmp_path)
    assert settings.url == URL
    assert settings.oauth.client_id is None
    assert settings.oauth.client_metadata_url is None
    assert settings.oauth.grant == "authorization_code"


def test_cimd_scenario_uses_the_metadata_url(tmp_path: Path) -> None:
    settings = server_settings(URL, "auth/basic-cimd", {}, tmp_path)
    assert settings.oauth.client_metadata_url == CIMD_CLIENT_METADATA_URL


def test_pre_registration_uses_the_context_credentials(tmp_path: Path) -> None:
    context = {"name": "auth/pre-registration", "client_id": "id", "client_secret": "secret"}
    settings = server_settings(URL, "auth/pre-registration", context, tmp_path)
    assert (settings.oauth.client_id, settings.oauth.client_secret) == ("id", "secret")
    assert settings.oauth.grant == "authorization_code"


def test_client_credentials_with_secret_uses_basic_auth(tmp_path: Path) -> None:
    context = {"client_id": "id", "client_secret": "secret"}
    settings = server_settings(URL, "auth/client-credentials-basic", context, tmp_path)
    assert settings.oauth.grant == "client_credentials"
    assert settings.oauth.token_endpoint_auth_method == "client_secret_basic"


def test_client_credentials_with_key_writes_a_private_key_file(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    context = {"client_id": "id", "private_key_pem": pem, "signing_algorithm": "ES256"}
    settings = server_settings(URL, "auth/client-credentials-jwt", context, tmp_path)
    assert settings.oauth.grant == "client_credentials"
    assert settings.oauth.private_key_file is not None
    key = Path(settings.oauth.private_key_file)
    assert key.read_text(encoding="utf-8") == pem
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
