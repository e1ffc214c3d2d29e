"""Title search terms: folding, deletion variants, and the one-edit typo contract."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketmaster.domain.search import (
    MAX_QUERY_WORDS,
    MIN_TYPO_WORD,
    deletion_variants,
    query_words,
    terms,
    typo_tolerant,
)


def meets(query_word: str, title_term: str) -> bool:
    """How the index joins a query word to a title term: prefix, or shared deletion variant."""
    if title_term.startswith(query_word):
        return True
    return typo_tolerant(query_word) and bool(deletion_variants(query_word) & deletion_variants(title_term))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Taylor Swift: The Eras Tour", ["taylor", "swift", "the", "eras", "tour"]),
        ("Beyoncé — Renaissance", ["beyonce", "renaissance"]),
        ("Les Misérables", ["les", "miserables"]),
        ("Rosalía & Karol G", ["rosalia", "karol", "g"]),
        ("AC/DC Live 2027", ["ac", "dc", "live", "2027"]),
        ("Tour tour TOUR", ["tour"]),
        ("", []),
        ("!!! ???", []),
    ],
)
def test_terms_are_folded_lowercase_words_in_order_without_duplicates(text: str, expected: list[str]) -> None:
    assert terms(text) == expected


def test_deletion_variants_are_the_term_and_every_single_deletion() -> None:
    assert deletion_variants("swift") == {"swift", "wift", "sift", "swft", "swit", "swif"}
    assert deletion_variants("abc") == {"abc", "bc", "ac", "ab"}
    assert deletion_variants("ab") == {"ab"}
    assert deletion_variants("aab") == {"aab", "ab", "aa"}


def test_query_words_are_capped() -> None:
    q = " ".join(f"w{i}" for i in range(MAX_QUERY_WORDS + 5))
    assert query_words(q) == [f"w{i}" for i in range(MAX_QUERY_WORDS)]
    assert query_words("  SWIFT  eras ") == ["swift", "eras"]


def test_only_words_of_min_length_are_typo_tolerant() -> None:
    assert MIN_TYPO_WORD == 4
    assert not typo_tolerant("tay")
    assert typo_tolerant("swft")


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("swfit", "swift"),  # adjacent transposition
        ("swif", "swift"),  # prefix
        ("swiftt", "swift"),  # insertion
        ("swit", "swift"),  # deletion
        ("swoft", "swift"),  # substitution
        ("tay", "taylor"),  # short words still match as a prefix
        ("beyonce", "beyonce"),
    ],
)
def test_one_edit_or_a_prefix_meets_the_term(query: str, term: str) -> None:
    assert meets(query, term)


@pytest.mark.parametrize(
    ("query", "term"),
    [
        ("sqoft", "swift"),  # two substitutions
        ("wsfti", "swift"),  # two transpositions
        ("tya", "taylor"),  # short word with a typo: exact or prefix only
        ("cold", "swift"),
    ],
)
def test_two_edits_or_a_short_typo_do_not_meet(query: str, term: str) -> None:
    assert not meets(query, term)


_words = st.text(alphabet=string.ascii_lowercase, min_size=MIN_TYPO_WORD + 1, max_size=12)


@given(word=_words, data=st.data())
def test_any_single_edit_of_a_term_still_meets_it(word: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=0, max_value=len(word) - 2))
    letter = data.draw(st.sampled_from(string.ascii_lowercase))
    edits = [
        word[:i] + word[i + 1 :],  # deletion
        word[:i] + letter + word[i:],  # insertion
        word[:i] + letter + word[i + 1 :],  # substitution
        word[:i] + word[i + 1] + word[i] + word[i + 2 :],  # adjacent transposition
    ]
    for edited in edits:
        assert meets(edited, word), edited
