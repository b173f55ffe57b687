"""Compiled SQL <-> Jinja source: which template text produced each compiled character (dbt keeps no map).

A template is cut into literal text and Jinja tags (`scan`; jinja2's lexer gives no offsets), and the
literals are aligned with the compiled SQL in order (`SourceMap.build`): a `{% for %}` body may repeat, an
`{% if %}` branch may be skipped, and a tag's output (`{{ metric }}`, a macro call) is whatever lies between
two literals. When that walk fails, difflib's monotone matching blocks stand in (`exact` is then False).
`CompiledMap` adds the manifest: the `__dbt__cte__<name>` text dbt injects is the ephemeral model `<name>`'s,
and a project macro's output is traced into the macro's file.

>>> m = SourceMap.build("{% for m in ['a', 'b'] %}{{ m }}_totl,{% endfor %}", "a_totl,b_totl,")
>>> at = m.source.index("_totl")
>>> m.exact, m.copies(at, at + 5), m.apply([(at, at + 5, "_total")])
(True, [(1, 6), (8, 13)], 'a_total,b_total,')
"""
from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass, field
from typing import Any

LITERAL, EXPRESSION, STATEMENT, COMMENT = "literal", "expression", "statement", "comment"
MAX_STATES = 200_000  # states the walk may visit before difflib takes over
_OPEN = re.compile(r"\{[{%#]")
_HEAD = re.compile(r"[-+]?\s*(?:\w+\.)?(\w+)\s*(\()?")
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_SILENT = frozenset("set do break continue import from extends".split())
_DISCARDED = {"macro": "endmacro", "set": "endset"}  # blocks whose body is not emitted
_CAPTURED = {"call": "endcall", "filter": "endfilter"}  # blocks emitted as one output
_OPENERS = {**_DISCARDED, **_CAPTURED, "for": "endfor", "if": "endif"}


@dataclass(frozen=True)
class Segment:
    """One piece of a template: literal text (the range Jinja emits) or a whole tag."""

    kind: str  # LITERAL, EXPRESSION, STATEMENT or COMMENT
    start: int  # offsets in the source, [start, end)
    end: int
    name: str = ""  # a statement's keyword (`for`), an expression's leading name (`ref`, `metric`)
    call: bool = False  # an expression that calls `name` (`{{ name(...) }}`)


@dataclass(frozen=True)
class Piece:
    """A run of compiled text and the template segment it came from."""

    start: int  # offsets in the compiled text, [start, end)
    end: int
    segment: Segment
    source: int  # for a literal: the source offset of compiled[start] (copied char for char)


def tag_end(source: str, start: int) -> int:
    """Offset just past the tag opening at `start`, skipping quoted strings inside `{{ }}` and `{% %}`."""
    close = {"{": "}}", "%": "%}", "#": "#}"}[source[start + 1]]
    i = start + 2
    while i < len(source):
        if close != "#}" and source[i] in "'\"":
            j = i + 1
            while j < len(source) and source[j] != source[i]:
                j += 2 if source[j] == "\\" else 1
            i = j + 1
        elif source.startswith(close, i):
            return i + 2
        else:
            i += 1
    return len(source)


def _tag(source: str, start: int, end: int) -> Segment:
    kind = {"{": EXPRESSION, "%": STATEMENT, "#": COMMENT}[source[start + 1]]
    head = _HEAD.match(source, start + 2, end) if kind != COMMENT else None
    return Segment(kind, start, end, head.group(1) if head else "", bool(head and head.group(2)))


