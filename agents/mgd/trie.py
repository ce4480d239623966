"""A character trie over a tokenizer's vocabulary: which tokens may come next inside an identifier.

Given the identifiers a monitor allows and what the model already typed of one (`partial`),
a token is admitted iff its text either stays inside some allowed identifier (it is a prefix of
the rest of one) or finishes one and then leaves identifier characters (`rest` + a non-identifier
character + anything). Walking the trie along each allowed rest costs its length, not the
vocabulary's size; the set of tokens below a node that start with a non-identifier character is
computed once per node and kept.
"""
from __future__ import annotations

from typing import Iterable


def is_identifier_char(char: str) -> bool:
    return char == "_" or char.isalnum()


class _Node:
    __slots__ = ("children", "ending", "_leaving")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ending: list[int] = []  # ids of tokens whose text ends exactly here
        self._leaving: list[int] | None = None

    def subtree_ids(self) -> list[int]:
        ids, stack = [], [self]
        while stack:
            node = stack.pop()
            ids.extend(node.ending)
            stack.extend(node.children.values())
        return ids

    def leaving_ids(self) -> list[int]:
        """Tokens that continue from here with a non-identifier character first."""
        if self._leaving is None:
            self._leaving = [i for char, child in self.children.items() if not is_identifier_char(char)
                             for i in child.subtree_ids()]
        return self._leaving


class TokenTrie:
    """Built once per tokenizer from each token id's decoded text (empty texts are never admitted)."""

    def __init__(self, token_texts: Iterable[tuple[int, str]]):
        self.root = _Node()
        for token_id, text in token_texts:
            if not text:
                continue
            node = self.root
            for char in text:
                node = node.children.setdefault(char, _Node())
            node.ending.append(token_id)

    def allowed(self, names: Iterable[str], partial: str = "") -> set[int]:
        """Ids of tokens consistent with typing on from `partial` towards one of `names`."""
        admitted: set[int] = set()
        for name in names:
            if name and name.startswith(partial):
                self._walk(name[len(partial):], admitted)
        return admitted

    def _walk(self, rest: str, admitted: set[int]) -> None:
        node = self.root
        for char in rest:
            node = node.children.get(char)
            if node is None:
                return
            admitted.update(node.ending)  # a token that ends inside (or at the end of) the name
        admitted.update(node.leaving_ids())  # the name is complete: whatever leaves the identifier


def admitted_by_brute_force(token_texts: Iterable[tuple[int, str]], names: Iterable[str], partial: str = "") -> set[int]:
    """The definition the trie implements, token by token (the reference in tests)."""
    rests = [name[len(partial):] for name in names if name and name.startswith(partial)]
    admitted = set()
    for token_id, text in token_texts:
        for rest in rests:
            inside = bool(text) and rest.startswith(text)
            leaving = text.startswith(rest) and len(text) > len(rest) \
                and not is_identifier_char(text[len(rest)])
            if inside or leaving:
                admitted.add(token_id)
                break
    return admitted
