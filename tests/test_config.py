"""agent/config.py: where the file comes from, what is refused and how, env overrides, JSON import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.adhoc import server_for_url
from agent.cli import main
from agent.config import (
    Config,
    ProjectFile,
    ServerSettings,
    find_config_file,
    load_config,
    user_config_dir,
)
from agent.errors import ConfigError
from agent.options import AdhocServer
from agent.session import select_servers


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- lookup order --------------------------------------------------------------------------------


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = _write(user_config_dir() / "config.toml", "max_steps = 4\n")
    assert find_config_file() == user
    assert load_config().max_steps == 4

    local = _write(tmp_path / "agent.toml", "max_steps = 3\n")
    assert find_config_file() == Path("agent.toml")
    assert load_config().max_steps == 4  # a project file is skipped until trusted
    seen: list[ProjectFile] = []
    assert load_config(trust=lambda project: seen.append(project) or True).max_steps == 3
    assert seen[0].path == local.resolve() and seen[0].raw == {"max_steps": 3}
    assert load_config(trust=lambda project: False).max_steps == 4

    from_env = _write(tmp_path / "env.toml", "max_steps = 2\n")
    monkeypatch.setenv("AGENT_CONFIG", str(from_env))
    assert find_config_file() == from_env
    assert load_config().max_steps == 2

    explicit = _write(tmp_path / "explicit.toml", "max_steps = 1\n")
    assert find_config_file(explicit) == explicit
    config = load_config(explicit)
    assert config.max_steps == 1
    assert config.source == str(explicit)
    assert local.exists() and user.exists()


def test_no_file_at_all_gives_defaults() -> None:
    assert find_config_file() is None
    config = load_config()
    assert config.source is None
    assert config.servers == {}
    assert config.max_steps == 25


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in str(info.value)
    assert info.value.exit_code == 2


def test_missing_agent_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"\$AGENT_CONFIG"):
        load_config()


# --- bad files -----------------------------------------------------------------------------------


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.toml", "max_steps = 3\n[servers.web\nurl = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not valid TOML" in str(info.value)
    assert "line 2" in str(info.value)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", '[servers.web]\nurl = "http://127.0.0.1:1/mcp"\nheaderz = {}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: servers.web.headerz: unknown key"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", "max_stepz = 3\n")
    with pytest.raises(ConfigError, match="max_stepz: unknown key"):
        load_config(path)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", "max_stepz = 3\nmodel = 5\n[servers.web]\nurl = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)  # the first problem, then the others in the hint
    assert "max_stepz: unknown key" in message
    for key in ("max_stepz", "model", "servers.web.url"):
        assert message.count(f"{key}:") == 1, key


def test_many_problems_are_cut_short(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", "".join(f"bogus{i} = 1\n" for i in range(8)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value.hint).endswith("; and 3 more")
    assert str(info.value.hint).count("unknown key") == 4


def test_server_needs_url_or_command(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", "[servers.web]\ntimeout = 3\n")
    with pytest.raises(ConfigError, match="exactly one of 'url'"):
        load_config(path)


def test_bad_literal_says_what_is_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.toml", '[servers.web]\nurl = "http://127.0.0.1:1/mcp"\nauth = "basic"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "servers.web.auth" in str(info.value)
    assert "'oauth'" in str(info.value) and "'none'" in str(info.value)


# --- ${VAR} ----------------------------------------------------------------------------------------


def test_variables_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCS_TOKEN", "s3cret")
    path = _write(
        tmp_path / "a.toml",
        '[servers.docs]\nurl = "http://127.0.0.1:1/mcp"\n'
        'headers = { Authorization = "Bearer ${DOCS_TOKEN}", X-Mode = "${MODE:-fast}", X-Lit = "$${KEEP}" }\n',
    )
    headers = load_config(path).servers["docs"].headers
    assert headers == {"Authorization": "Bearer s3cret", "X-Mode": "fast", "X-Lit": "${KEEP}"}


def test_missing_variable_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "a.toml",
        '[servers.docs]\nurl = "http://127.0.0.1:1/mcp"\nheaders = { Authorization = "Bearer ${NO_SUCH_TOKEN}" }\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "NO_SUCH_TOKEN is not set" in message
    assert "servers.docs.headers.Authorization" in message
    assert str(path) in message


# --- environment overrides -------------------------------------------------------------------------


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "a.toml", "max_steps = 3\n")
    monkeypatch.setenv("AGENT_MAX_STEPS", "9")
    assert load_config(path).max_steps == 9


def test_bad_env_override_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_MAX_STEPS", "many")
    with pytest.raises(ConfigError, match="max_steps"):
        load_config()


# --- --mcp-config ----------------------------------------------------------------------------------


def test_mcp_json_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "t")
    path = _write(
        tmp_path / "mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "files": {"command": "npx", "args": ["-y", "server-files"], "env": {"ROOT": "/tmp"}},
                    "remote": {"type": "sse", "url": "http://127.0.0.1:1/sse"},
                    "http": {"type": "http", "url": "http://127.0.0.1:1/mcp", "headers": {"A": "${TOKEN}"}},
                    "off": {"command": "x", "disabled": True},
                }
            }
        ),
    )
    config = load_config(mcp_config=path)
    assert config.servers["files"].kind == "stdio"
    assert config.servers["files"].args == ["-y", "server-files"]
    assert config.servers["files"].env == {"ROOT": "/tmp"}
    assert config.servers["remote"].kind == "sse"
    assert config.servers["http"].headers == {"A": "t"}
    assert list(config.enabled_servers) == ["files", "remote", "http"]


def test_mcp_json_bad_type(tmp_path: Path) -> None:
    path = _write(tmp_path / "mcp.json", json.dumps({"mcpServers": {"x": {"type": "ws", "url": "ws://h"}}}))
    with pytest.raises(ConfigError, match=r"mcpServers\.x\.type: unknown server type 'ws'"):
        load_config(mcp_config=path)


def test_mcp_json_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path / "mcp.json", "{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(mcp_config=path)


# --- server selection ------------------------------------------------------------------------------


def test_a_url_finds_the_configured_server_however_it_is_spelled() -> None:
    config = Config(
        servers={"a": ServerSettings(url="https://Example.test/mcp"), "b": ServerSettings(command="x")}
    )
    for url in ("https://example.test/mcp", "HTTPS://EXAMPLE.test:443/mcp/", "https://example.test/mcp/"):
        assert server_for_url(config, url) == ("a", config.servers["a"])
        assert select_servers(config, adhoc=[AdhocServer(url=url)]) == {"a": config.servers["a"]}
    for other in ("https://example.test/other", "http://example.test/mcp", "https://example.test:8443/mcp"):
        assert server_for_url(config, other) is None


def test_select_servers_by_name_and_url() -> None:
    config = Config(servers={"a": {"url": "http://127.0.0.1:1/mcp"}, "b": {"command": "x"}})  # type: ignore[dict-item]
    assert list(select_servers(config)) == ["a", "b"]
    assert list(select_servers(config, ["b"])) == ["b"]
    assert list(select_servers(config, adhoc=[AdhocServer(url="http://127.0.0.1:5/mcp")])) == [
        "localhost-5-mcp"
    ]
    assert list(select_servers(config, adhoc=[AdhocServer(url="https://api.example.com/v1/mcp/")])) == [
        "api-example-com-v1-mcp"
    ]
    with pytest.raises(ConfigError, match="unknown server 'c'"):
        select_servers(config, ["c"])


def test_with_no_server_enabled_the_demo_is_used_and_a_disabled_one_named_says_it_is_disabled() -> None:
    config = Config(servers={"off": {"command": "x", "enabled": False}})  # type: ignore[dict-item]
    assert list(select_servers(config)) == ["demo"]
    with pytest.raises(ConfigError, match="server 'off' is disabled") as info:
        select_servers(config, ["off"])  # never started: it would only be "could not be used"
    assert "servers.off.enabled" in str(info.value) and "enabled = true" in str(info.value)
    assert list(select_servers(config, ["demo"])) == ["demo"]


def test_bad_url_flag() -> None:
    with pytest.raises(ConfigError, match="--url"):
        select_servers(Config(), adhoc=[AdhocServer(url="ftp://example")])


# --- through the command line: exit code 2, one line, no traceback ----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_steps = \n", "not valid TOML"),
        ("colour = 'red'\n", "colour: unknown key"),
        ('[servers.w]\nurl = "${NOPE_VAR}"\n', "NOPE_VAR is not set"),
        ('model = "anthropic:"\n', "model: no model name after 'anthropic:'"),
        ('model = "  "\n', "model: the model is empty"),
        ('model = ":claude-x"\n', "model: no provider before ':'"),
    ],
)
def test_cli_exits_2_on_bad_config(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "bad.toml", text)
    assert main(["--config", str(path), "tools"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agent: {path}: ")
    assert expected in err
    assert "Traceback" not in err


def test_cli_unknown_server_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "a.toml", '[servers.web]\nurl = "http://127.0.0.1:1/mcp"\n')
    assert main(["--config", str(path), "tools", "--server", "nope"]) == 2
    err = capsys.readouterr().err
    # The flag is to blame, not the config file.
    assert err.splitlines()[0] == "agent: --server: unknown server 'nope'"
    assert "known servers: web" in err and str(path) not in err


def test_adhoc_servers_are_named_and_never_silently_dropped() -> None:
    from agent.adhoc import stdio_server_name

    config = Config(servers={"a": {"url": "http://127.0.0.1:1/mcp"}})  # type: ignore[dict-item]
    two = [AdhocServer(url="http://127.0.0.1:5/mcp"), AdhocServer(command=("python3", "srv.py", "-v"))]
    chosen = select_servers(config, adhoc=two)
    assert list(chosen) == ["localhost-5-mcp", "srv"]
    assert (chosen["srv"].command, chosen["srv"].args) == ("python3", ["srv.py", "-v"])
    # --server and --url together: both, and nothing else configured.
    assert list(select_servers(config, ["a"], two[:1])) == ["localhost-5-mcp", "a"]
    assert list(select_servers(config, adhoc=[AdhocServer(url="http://127.0.0.1:5/mcp", name="mine")])) == [
        "mine"
    ]
    with pytest.raises(ConfigError, match="two servers named 'localhost-5-mcp'"):
        select_servers(config, adhoc=[two[0], two[0]])
    with pytest.raises(ConfigError, match="two servers named 'x'"):
        select_servers(
            config, adhoc=[AdhocServer(url="http://h/1", name="x"), AdhocServer(command=("y",), name="x")]
        )
    with pytest.raises(ConfigError, match="server 'a' is given twice"):
        select_servers(config, ["a", "a"])
    with pytest.raises(ConfigError, match="server 'a' is given twice"):  # its URL and its name
        select_servers(config, ["a"], [AdhocServer(url="http://127.0.0.1:1/mcp/")])
    with pytest.raises(ConfigError, match="--name: server name 'a b'"):
        select_servers(config, adhoc=[AdhocServer(command=("y",), name="a b")])
    assert stdio_server_name(["npx", "-y", "@modelcontextprotocol/server-everything"]) == "server-everything"
    assert stdio_server_name(["uvx", "mcp-server-fetch@1.2"]) == "mcp-server-fetch"
    assert stdio_server_name(["/usr/bin/python3", "-m", "agent.demo_server"]) == "agent-demo_server"
    assert (
        stdio_server_name(["docker", "run", "-i", "--rm", "ghcr.io/github/github-mcp-server"])
        == "github-mcp-server"
    )
    assert stdio_server_name(["./my-server"]) == "my-server"
    # a launcher starting python is named by what python runs, as python itself would be
    assert stdio_server_name(["uv", "run", "--no-sync", "python", "-m", "pkg.server"]) == "pkg-server"
    assert stdio_server_name(["uv", "run", "python3", "weather.py"]) == "weather"


def test_a_bad_value_names_the_variable_or_the_file_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _write(tmp_path / "c.toml", "max_steps = 3\n")
    monkeypatch.setenv("AGENT_MAX_STEPS", "abc")
    with pytest.raises(ConfigError) as exc:
        load_config(config)
    assert str(exc.value).startswith("environment variable AGENT_MAX_STEPS: max_steps: ")
    monkeypatch.delenv("AGENT_MAX_STEPS")
    monkeypatch.setenv("AGENT_SERVERS__DOCS__TIMEOUT", "3")  # a server of a timeout alone
    with pytest.raises(
        ConfigError, match=r"^environment variable AGENT_SERVERS__DOCS__TIMEOUT: servers\.docs: "
    ):
        load_config(config)
    monkeypatch.delenv("AGENT_SERVERS__DOCS__TIMEOUT")
    mcp = tmp_path / "mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"x": {"command": "a", "timeout": "soon"}}}))
    with pytest.raises(ConfigError) as exc:
        load_config(config, mcp_config=mcp)
    assert str(exc.value).startswith(f"{mcp}: mcpServers.x.timeout: ")
    _write(config, "max_steps = 0\n")
    with pytest.raises(ConfigError) as exc:
        load_config(config, mcp_config=mcp)  # one problem in each file: each named with its own
    assert str(exc.value).startswith(f"{config}: max_steps: ")
    assert f"also {mcp}: mcpServers.x.timeout: " in str(exc.value)


def test_a_server_in_both_the_config_and_the_mcp_config_is_refused(tmp_path: Path) -> None:
    config = _write(tmp_path / "c.toml", '[servers.docs]\nurl = "http://127.0.0.1:1/mcp"\n')
    mcp = tmp_path / "mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"docs": {"command": "srv"}, "other": {"command": "x"}}}))
    with pytest.raises(ConfigError) as exc:
        load_config(config, mcp_config=mcp)
    assert str(exc.value).startswith(f"{mcp}: mcpServers.docs: server 'docs' is also in {config}")