def scan(source: str, template_end: bool = True) -> list[Segment]:
    """The template's literals and tags in order; literals are trimmed as `-` whitespace control trims them.

    At the end of a template (`template_end`) Jinja drops one trailing newline, as dbt keeps Jinja's default.

    >>> [(s.kind, s.name, s.end - s.start) for s in scan("select {{- ref('a') }}\\n")]
    [('literal', '', 6), ('expression', 'ref', 15), ('literal', '', 0)]
    """
    out: list[Segment] = []
    stop_text = len(source.removesuffix("\n").removesuffix("\r")) if template_end else len(source)
    pos, strip_next = 0, False
    while True:
        m = _OPEN.search(source, pos)
        start, stop = pos, max(pos, m.start() if m else stop_text)
        if strip_next:
            start = stop - len(source[start:stop].lstrip())
        if m and source[m.end():m.end() + 1] == "-":
            stop = start + len(source[start:stop].rstrip())
        out.append(Segment(LITERAL, start, stop))
        if not m:
            return out
        end = tag_end(source, m.start())
        out.append(_tag(source, m.start(), end))
        strip_next, pos = source[end - 3:end - 2] == "-", end
        if out[-1].kind == STATEMENT and out[-1].name == "raw":
            close = _ENDRAW.search(source, end)
            pos = close.start() if close else len(source)
            out.append(Segment(LITERAL, end, pos))
            strip_next = False


class _Program:
    """The template as instructions: ("lit", segment, text) | ("hole", segment) | ("split", a, b) | ("jmp", a)."""

    def __init__(self, source: str, segments: list[Segment]):
        self.source = source
        self.ops: list[list[Any]] = []
        self.frames: list[dict[str, Any]] = []
        skip: list[str] = []  # end tags of discarded blocks still open
        for seg in segments:
            if skip:
                if seg.kind == STATEMENT and seg.name == skip[-1]:
                    skip.pop()
                elif seg.kind == STATEMENT and seg.name in _OPENERS and self._opens_block(seg):
                    skip.append(_OPENERS[seg.name])
            elif seg.kind == LITERAL and seg.end > seg.start:
                self.ops.append(["lit", seg, source[seg.start:seg.end]])
            elif seg.kind == EXPRESSION:
                self.ops.append(["hole", seg])
            elif seg.kind == STATEMENT:
                skip += self._statement(seg)
        if self.frames or skip:
            raise ValueError("unbalanced block tags")

    def _opens_block(self, seg: Segment) -> bool:
        return seg.name != "set" or "=" not in self.source[seg.start:seg.end]

    def _statement(self, seg: Segment) -> list[str]:
        """Emit the instructions of one statement tag; returns the end tag to skip to, if any."""
        ops, name, frame = self.ops, seg.name, self.frames[-1] if self.frames else {}
        if name in ("for", "if"):
            self.frames.append({"kind": name, "split": len(ops), "jumps": []})
            ops.append(["split", len(ops) + 1, None])
        elif name in ("elif", "else") and frame.get("kind") == "if":
            frame["jumps"].append(len(ops))
            ops.append(["jmp", None])
            ops[frame["split"]][2] = len(ops)
            frame["split"] = len(ops) if name == "elif" else None
            if name == "elif":
                ops.append(["split", len(ops) + 1, None])
        elif name == "else" and frame.get("kind") == "for":  # the else body: after zero (or any) iterations
            ops.append(["jmp", frame["split"]])
            ops[frame["split"]][2] = len(ops)
            frame["kind"] = "for-else"
        elif name == "endfor" and frame.get("kind", "").startswith("for"):
            self.frames.pop()
            if frame["kind"] == "for":
                ops.append(["jmp", frame["split"]])
                ops[frame["split"]][2] = len(ops)
        elif name == "endif" and frame.get("kind") == "if":
            self.frames.pop()
            for at in [frame["split"]] if frame["split"] is not None else []:
                ops[at][2] = len(ops)
            for at in frame["jumps"]:
                ops[at][1] = len(ops)
        elif name in _CAPTURED:
            ops.append(["hole", seg])
            return [_CAPTURED[name]]
        elif name in _DISCARDED and self._opens_block(seg):
            return [_DISCARDED[name]]
        elif name not in _SILENT:
            ops.append(["hole", seg])  # an unknown tag may emit text
        return []


