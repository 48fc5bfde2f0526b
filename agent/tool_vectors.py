"""Semantic matching for tool search (:mod:`agent.tool_index`): word vectors.

"remark" and "comment", "altitude" and "elevation" share no letters; word vectors put them
close. The table, ``agent/data/word_vectors.bin`` (built by ``bench/build_word_vectors.py``),
holds the 40,000 most frequent English words of GloVe 6B (in its order), each with the vector
the retrieval model all-MiniLM-L6-v2 (Apache-2.0) gives the word alone, as int8 unit vectors:
the model distilled into a word table, so that no model runs here (credits and licenses in
``agent/data/word_vectors.NOTICE``).

A text becomes one vector: the sum of its words' vectors, each weighted by how rare the word is
(smooth inverse frequency from the word's rank: "get" counts less than "elevation"), less the
direction all texts share, at unit length (Arora, Liang and Ma 2017). A query's vector is
compared with every tool's (cosine); a tool far above the query's average (``Z_FROM`` standard
deviations) gains a bonus on top of its BM25 score. numpy and the table (~4 MB) are loaded when
the first index is built, never before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

__all__ = ["ToolVectors", "WordVectors", "word_vectors"]

TABLE = Path(__file__).parent / "data" / "word_vectors.bin"
_MAGIC = b"AGENT-WORD-VECTORS 1\n"
_WORD = re.compile(r"[a-z]+")
# bytes.translate's table: a-z and line breaks kept, every other byte a space.
_LETTERS = bytes.maketrans(
    bytes(range(256)), bytes(c if 97 <= c <= 122 or c == 10 else 32 for c in range(256))
)
_LINE_BREAK = -2

# Smooth inverse frequency: weight a / (a + p(word)), p from Zipf's law on the word's rank in the
# table. The commonest words weigh ~0.1, words past rank ~2000 close to 1.
_SIF_A = 1e-3

# Chosen on the dev half of bench/tool_search.py's queries (with and without the thesaurus of
# agent/tool_words.py, to stand for phrasings it does not know): a tool whose cosine with the
# query is more than Z_FROM standard deviations above the mean over all tools gains DENSE_WEIGHT
# per further deviation, added to its BM25 score divided by the query's best BM25 score. Lower
# thresholds let generic tools (of which a gateway has thousands) crowd the results.
Z_FROM = 2.0
DENSE_WEIGHT = 0.1


class WordVectors:
    """The word table: each word's row, weight and unit vector."""

    def __init__(self, path: Path = TABLE) -> None:
        import numpy as np

        data = path.read_bytes()
        if not data.startswith(_MAGIC):
            raise ValueError(f"{path} is not a word vector table")
        header_end = data.index(b"\n", len(_MAGIC))
        header = json.loads(data[len(_MAGIC) : header_end])
        count, dims = int(header["words"]), int(header["dims"])
        words_end = header_end + 1 + int(header["words_bytes"])
        words = data[header_end + 1 : words_end - 1].decode("ascii").split("\n")
        self.rows: dict[str, int] = {word: i for i, word in enumerate(words)}
        self._rows_or_break = {w.encode(): i for w, i in self.rows.items()} | {b"\n": _LINE_BREAK}
        self.dims = dims
        raw = np.frombuffer(data, dtype=np.int8, count=count * dims, offset=words_end)
        matrix = raw.reshape(count, dims).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        ranks = np.arange(count, dtype=np.float32)
        weights = _SIF_A / (_SIF_A + 0.1 / (ranks + 10))
        # Rows times their weight, and a zero row (index ``count``) for texts with no known word.
        weighted = np.vstack([matrix * weights[:, None], np.zeros((1, dims), np.float32)])
        self._weighted_t: Matrix = np.ascontiguousarray(weighted.T)
        self._none = count
        common = weighted[:count].mean(axis=0)
        self._common: Matrix = common / np.linalg.norm(common)

    def word_rows(self, text: str) -> list[int]:
        """The rows of ``text``'s words (lower-case a-z words; unknown ones left out)."""
        rows = self.rows
        return [row for word in _WORD.findall(text.lower()) if (row := rows.get(word)) is not None]

    def embed(self, texts: Iterable[Sequence[tuple[int, float]]]) -> Matrix:
        """One unit vector per text, from its ``(row, weight)`` pairs (zero for no known word)."""
        rows: list[int] = []
        weights: list[float] = []
        starts: list[int] = []
        for pairs in texts:
            starts.append(len(rows))
            rows.append(self._none)  # every text has a row, so reduceat sees no empty one
            weights.append(0.0)
            for row, weight in pairs:
                rows.append(row)
                weights.append(weight)
        return self._embed(rows, weights, starts)

    def embed_tools(self, texts: Sequence[tuple[str, str]]) -> Matrix:
        """One unit vector per tool, from its main text and a text whose words count half (its
        parameter names)."""
        import numpy as np

        # One pass over all the texts, one line each (main and minor in turn), letters kept and
        # the rest made spaces by bytes.translate: thousands of re.findall calls cost ~3x more.
        text = "\n".join(
            f"{main}\n{minor}"
            for main, minor in ((m.replace("\n", " "), n.replace("\n", " ")) for m, n in texts)
        )
        get = self._rows_or_break.get
        tokens = (
            text.lower().encode("ascii", "replace").translate(_LETTERS).replace(b"\n", b" \n ").split(b" ")
        )
        found = np.fromiter((get(token, -1) for token in tokens if token), dtype=np.intp)
        line = np.cumsum(found == _LINE_BREAK)  # each word's line: its tool's is line // 2
        known = found >= 0
        rows = found[known]
        line = line[known]
        weights = np.where(line % 2 == 0, np.float32(1.0), np.float32(0.5))
        starts = np.searchsorted(line // 2, np.arange(len(texts)))
        # each tool's words begin with the zero row, so that a tool without known words sums to 0
        rows = np.insert(rows, starts, self._none)
        weights = np.insert(weights, starts, 0.0)
        return self._embed(rows, weights, starts + np.arange(len(texts)))

    def _embed(self, rows: Any, weights: Any, starts: Any) -> Matrix:
        import numpy as np

        if not len(starts):
            return np.zeros((0, self.dims), np.float32)
        # Dimensions first: numpy's reduceat is ~3 times faster along the last axis.
        parts = self._weighted_t[:, np.asarray(rows, dtype=np.intp)]
        parts *= np.asarray(weights, np.float32)
        sums: Any = np.add.reduceat(parts, np.asarray(starts, dtype=np.intp), axis=1).T
        # einsum, not @: a matrix-vector product through a multi-threaded BLAS costs 10-40 times
        # more CPU on a busy machine
        sums -= np.outer(np.einsum("ij,j->i", sums, self._common), self._common)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return (sums / norms).astype(np.float32)  # type: ignore[no-any-return]


@cache
def word_vectors() -> WordVectors:
    """The shipped table, read once per process."""
    return WordVectors()


Key = tuple[str, str]


class ToolVectors:
    """The tools' vectors, per server, and each query's semantic bonus for every tool."""

    def __init__(self) -> None:
        self.words = word_vectors()
        self._servers: dict[str, tuple[list[Key], Matrix]] = {}
        self._stacked: tuple[list[Key], dict[Key, int], Matrix] | None = None

    def set(self, server: str, keys: Sequence[Key], texts: Sequence[tuple[str, str]]) -> None:
        """The tools of ``server``: their keys, and each one's main text and parameter names."""
        self._servers[server] = (list(keys), self.words.embed_tools(texts))
        self._stacked = None

    def drop(self, server: str) -> None:
        self._servers.pop(server, None)
        self._stacked = None

    def stacked(self) -> tuple[list[Key], dict[Key, int], Matrix]:
        """Every tool's key, its position, and the matrix of their vectors (one row each)."""
        if self._stacked is None:
            import numpy as np

            keys = [key for server_keys, _m in self._servers.values() for key in server_keys]
            matrices = [m for _k, m in self._servers.values()]
            matrix = np.vstack(matrices) if matrices else np.zeros((0, self.words.dims), np.float32)
            self._stacked = (keys, {key: i for i, key in enumerate(keys)}, matrix)
        return self._stacked

    def bonus(self, terms: Sequence[tuple[str, float]]) -> Matrix:
        """Each tool's semantic bonus for a query of these weighted terms (in :meth:`stacked`'s
        order): DENSE_WEIGHT per standard deviation its cosine lies past Z_FROM."""
        import numpy as np

        words = self.words
        matrix = self.stacked()[2]
        query = words.embed([[(r, w) for term, w in terms for r in words.word_rows(term)]])[0]
        cosines = np.einsum("ij,j->i", matrix, query)
        if len(cosines) < 2 or not query.any():
            return np.zeros(len(cosines), np.float32)
        spread = float(cosines.std()) or 1.0
        return np.maximum((cosines - cosines.mean()) / spread - Z_FROM, 0) * DENSE_WEIGHT  # type: ignore[no-any-return]
