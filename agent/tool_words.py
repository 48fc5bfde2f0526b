"""What a tool-search query says, in the words tools use (for :mod:`agent.tool_index`).

People ask "how big is report.pdf", "roll back the deployment", "forget what you know about
Bob"; tools are named ``get_file_info``, ``kubectl_rollout``, ``delete_entities``. A query is
turned into weighted terms for the BM25 index:

- the user's own words (weight 1), less the common words that say nothing about the tool;
- values, not words: a file name (``notes.txt``) becomes ``file``, a URL or domain
  (``github.com``) ``url``, a ``#channel`` ``channel``; numbers, quoted text and ``owner/repo``
  are arguments and are left out;
- the usual English words for the same thing (a general thesaurus of what tools do and what they
  act on, not a list of fixes for particular queries), weighted lower: ``remove`` also searches
  ``delete``, ``folder`` also ``directory``; an idiom's words give way to what it means (``how
  far`` -> ``distance``), and a name ("New York") gains nothing;
- a phrasal verb written as one word, as names do (``check out`` -> ``checkout``, ``look up`` ->
  ``lookup``), and, weighted lower, two adjacent words joined (``screen shot`` -> ``screenshot``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise

from agent.tool_thesaurus import RELATED as _RELATED

__all__ = ["query_terms"]

# Weights beside the user's own words (1.0), chosen on the dev half of bench/tool_search.py's
# queries: the words we add count a little less than what the user said; a value says only what
# kind of argument the tool takes; a phrasal verb joined is what the user said; other joined
# words are a guess (neutral on the bench).
SYNONYM_WEIGHT = 0.9
VALUE_WEIGHT = 0.5
PHRASAL_WEIGHT = 1.0
COMPOUND_WEIGHT = 0.5

_TOKEN = re.compile(
    r"""(?P<url>\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|dev|ai|app|co|edu|gov)\b\S*)
      |(?P<quoted>(?<!\w)(?:'[^']{1,80}'|"[^"]{1,80}"|`[^`]{1,80}`))
      |(?P<file>(?<![\w/.])[\w-]+\.(?P<ext>[a-z][a-z0-9]{0,4})\b(?![./]\w))
      |(?P<slug>\b[\w.-]+/[\w./-]+)
      |(?P<tag>[#@][\w-]+)
      |(?P<word>[^\W_]+)""",
    re.IGNORECASE | re.VERBOSE,
)
_NUMBER = re.compile(r"\d[\d.,:]*[a-z]{0,2}")

# Words that say nothing about which tool is meant; left out of queries (they match "a" in
# "API-retrieve-a-page" and every description).
_STOP_TEXT = """a an the to of in on at for from by with and or is are was were be been being it its this
    that these those there here my me mine i i'm you your we our us they them their what which
    whom how can could would should will shall may might must do does did done please into as so
    then than just some any all every each also about up out over under again still right
    s t m ll re ve d"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

# The particles of phrasal verbs, which names write as one word with the verb: check out ->
# checkout, log in -> login, look up -> lookup, set up -> setup, drop down -> dropdown.
_PARTICLES = frozenset(["up", "out", "in", "on", "off", "down", "back", "over"])

# Phrases whose words mean something else together: "how long does it take" is about a
# duration, not about long things or taking. Their words give way to the meaning.
_IDIOMS: Mapping[tuple[str, str], str] = {
    ("how", "big"): "size",
    ("how", "large"): "size",
    ("how", "far"): "distance",
    ("how", "long"): "duration",
    ("how", "high"): "elevation height",
    ("how", "tall"): "height",
    ("how", "many"): "count",
    ("how", "much"): "count",
    ("at", "once"): "multiple",
    ("step", "by"): "sequential",
}


def _key(word: str) -> str | None:
    """``word`` as a key of the thesaurus: as it is, or without a plural / past / -ing ending."""
    if word in _RELATED:
        return word
    for ending, put in (
        ("ies", "y"),
        ("es", ""),
        ("s", ""),
        ("ed", ""),
        ("ed", "e"),
        ("ing", ""),
        ("ing", "e"),
    ):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)] + put
            if stem in _RELATED:
                return stem
    return None


# What a value in the query is, in the words tools use for it.
_VALUE_WORDS: Mapping[str, tuple[str, ...]] = {
    "url": ("url",),
    "file": ("file",),
    "#": ("channel",),
    "@": ("user",),
}


def _tokens(query: str) -> tuple[list[str], list[str], set[str]]:
    """The query's words (lower case), the words for the values in it (``notes.txt`` ->
    ``file``), and the words that are names (capitalized after the first word: "New York",
    "Bob"), which keep their own meaning. Numbers, quoted text and ``owner/repo`` are arguments:
    left out."""
    words: list[str] = []
    values: list[str] = []
    names: set[str] = set()
    for match in _TOKEN.finditer(query):
        kind = match.lastgroup
        text = match.group()
        if kind in ("url", "file"):
            values.extend(_VALUE_WORDS[kind])
        elif kind == "tag":
            values.extend(_VALUE_WORDS[text[0]])
        elif kind == "word":
            word = text.lower()
            if _NUMBER.fullmatch(word):
                continue
            if words and text[0].isupper() and not text.isupper():  # not an acronym: PR, SQL
                names.add(word)
            words.append(word)
    return words, values, names


def _plural(word: str) -> bool:
    return (
        len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is"))
        and word not in STOP_WORDS
    )


def _asks_for_a_list(words: list[str]) -> bool:
    """ "what files are in ...", "which tabs are open": a question about several things."""
    return any(
        word in ("what", "which") and any(_plural(w) for w in words[i + 1 : i + 5])
        for i, word in enumerate(words)
    )


def _idioms(words: list[str]) -> tuple[list[str], list[str]]:
    """What the idioms among ``words`` mean, and the words left."""
    meant: list[str] = []
    left: list[str] = []
    i = 0
    while i < len(words):
        meaning = _IDIOMS.get((words[i], words[i + 1])) if i + 1 < len(words) else None
        if meaning is None:
            left.append(words[i])
            i += 1
        else:
            meant.extend(meaning.split())
            i += 2
    return meant, left


def query_terms(query: str) -> list[tuple[str, float]]:
    """The weighted words to search for ``query``, the user's own words first."""
    words, values, names = _tokens(query)
    if not words and not values:
        words = [w.lower() for w in re.findall(r"[^\W_]+", query)]
    meant, words = _idioms(words)
    kept = [w for w in words if w not in STOP_WORDS] or words
    terms: dict[str, float] = {}
    for word in [*kept, *meant]:
        terms[word] = 1.0
    for word in values:
        terms.setdefault(word, VALUE_WEIGHT)
    related: list[str] = ["list"] if _asks_for_a_list(words) else []
    for first, second in pairwise(words):
        pair = f"{first} {second}"
        if pair in _RELATED:
            related.extend(_RELATED[pair].split())
    for word in kept:
        key = None if word in names else _key(word)
        if key is not None:
            related.extend(_RELATED[key].split())
    for word in related:
        terms.setdefault(word, SYNONYM_WEIGHT)
    for first, second in pairwise(words):
        if second in _PARTICLES:
            terms.setdefault(first + second, PHRASAL_WEIGHT)
        elif first not in STOP_WORDS and second not in STOP_WORDS:
            terms.setdefault(first + second, COMPOUND_WEIGHT)
    return list(terms.items())
