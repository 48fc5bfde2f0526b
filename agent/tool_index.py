"""The ranking behind tool search (:mod:`agent.tool_search`): a BM25 index of tools.

tantivy (imported when the first index is built) over five fields: the tool's name split into
words (``read_text_file``, ``getFileInfo``, ``API-post-search``), its description, its parameter
names, the parameters' descriptions and enum values, and its server's names; stemmed
(``files`` finds ``file``); and, for words no tool uses, a semantic bonus from word vectors
(:mod:`agent.tool_vectors`: "altitude" finds ``maps_elevation``). A query becomes weighted words first (:mod:`agent.tool_words`: its
common words left out, values such as ``notes.txt`` named for what they are, the usual words for
the same thing added). :meth:`ToolIndex.update` re-indexes only
the servers whose tools changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.tool_vectors import ToolVectors
from agent.tool_words import query_terms
from agent.tools import ToolEntry

__all__ = ["ToolIndex", "split_words"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[\W_]+")


def split_words(text: str) -> str:
    """``text`` with names taken apart into words: ``getFileInfo`` -> ``get File Info``,
    ``read_text_file`` -> ``read text file``, ``API-post-search`` -> ``API post search``."""
    return " ".join(_CAMEL.sub(" ", _NON_WORD.sub(" ", text)).split())


def _parameter_names(schema: Mapping[str, Any]) -> str:
    properties = schema.get("properties")
    return split_words(" ".join(map(str, properties))) if isinstance(properties, Mapping) else ""


def _parameter_text(schema: Mapping[str, Any]) -> str:
    """The top-level parameters' descriptions and enum values ("Travel mode: driving, walking")."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return ""
    out = []
    for prop in properties.values():
        if isinstance(prop, Mapping):
            description = prop.get("description")
            if isinstance(description, str):
                out.append(description)
            enum = prop.get("enum")
            if isinstance(enum, list):
                out.extend(str(v) for v in enum)
    return " ".join(out)


# BM25 hits looked at per query (their scores are added to the semantic bonus of every tool).
BM25_CANDIDATES = 50


