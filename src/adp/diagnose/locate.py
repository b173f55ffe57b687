"""Finding an identifier in a source file (model, macro, YAML): the line a person would edit."""
from __future__ import annotations

import re

_COMMENT = re.compile(r"^\s*(--|#)")


def find_line(text: str, needle: str, whole_word: bool = True, unique: bool = False) -> int | None:
    """1-based number of the first non-comment line holding `needle` (as a whole word by default);
    with `unique`, None unless exactly one line holds it."""
    if not needle:
        return None
    pattern = re.compile(rf"(?<![\w]){re.escape(needle)}(?![\w])" if whole_word else re.escape(needle), re.I)
    hits = [n for n, line in enumerate(text.splitlines(), 1) if not _COMMENT.match(line) and pattern.search(line)]
    return hits[0] if hits and (len(hits) == 1 or not unique) else None


def find_text(text: str, fragment: str) -> int | None:
    """1-based line of a quoted source fragment (whitespace-insensitive), e.g. the engine's `LINE n:` text."""
    want = " ".join(fragment.split()).lower()
    if not want:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if " ".join(line.split()).lower() == want:
            return number
    for number, line in enumerate(text.splitlines(), 1):
        if want in " ".join(line.split()).lower():
            return number
    return None


def find_yaml_key(text: str, key: str, value: str) -> int | None:
    """1-based line of `key: value` (or `- value` list item when key is empty) in a YAML file."""
    value_re = rf"[\"']?{re.escape(value)}[\"']?\s*(#.*)?$"
    pattern = re.compile(rf"^\s*(-\s+)?{re.escape(key)}:\s*{value_re}" if key else rf"^\s*-\s+{value_re}")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.search(line):
            return number
    return None


def find_pattern(text: str, pattern: str) -> int | None:
    """1-based number of the first non-comment line matching the regular expression `pattern`."""
    regex = re.compile(pattern, re.I)
    for number, line in enumerate(text.splitlines(), 1):
        if not _COMMENT.match(line) and regex.search(line):
            return number
    return None