def _walk(ops: list[list[Any]], compiled: str) -> list[tuple[int, int, int]] | None:
    """(instruction, compiled start, end) of each literal and tag output on one path consuming `compiled`.

    Depth-first over (instruction, position) states with a visited set: a tag's output ends where a
    literal that may follow it starts (nearest first); a loop first tries one more iteration.
    """
    tail = len(compiled.rstrip())
    ends = _HoleEnds(ops, compiled, tail)
    parent: dict[tuple[int, int], tuple[int, int] | None] = {}
    stack: list[tuple[tuple[int, int], tuple[int, int] | None]] = [((0, 0), None)]
    while stack:
        state, came_from = stack.pop()
        if state in parent:
            continue
        parent[state] = came_from
        if len(parent) > MAX_STATES:
            return None
        pc, pos = state
        if pc >= len(ops):
            if pos >= tail:
                return _path(ops, parent, state)
            continue
        op = ops[pc]
        if op[0] == "lit":
            nexts = [(pc + 1, pos + len(op[2]))] if compiled.startswith(op[2], pos) else []
        elif op[0] == "hole":
            nexts = [(pc + 1, e) for e in ends(pc, pos)]
        elif op[0] == "split":
            nexts = [(op[1], pos), (op[2], pos)]
        else:
            nexts = [(op[1], pos)]
        stack += [(n, state) for n in reversed(nexts)]
    return None


class _HoleEnds:
    """Where a tag's output may end: before a literal that can come next, or at the end."""

    def __init__(self, ops: list[list[Any]], compiled: str, tail: int):
        self.ops, self.compiled, self.tail = ops, compiled, tail
        self.found: dict[str, list[int]] = {}
        self.nexts: dict[int, tuple[set[str], bool, bool]] = {}

    def __call__(self, pc: int, pos: int) -> list[int]:
        if pc not in self.nexts:
            self.nexts[pc] = self._next(pc + 1)
        lits, hole, end = self.nexts[pc]
        out = {pos} if hole else set()
        if end:
            out |= {max(pos, self.tail), len(self.compiled)}
        for lit in lits:
            if lit not in self.found:
                self.found[lit] = [m.start() for m in re.finditer(f"(?={re.escape(lit)})", self.compiled)]
            out.update(self.found[lit][bisect.bisect_left(self.found[lit], pos):])
        return sorted(out)

    def _next(self, pc: int) -> tuple[set[str], bool, bool]:
        lits: set[str] = set()
        hole = end = False
        seen, todo = set(), [pc]
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            op = self.ops[i] if i < len(self.ops) else ["end"]
            end |= op[0] == "end"
            hole |= op[0] == "hole"
            if op[0] == "lit":
                lits.add(op[2])
            todo += op[1:3] if op[0] == "split" else op[1:2] if op[0] == "jmp" else []
        return lits, hole, end


def _path(ops, parent, state) -> list[tuple[int, int, int]]:
    out, nxt, cur = [], state, parent[state]
    while cur is not None:
        if ops[cur[0]][0] in ("lit", "hole"):
            out.append((cur[0], cur[1], nxt[1]))
        nxt, cur = cur, parent[cur]
    return out[::-1]


def _blocks(source: str, compiled: str, segments: list[Segment]) -> list[Piece]:
    """difflib's matching blocks, cut at literal segment bounds (no repetition, no tag outputs)."""
    literals = [s for s in segments if s.kind == LITERAL and s.end > s.start]
    out = []
    for a, b, size in difflib.SequenceMatcher(None, source, compiled, autojunk=False).get_matching_blocks():
        for seg in literals:
            lo, hi = max(a, seg.start), min(a + size, seg.end)
            if lo < hi:
                out.append(Piece(b + lo - a, b + hi - a, seg, lo))
    return out


def splice(text: str, changes: list[tuple[int, int, str]]) -> str:
    """`text` with each non-overlapping (start, end, new) replacement made."""
    out, pos = [], 0
    for start, end, new in sorted(changes):
        out += [text[pos:start], new]
        pos = end
    return "".join(out) + text[pos:]


