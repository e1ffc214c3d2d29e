"""Title search terms: how titles and queries become index keys (pure).

Typo tolerance: a term is indexed under itself and its single-character deletions; a
query word meets a title word when their variant sets intersect, which covers one
insertion, deletion, substitution or adjacent transposition ("swfit" ~ "swift").
"""

from __future__ import annotations

import re
import unicodedata

MIN_TYPO_WORD = 4  # shorter query words match exactly or as a prefix only
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"[0-9a-z]+")


def terms(text: str) -> list[str]:
    """Lower-cased, accent-free alphanumeric words of ``text``, in order, de-duplicated."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return list(dict.fromkeys(_WORD.findall(folded)))


def deletion_variants(term: str) -> set[str]:
    """The term itself plus every string one deletion away (none for very short terms)."""
    if len(term) < MIN_TYPO_WORD - 1:
        return {term}
    return {term} | {term[:i] + term[i + 1 :] for i in range(len(term))}


def query_words(q: str) -> list[str]:
    """The words of a search query that take part in matching (bounded in number)."""
    return terms(q)[:MAX_QUERY_WORDS]


def typo_tolerant(word: str) -> bool:
    return len(word) >= MIN_TYPO_WORD
