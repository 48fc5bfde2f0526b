"""Tool search (agent/tool_search.py): when it turns on, what each step offers, the search tool,
the index. Tools are the published servers' own (snapshots in bench/data/servers/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types
import pytest

from agent.config import ToolSearchSettings
from agent.mcp.manager import ServerTool
from agent.messages import AssistantMessage, Message, ToolCallPart, UserMessage
from agent.tool_index import ToolIndex, split_words
from agent.tool_search import ToolSearch
from agent.tool_words import query_terms
from agent.tools import Toolbox

DATA = Path(__file__).resolve().parents[1] / "bench" / "data" / "servers"


def server_tools(*names: str) -> list[ServerTool]:
    out = []
    for name in names:
        snapshot = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
        out.extend(ServerTool(name, mcp_types.Tool.model_validate(t)) for t in snapshot["tools"])
    return out


def toolbox(*names: str) -> Toolbox:
    return Toolbox(None, server_tools(*names), namespaced=len(names) > 1)


def search_for(*names: str, pins: dict[str, list[str]] | None = None, **settings: Any) -> ToolSearch:
    return ToolSearch(toolbox(*names), ToolSearchSettings(**settings), pins)


def called(*calls: tuple[str, dict[str, Any]]) -> list[Message]:
    parts = tuple(ToolCallPart(f"c{i}", name, args) for i, (name, args) in enumerate(calls))
    return [UserMessage.of("hi"), AssistantMessage(parts)]


def test_names_are_split_into_words() -> None:
    assert split_words("read_text_file") == "read text file"
    assert split_words("getFileInfo") == "get File Info"
    assert split_words("API-post-search") == "API post search"
    assert split_words("HTMLToMarkdown v2") == "HTML To Markdown v2"


def test_below_the_threshold_every_tool_is_offered_as_before() -> None:
    search = search_for("time", "git", "filesystem")  # 28 tools
    offer = search.offer()
    assert not offer.active
    assert offer.specs_for([]) == search.toolbox.specs
    assert offer.resolve("search_tools") is None


def test_more_tools_than_the_threshold_turn_search_on() -> None:
    search = search_for("time", "git", "filesystem", search_threshold=20)
    offer = search.offer()
    assert offer.active
    assert [s.name for s in offer.specs_for([UserMessage.of("hi")])] == ["search_tools"]


def test_the_token_threshold_turns_search_on_too() -> None:
    search = search_for("notion", search_threshold_tokens=1000)  # 24 tools with large schemas
    assert search.tool_tokens() > 1000
    assert search.offer().active
    assert not search_for("notion").offer().active


def test_always_and_never() -> None:
    assert search_for("time", search="always").offer().active
    assert not search_for("github", "playwright", "chrome-devtools", search="never").offer().active


def test_a_providers_tool_limit_turns_search_on_even_with_never() -> None:
    search = search_for("github", "playwright", "chrome-devtools", search="never")  # 83 tools
    assert search.offer(max_tools=128).active is False
    offer = search.offer(max_tools=50)
    assert offer.active
    assert len(offer.specs_for(called(("search_tools", {"query": "browser", "limit": 20})))) <= 50


async def test_search_tools_returns_matches_and_they_are_offered_next_step() -> None:
    search = search_for("time", "git", "filesystem", "github", "slack", "kubernetes")
    offer = search.offer()
    assert offer.active
    entry = offer.resolve("search_tools")
    assert entry is not None and entry.builtin and entry.server == "agent"
    result = await offer.call("search_tools", {"query": "convert a time between time zones", "limit": 3})
    assert not result.is_error
    found = json.loads(result.text)
    assert found[0]["name"] == "time__convert_time" and found[0]["server"] == "time"
    assert found[0]["parameters"]["source_timezone"].startswith("string, required")
    history = called(("search_tools", {"query": "convert a time between time zones", "limit": 3}))
    names = [s.name for s in offer.specs_for(history)]
    assert names[0] == "search_tools" and names[1:] == [f["name"] for f in found]
    full = next(s for s in offer.specs_for(history) if s.name == "time__convert_time")
    assert full.input_schema == search.toolbox.resolve("time__convert_time").spec.input_schema  # type: ignore[union-attr]


async def test_bad_search_arguments_are_an_error_the_model_can_read() -> None:
    offer = search_for("github", "slack", "kubernetes", search="always").offer()
    assert (await offer.call("search_tools", {})).is_error
    assert (await offer.call("search_tools", {"query": "x", "limit": "many"})).is_error
    assert "no tools match" in (await offer.call("search_tools", {"query": "zzzzqqq"})).text


def test_pinned_and_used_tools_are_offered() -> None:
    search = search_for(
        "time", "git", "filesystem", "github", "slack", "kubernetes", pins={"git": ["git_status"]}
    )
    offer = search.offer()
    history = called(("slack__slack_post_message", {"channel_id": "C1", "text": "hi"}))
    names = [s.name for s in offer.specs_for(history)]
    assert names == ["search_tools", "git__git_status", "slack__slack_post_message"]


def test_the_offer_never_grows_past_the_threshold() -> None:
    search = search_for("github", "playwright", "chrome-devtools", "kubernetes", search_threshold=30)
    offer = search.offer()
    queries = ["browser page", "pull request", "kubernetes pod", "issue comment", "click", "screenshot"]
    history = called(*(("search_tools", {"query": q, "limit": 20}) for q in queries))
    specs = offer.specs_for(history)
    assert len(specs) == 30 and specs[0].name == "search_tools"
    # The latest search's tools are kept; the oldest found ones gave way.
    latest = search.found_names("screenshot", 20)
    assert set(latest) <= {s.name for s in specs}


def test_the_index_is_updated_only_for_the_servers_that_changed() -> None:
    index = ToolIndex(toolbox("time", "git", "github").entries)
    assert len(index) == 2 + 12 + 26
    changed_git = [
        t
        for t in server_tools("git")
        if t.tool.name != "git_log"  # a server whose list changed
    ]
    box = Toolbox(None, [*server_tools("time"), *changed_git, *server_tools("github")], namespaced=True)
    assert index.update(box.entries) == 11
    assert len(index) == 2 + 11 + 26
    assert ("git", "git_log") not in index.search("commit log history", 20)
    assert index.update(Toolbox(None, server_tools("time"), namespaced=True).entries) == 0
    assert index.search("pull request", 5) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("what time is it in Tokyo", ("time", "get_current_time")),
        ("open a pull request on GitHub", ("github", "create_pull_request")),
        ("post a message in a Slack channel", ("slack", "slack_post_message")),
        ("show the pod logs", ("kubernetes", "kubectl_logs")),
    ],
)
def test_ranking_finds_the_tool_a_user_means(query: str, expected: tuple[str, str]) -> None:
    search = search_for("time", "git", "filesystem", "github", "slack", "kubernetes")
    assert expected in [(e.server, e.tool) for e in search.search(query, 5)]


def test_a_query_keeps_the_users_words_and_drops_the_common_ones() -> None:
    terms = dict(query_terms("please show me the logs of the api pod"))
    assert {"show", "logs", "api", "pod"} <= set(terms)
    assert not {"please", "me", "the", "of"} & set(terms)
    assert terms["show"] == 1.0


def test_values_in_a_query_become_what_they_are() -> None:
    terms = dict(query_terms("when was report.pdf last changed? see https://example.com/x and #general"))
    assert "file" in terms and "url" in terms and "channel" in terms
    assert "report" not in terms and "pdf" not in terms and "example" not in terms
    # Numbers, quoted text and owner/repo are arguments, not what the tool does.
    terms = dict(query_terms("pick 'Germany' in facebook/react issue 42"))
    assert set(terms) >= {"pick", "issue"}
    assert not {"germany", "facebook", "react", "42"} & set(terms)
    assert query_terms("42") == [("42", 1.0)]  # a query of nothing else keeps what it has


def test_a_query_gains_the_usual_words_for_the_same_thing() -> None:
    terms = dict(query_terms("remove the folders"))
    assert {"delete", "directory"} <= set(terms)  # plural "folders" found too
    assert "distance" in dict(query_terms("how far is Lyon"))  # idioms
    assert "login" in dict(query_terms("sign in to the site"))  # two-word phrases
    assert dict(query_terms("check out the branch"))["checkout"] == 1.0  # phrasal verbs joined
    assert "rollback" in dict(query_terms("roll back the release"))
    assert "screenshot" in dict(query_terms("screen shot"))  # adjacent words joined, weighted lower
    assert "doyou" not in dict(query_terms("what do you know"))  # common words are not joined
    assert "current" in dict(query_terms("what time is it now"))
    # An idiom's words give way to its meaning; a name keeps its own.
    terms = dict(query_terms("how long does it take to drive to New York"))
    assert terms["duration"] == 1.0 and "long" not in terms
    assert "new" in terms and "create" not in terms
    assert "pull" in dict(query_terms("open a PR"))  # an acronym is not a name
    # A question about several things asks for a list; about one thing, not.
    assert "list" in dict(query_terms("which tabs are open"))
    assert "list" not in dict(query_terms("what address is at 48.85, 2.29"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("list the files in a folder", ("filesystem", "list_directory")),  # folder -> directory
        ("searching for repositories", ("github", "search_repositories")),  # stemmed
        ("erase a kubernetes pod", ("kubernetes", "kubectl_delete")),  # erase -> delete
        ("how big is notes.txt", ("filesystem", "get_file_info")),  # notes.txt -> file, big -> size
        ("go to example.com", ("playwright", "browser_navigate")),  # a domain -> url, go -> navigate
    ],
)
def test_stemming_synonyms_and_values_find_the_tool(query: str, expected: tuple[str, str]) -> None:
    search = search_for("filesystem", "git", "kubernetes", "playwright", "github")
    assert expected in [(e.server, e.tool) for e in search.search(query, 5)]


def test_a_word_that_matches_nothing_whole_finds_the_names_it_begins() -> None:
    index = ToolIndex(toolbox("time", "git").entries)
    assert index.search("conv", 5) == [("time", "convert_time")]
    assert index.search("curr tim", 5)[0] == ("time", "get_current_time")  # two words begin it
    assert index.search("zzqx", 5) == []