class ToolIndex:
    """A BM25 index of tools (tantivy, in memory), keyed by ``(server, tool)``.

    :meth:`update` replaces the documents of the servers whose tools changed and leaves the rest."""

    _FIELDS = ("name", "description", "params", "param_text", "server")
    _BOOSTS: Mapping[str, float] = {
        "name": 2.0,
        "description": 1.0,
        "params": 0.5,
        "param_text": 0.3,
        "server": 1.5,
    }

    def __init__(
        self, entries: Iterable[ToolEntry] = (), server_names: Mapping[str, str] | None = None
    ) -> None:
        import tantivy

        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("id", stored=True, indexed=False)
        builder.add_text_field("server_key", tokenizer_name="raw", index_option="basic")
        for name in self._FIELDS:
            builder.add_text_field(name, tokenizer_name="en_stem", index_option="freq")
        self._tantivy = tantivy
        self._index = tantivy.Index(builder.build())
        self._writer = self._index.writer(15_000_000, 1)
        self._keys: dict[int, tuple[str, str]] = {}  # document id -> (server, tool)
        self._name_words: dict[int, tuple[str, ...]] = {}  # document id -> its name's words
        self._by_server: dict[str, tuple[int, dict[int, tuple[str, str]]]] = {}  # fingerprint, docs
        self._next_id = 0
        self._searcher: Any = None
        self._vectors = ToolVectors()
        self.update(entries, server_names)

    def __len__(self) -> int:
        return len(self._keys)

    def update(self, entries: Iterable[ToolEntry], server_names: Mapping[str, str] | None = None) -> int:
        """Index exactly these tools; only servers whose tools changed are re-indexed. Returns
        how many tools were (re)indexed."""
        grouped: dict[str, list[ToolEntry]] = {}
        for entry in entries:
            grouped.setdefault(entry.server, []).append(entry)
        names = server_names or {}
        writer = self._writer
        changed = 0
        for server in [s for s in self._by_server if s not in grouped]:
            writer.delete_documents_by_term("server_key", server)
            for doc_id in self._by_server.pop(server)[1]:
                del self._keys[doc_id], self._name_words[doc_id]
            self._vectors.drop(server)
        for server, tools in grouped.items():
            params = [_parameter_names(e.spec.input_schema) for e in tools]
            fingerprint = hash(
                (names.get(server, ""), *((e.tool, e.spec.description) for e in tools), *params)
            )
            previous = self._by_server.get(server)
            if previous is not None and previous[0] == fingerprint:
                continue
            if previous is not None:
                writer.delete_documents_by_term("server_key", server)
                for doc_id in previous[1]:
                    del self._keys[doc_id], self._name_words[doc_id]
            server_words = f"{split_words(server)} {split_words(names.get(server, ''))}"
            docs: dict[int, tuple[str, str]] = {}
            name_words = [split_words(e.tool) for e in tools]
            for entry, entry_name, entry_params in zip(tools, name_words, params, strict=True):
                doc_id = self._next_id
                self._next_id += 1
                docs[doc_id] = self._keys[doc_id] = (entry.server, entry.tool)
                self._name_words[doc_id] = tuple(entry_name.lower().split())
                writer.add_document(
                    self._tantivy.Document(
                        id=doc_id,
                        server_key=server,
                        name=entry_name,
                        description=entry.spec.description,
                        params=entry_params,
                        param_text=_parameter_text(entry.spec.input_schema),
                        server=server_words,
                    )
                )
            self._by_server[server] = (fingerprint, docs)
            self._vectors.set(
                server,
                [(e.server, e.tool) for e in tools],
                [
                    (f"{name} {e.spec.description} {server_words}", p)
                    for e, name, p in zip(tools, name_words, params, strict=True)
                ],
            )
            changed += len(tools)
        writer.commit()
        self._index.reload()
        self._searcher = self._index.searcher()
        return changed

    def search(self, query: str, limit: int) -> list[tuple[str, str]]:
        """The ``(server, tool)`` keys that best match ``query``, best first: BM25 (divided by
        the query's best BM25 score) plus the semantic bonus of :mod:`agent.tool_vectors`."""
        import numpy as np

        terms = query_terms(query)
        if not terms or limit < 1:
            return []
        text = " ".join(term if weight == 1 else f"{term}^{weight:g}" for term, weight in terms)
        parsed, _errors = self._index.parse_query_lenient(
            text, list(self._FIELDS), field_boosts=dict(self._BOOSTS)
        )
        searcher = self._searcher
        keys, positions, _matrix = self._vectors.stacked()
        scores = self._vectors.bonus(terms)
        hits = searcher.search(parsed, max(limit, BM25_CANDIDATES), count=False).hits
        best = hits[0][0] if hits else 0.0
        for score, address in hits:
            key = self._keys.get(searcher.doc(address)["id"][0])
            if key is not None and best > 0:
                scores[positions[key]] += score / best
        top = np.argpartition(-scores, limit)[:limit] if len(scores) > limit else range(len(scores))
        ranked = sorted((i for i in top if scores[i] > 0), key=lambda i: -scores[i])
        return [keys[i] for i in ranked] or self._by_prefix(query, limit)

    def _by_prefix(self, query: str, limit: int) -> list[tuple[str, str]]:
        """When nothing matched a whole word: the tools with a name word that starts with one of
        the query's (``calc`` finds ``calculate``, ``repo`` ``list_repositories``), those with
        the most such words first."""
        starts = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) >= 3}
        found = [
            (-sum(any(w.startswith(s) for w in words) for s in starts), doc_id)
            for doc_id, words in self._name_words.items()
        ]
        return [self._keys[doc_id] for n, doc_id in sorted(f for f in found if f[0] < 0)[:limit]]