@dataclass(frozen=True)
class SourceMap:
    """One template aligned with the text it rendered to."""

    source: str
    compiled: str
    pieces: tuple[Piece, ...]  # in compiled order, not overlapping
    exact: bool  # True: the walk aligned every literal; False: difflib's matching blocks
    segments: tuple[Segment, ...] = ()
    _starts: list[int] = field(default_factory=list, init=False, compare=False, repr=False)

    @classmethod
    def build(cls, source: str, compiled: str, template_end: bool = True) -> SourceMap:
        """Align `source` (a template) with `compiled`, what it rendered to."""
        segments = scan(source, template_end)
        try:
            ops = _Program(source, segments).ops
            path = _walk(ops, compiled)
        except ValueError:
            path = None
        if path is None:
            return cls(source, compiled, tuple(_blocks(source, compiled, segments)), False, tuple(segments))
        pieces = tuple(Piece(s, e, ops[pc][1], ops[pc][1].start) for pc, s, e in path if e > s)
        return cls(source, compiled, pieces, True, tuple(segments))

    def __post_init__(self) -> None:
        self._starts.extend(p.start for p in self.pieces)

    def piece_at(self, offset: int) -> Piece | None:
        i = bisect.bisect_right(self._starts, offset) - 1
        return self.pieces[i] if i >= 0 and offset < self.pieces[i].end else None

    def source_offset(self, offset: int) -> int | None:
        """The source offset of compiled[offset] when it is literal text, else None (a tag's output)."""
        piece = self.piece_at(offset)
        return piece.source + offset - piece.start if piece and piece.segment.kind == LITERAL else None

    def literal_spans(self, start: int, end: int) -> list[tuple[int, int]]:
        """Source spans of the literal text inside compiled [start, end) (a tag's output has none)."""
        spans = []
        for piece in self.pieces:
            lo, hi = max(start, piece.start), min(end, piece.end)
            if lo < hi and piece.segment.kind == LITERAL:
                spans.append((piece.source + lo - piece.start, piece.source + hi - piece.start))
        return spans

    def copies(self, start: int, end: int) -> list[tuple[int, int]]:
        """Compiled spans holding source literal [start, end): one per loop iteration, none in a skipped branch."""
        out = []
        for p in self.pieces:
            if p.segment.kind == LITERAL and p.source <= start and end <= p.source + p.end - p.start:
                out.append((p.start + start - p.source, p.start + end - p.source))
        return out

    def tag_at(self, start: int, end: int) -> Segment | None:
        """The tag source [start, end) overlaps, if any (an edit there changes Jinja, not literal text)."""
        return next((s for s in self.segments if s.kind != LITERAL and s.start < max(end, start + 1) and start < s.end), None)

    def changes(self, start: int, end: int, new: str) -> list[tuple[int, int, str]] | None:
        """The compiled replacements one source edit makes; None when it changes Jinja this map cannot follow.

        A literal's edit changes every copy. An edit in a string of a tag changes what the tag printed of it:
        in a `{% for x in [...] %}` list, each output of `{{ x }}` that is the string; in a call's argument
        (`{{ state_counts('l.loan_stat') }}`), each place the call's output repeats the string.
        """
        tag = self.tag_at(start, end)
        if tag is None:
            return [(s, e, new) for s, e in self.copies(start, end)]
        text = self.source[tag.start:tag.end]
        strings = [m for m in re.finditer(r"""(['"])(.*?)\1""", text)
                   if tag.start + m.start(2) <= start and end <= tag.start + m.end(2)]
        loop = re.match(r"\{%[-+]?\s*for\s+(\w+)\s+in\b", text)
        if not strings or not (loop or tag.call):
            return None
        old, at = strings[0].group(2), tag.start + strings[0].start(2)
        value = old[:start - at] + new + old[end - at:]
        if loop:
            return [(p.start, p.end, value) for p in self.pieces if p.segment.kind == EXPRESSION
                    and not p.segment.call and p.segment.name == loop.group(1) and self.compiled[p.start:p.end] == old]
        printed = re.compile(rf"(?<![\w.]){re.escape(old)}(?![\w])")
        return [(m.start(), m.end(), value) for p in self.pieces if p.segment == tag
                for m in printed.finditer(self.compiled, p.start, p.end)]

    def apply(self, edits: list[tuple[int, int, str]]) -> str | None:
        """The compiled text with each source edit made in every copy (`changes`); None when one cannot be followed."""
        out: list[tuple[int, int, str]] = []
        for edit in edits:
            found = self.changes(*edit)
            if found is None:
                return None
            out += found
        return splice(self.compiled, out)
