"""Tool search with a sentence-similarity model (issue 16): WordLlama against the word vectors.

``uv run --with wordllama==0.4.0.post1 python bench/tool_search_dense.py [--dims 256] [--tune]``

WordLlama (PyPI, MIT) ships static token embeddings trained for semantic similarity (Llama 2's
32,000 tokens, 256 dimensions, average-pooled) in its wheel. This measures, on
bench/tool_search.py's queries and tools (223 real + 5000 distractors), recall@1/@5 per group
(dev, held-out, blind, fresh) of: BM25 alone, BM25 + the GloVe bonus (agent/tool_vectors.py,
what ships), each cosine alone, and fusions of BM25 with WordLlama's cosine (the same bonus
scheme, a linear sum, reciprocal rank fusion) or with GloVe's (same grids, for a fair
comparison). Each fusion's weights are the best on dev (recall@5, then @1; ``--tune`` prints the
grid); the other groups are only counted, and the last column counts the queries each ranking
finds (+) and loses (-) at @5 against the current one.

"GloVe" below is the shipped word table (agent/tool_vectors.py), GloVe's own vectors when this
was measured; since session 6 it holds all-MiniLM-L6-v2's (bench/build_word_vectors.py).

Measured (Dec 2026, with GloVe): WordLlama alone ranks far better than GloVe alone, but fused with BM25 it
gains at most a few fresh queries and loses one or two held-out and blind ones, and embedding
5000 tools takes ~300-400 ms of CPU (mostly the tokenizer), past the index-build budget: not
shipped. Options: ``--dims`` (64/128: Matryoshka truncation), ``--lower``, ``--no-params``,
``--terms`` (embed the query's weighted words from agent/tool_words.py instead of its text).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from tool_search import DATA, gateway, is_dev, real_tools  # noqa: E402

from agent.tool_index import ToolIndex, _parameter_names, split_words  # noqa: E402
from agent.tool_words import query_terms  # noqa: E402
from agent.tools import Toolbox  # noqa: E402


class Dense:
    """WordLlama's default model read from the installed package's files, without importing it:
    ``WordLlama.load()`` looks for the tokenizer in ``wordllama/tokenizer/`` while the wheel has
    it in ``wordllama/tokenizers/``, so it downloads it from Hugging Face (0.4.0.post1); and
    importing ``wordllama`` calls ``logging.basicConfig(level=INFO)``."""

    def __init__(self, dims: int) -> None:
        import importlib.util

        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("wordllama")
        assert spec is not None and spec.submodule_search_locations
        home = Path(spec.submodule_search_locations[0])
        table = load_file(home / "weights" / "l2_supercat_256.safetensors")["embedding.weight"]
        self.table = np.ascontiguousarray(table[:, :dims], dtype=np.float32)
        self.tokenizer = Tokenizer.from_file(str(home / "tokenizers" / "l2_supercat_tokenizer_config.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def embed(self, texts: list[str], norm: bool = True) -> Any:
        encoded = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        out = np.zeros((len(texts), self.table.shape[1]), np.float32)
        for i, enc in enumerate(encoded):
            if enc.ids:
                out[i] = self.table[enc.ids].mean(axis=0)
        if norm:
            n = np.linalg.norm(out, axis=1, keepdims=True)
            n[n == 0] = 1
            out /= n
        return out


def scores(index: ToolIndex, query: str) -> tuple[Any, Any]:
    """Each tool's BM25 score / the query's best, and its GloVe bonus (stacked order)."""
    terms = query_terms(query)
    keys, positions, _m = index._vectors.stacked()
    bm25 = np.zeros(len(keys), np.float32)
    if not terms:
        return bm25, np.zeros(len(keys), np.float32)
    text = " ".join(t if w == 1 else f"{t}^{w:g}" for t, w in terms)
    parsed, _e = index._index.parse_query_lenient(text, list(index._FIELDS), field_boosts=dict(index._BOOSTS))
    hits = index._searcher.search(parsed, 50, count=False).hits
    best = hits[0][0] if hits else 0.0
    for score, address in hits:
        key = index._keys.get(index._searcher.doc(address)["id"][0])
        if key is not None and best > 0:
            bm25[positions[key]] += score / best
    return bm25, index._vectors.bonus(terms)


def z_bonus(cos: Any, z_from: float, weight: float) -> Any:
    spread = float(cos.std()) or 1.0
    return np.maximum((cos - cos.mean()) / spread - z_from, 0) * weight


def ranks(s: Any) -> Any:
    order = np.argsort(-s, kind="stable")
    r = np.empty(len(s), np.float32)
    r[order] = np.arange(1, len(s) + 1)
    return r


def rrf(bm25: Any, cos: Any, k: float, w: float) -> Any:
    # tools BM25 did not find get no BM25 part
    part = np.where(bm25 > 0, 1 / (k + ranks(bm25)), 0)
    return part + w / (k + ranks(cos))


def hits5(rows: list[tuple[Any, set[int]]]) -> list[bool]:
    out = []
    for s, expected in rows:
        top = [i for i in np.argsort(-s, kind="stable")[:5] if s[i] > 0]
        out.append(bool(expected & set(top)))
    return out


def recall(rows: list[tuple[Any, set[int]]]) -> tuple[float, float]:
    at1 = at5 = 0
    for s, expected in rows:
        top = [i for i in np.argsort(-s, kind="stable")[:5] if s[i] > 0]
        at1 += bool(top and top[0] in expected)
        at5 += bool(expected & set(top))
    return at1 / len(rows), at5 / len(rows)


def cells(at: dict[str, tuple[float, float]], names: Any) -> str:
    """Table cells: recall@1 of each group in ``names``, then recall@5 of each."""
    return " | ".join(f"{at[n][0]:.2f}" for n in names) + " | " + " | ".join(f"{at[n][1]:.2f}" for n in names)


def paired(before: list[bool], after: list[bool]) -> str:
    """Queries gained and lost at @5 against the current ranking."""
    gained = sum(a and not b for b, a in zip(before, after, strict=True))
    lost = sum(b and not a for b, a in zip(before, after, strict=True))
    return f"+{gained} -{lost}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--tune", action="store_true", help="print the dev grid of each fusion")
    parser.add_argument("--distractors", type=int, default=5000)
    parser.add_argument("--lower", action="store_true", help="lower-case the texts for WordLlama")
    parser.add_argument("--no-params", action="store_true", help="tools' texts without parameter names")
    parser.add_argument("--terms", action="store_true", help="embed the query's weighted words, not its text")
    args = parser.parse_args()

    t0 = time.process_time()
    wl = Dense(args.dims)
    print(
        f"WordLlama's table and tokenizer read: {(time.process_time() - t0) * 1000:.0f} ms CPU, dims {args.dims}"
    )

    real, _about = real_tools()
    queries = json.loads((DATA / "tool_queries.json").read_text(encoding="utf-8"))["queries"]
    fresh = json.loads((DATA / "tool_queries_fresh.json").read_text(encoding="utf-8"))["queries"]
    box = Toolbox(None, [*real, *gateway(args.distractors)], namespaced=True)
    index = ToolIndex(box.entries)
    keys, positions, _m = index._vectors.stacked()
    by_key = {(e.server, e.tool): e for e in box.entries}
    texts = []
    for key in keys:
        e = by_key[key]
        texts.append(
            f"{split_words(e.tool)} {e.spec.description} {split_words(e.server)} {_parameter_names(e.spec.input_schema)}"
        )
    if args.no_params:
        texts = [f"{split_words(by_key[k].tool)} {by_key[k].spec.description}" for k in keys]
    if args.lower:
        texts = [t.lower() for t in texts]
    t0 = time.process_time()
    tools = wl.embed(texts, norm=True)
    print(f"embed {len(texts)} tools: {(time.process_time() - t0) * 1000:.0f} ms CPU")

    groups = {
        "dev": [q for q in queries if is_dev(q)],
        "held-out": [q for q in queries if not is_dev(q)],
        "blind": [q for q in queries if q.get("group") == "blind"],
        "fresh": fresh,
    }
    data: dict[str, list[tuple[dict[str, Any], set[int]]]] = {}
    times = []
    for name, items in groups.items():
        rows = []
        for q in items:
            t0 = time.process_time()
            qtext = " ".join(t for t, _w in query_terms(q["q"])) if args.terms else q["q"]
            qv = wl.embed([qtext.lower() if args.lower else qtext], norm=True)[0]
            cos = np.einsum("ij,j->i", tools, qv)
            times.append(time.process_time() - t0)
            bm25, glove = scores(index, q["q"])
            words = index._vectors.words
            gq = words.embed([[(r, w) for t, w in query_terms(q["q"]) for r in words.word_rows(t)]])[0]
            gcos = np.einsum("ij,j->i", index._vectors.stacked()[2], gq)
            expected = {positions[tuple(x.split(".", 1))] for x in q["expect"]}
            rows.append(({"b": bm25, "g": glove, "c": cos, "gc": gcos}, expected))
        data[name] = rows
    print(f"query embed + cosines: median {np.median(times) * 1000:.2f} ms CPU\n")

    variants: dict[str, Any] = {
        "BM25 only": lambda r, p: r["b"],
        "BM25 + GloVe (current)": lambda r, p: r["b"] + r["g"],
        "GloVe cosine alone": lambda r, p: r["gc"] + 1,
        "WordLlama cosine alone": lambda r, p: r["c"] + 1,
    }
    # fusions, their parameter chosen on dev (best recall@5, then @1)
    grids = {
        "BM25 + WL z-bonus": (
            [(z, w) for z in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0) for w in (0.03, 0.05, 0.1, 0.2, 0.3, 0.5)],
            lambda r, p: r["b"] + z_bonus(r["c"], *p),
        ),
        "BM25 + GloVe + WL z-bonus": (
            [(z, w) for z in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0) for w in (0.03, 0.05, 0.1, 0.2, 0.3, 0.5)],
            lambda r, p: r["b"] + r["g"] + z_bonus(r["c"], *p),
        ),
        "BM25 + w * WL cosine": (
            [(w,) for w in (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)],
            lambda r, p: r["b"] + p[0] * np.maximum(r["c"], 0),
        ),
        "BM25 + GloVe z-bonus (grid)": (
            [(z, w) for z in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0) for w in (0.03, 0.05, 0.1, 0.2, 0.3, 0.5)],
            lambda r, p: r["b"] + z_bonus(r["gc"], *p),
        ),
        "RRF(BM25, GloVe)": (
            [(k, w) for k in (2, 5, 10, 30, 60) for w in (0.25, 0.5, 1.0, 1.5, 2.0)],
            lambda r, p: rrf(r["b"], r["gc"], *p),
        ),
        "RRF(BM25, WL)": (
            [(k, w) for k in (2, 5, 10, 30, 60) for w in (0.25, 0.5, 1.0, 1.5, 2.0)],
            lambda r, p: rrf(r["b"], r["c"], *p),
        ),
        "RRF(BM25 + GloVe, WL)": (
            [(k, w) for k in (2, 5, 10, 30, 60) for w in (0.25, 0.5, 1.0, 1.5, 2.0)],
            lambda r, p: rrf(r["b"] + r["g"], r["c"], *p),
        ),
    }
    for label, (grid, fn) in grids.items():
        results = []
        for p in grid:
            r1, r5 = recall([(fn(r, p), e) for r, e in data["dev"]])
            results.append((r5, r1, p))
            if args.tune:
                print(f"  dev {label} {p}: @1 {r1:.2f} @5 {r5:.2f}")
        best = max(results, key=lambda x: (x[0], x[1]))[2]
        variants[f"{label} {best}"] = lambda r, p, fn=fn, best=best: fn(r, best)

    print(
        "| ranking | @1 dev | held-out | blind | fresh | @5 dev | held-out | blind | fresh | @5 vs current: held-out, blind, fresh |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    current = {n: hits5([(r["b"] + r["g"], e) for r, e in rows]) for n, rows in data.items()}
    for label, fn in variants.items():
        at = {n: recall([(fn(r, None), e) for r, e in rows]) for n, rows in data.items()}
        print(
            f"| {label} | {cells(at, groups)} | "
            + ", ".join(
                paired(current[n], hits5([(fn(r, None), e) for r, e in data[n]]))
                for n in ("held-out", "blind", "fresh")
            )
            + " |"
        )


if __name__ == "__main__":
    main()
