"""Tool search's semantic matching (agent/tool_vectors.py): the shipped word vectors and what
they find that no shared word would."""

from __future__ import annotations

import re

import pytest

from agent.tool_index import ToolIndex, split_words
from agent.tool_vectors import TABLE, WordVectors, word_vectors
from agent.tool_words import query_terms
from tests.test_tool_search import search_for, toolbox

SERVERS = ("filesystem", "git", "github", "memory", "notion", "slack", "google-maps", "kubernetes")


def _cosine(words: WordVectors, a: str, b: str) -> float:
    va, vb = (words.embed([[(words.rows[w], 1.0)]])[0] for w in (a, b))
    return float(va @ vb)


def test_the_shipped_table_holds_the_common_english_words() -> None:
    words = word_vectors()
    assert len(words.rows) == 40_000 and words.dims == 100
    assert TABLE.stat().st_size < 5_000_000
    assert {"comment", "remark", "elevation", "altitude", "delete"} <= words.rows.keys()
    assert list(words.rows)[:3] == ["the", "of", "to"]  # GloVe's order: most frequent first


def test_related_words_are_closer_than_unrelated_ones() -> None:
    words = word_vectors()
    assert _cosine(words, "remark", "comment") > _cosine(words, "remark", "keyboard") + 0.3
    assert _cosine(words, "altitude", "elevation") > _cosine(words, "altitude", "branch") + 0.3


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", split_words(text).lower()))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("remark", {("notion", "API-create-a-comment"), ("notion", "API-retrieve-a-comment")}),
        ("mountain", {("google-maps", "maps_elevation")}),
        ("itinerary", {("google-maps", "maps_directions"), ("google-maps", "maps_distance_matrix")}),
    ],
)
def test_a_query_sharing_no_word_with_the_tool_finds_it(query: str, expected: set[tuple[str, str]]) -> None:
    search = search_for(*SERVERS, search="always")
    entries = {(e.server, e.tool): e for e in search.toolbox.entries}
    asked = {term for term, _weight in query_terms(query)}
    for key in expected:  # neither the query's words nor the thesaurus's reach the tool's text
        spec = entries[key].spec
        assert not asked & _words(f"{key[1]} {spec.description} {spec.input_schema}")
    found = {(e.server, e.tool) for e in search.search(query, 3)}
    assert found & expected, found


def test_a_query_of_unknown_words_finds_nothing() -> None:
    search = search_for(*SERVERS, search="always")
    assert search.search("zqxv wvut", 5) == []


def test_the_semantic_match_follows_the_servers_tools_as_they_change() -> None:
    others = [s for s in SERVERS if s != "notion"]
    index = ToolIndex(toolbox(*SERVERS).entries)
    assert "notion" in {server for server, _tool in index.search("remark", 3)}
    index.update(toolbox(*others).entries)
    assert all(server != "notion" for server, _tool in index.search("remark", 10))
    index.update(toolbox(*SERVERS).entries)
    assert "notion" in {server for server, _tool in index.search("remark", 3)}
