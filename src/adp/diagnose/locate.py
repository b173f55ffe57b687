"""Finding an identifier in a source file (model, macro, YAML): the line a person would edit.

The engine names what it read in a node's compiled SQL; `CompiledMap` says which file, line and node (the
model, an ephemeral model injected as `__dbt__cte__<name>`, a project macro) wrote each compiled character.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

from adp.diagnose.sourcemap import EXPRESSION, LITERAL, STATEMENT, Piece, Segment, SourceMap, splice, tag_end

if TYPE_CHECKING:
    from adp.artifacts import Manifest

Reader = Callable[["str | None"], "str | None"]  # a project file's text by relative path (None when absent)
MAX_MACRO_DEPTH = 3  # macro calls traced into macros called by macros
_COMMENT = re.compile(r"^\s*(--|#)")
_ENDMACRO = re.compile(r"\{%[-+]?\s*endmacro\b")


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


@dataclass(frozen=True)
class Origin:
    """Where one compiled character came from: a project file and the node or macro that owns it."""

    node: str | None  # the model, ephemeral model or macro whose file holds it
    file: str | None  # relative to the project
    line: int | None  # 1-based, in `file`
    offset: int | None = None  # in `file`, when the character is literal text there
    tag: str | None = None  # the Jinja tag whose output it is (None for literal text)
    macro: str | None = None  # unique_id of the macro whose call wrote it


@dataclass(frozen=True)
class SourceEdit:
    """Replace [start, end) of a project file with `new`."""

    file: str
    start: int
    end: int
    new: str


@dataclass(frozen=True)
class _Layer:
    """A template (a file, or a macro's body in it) and the compiled text it wrote, from compiled `start`."""

    node: str | None
    file: str | None
    text: str  # the whole file
    base: int  # offset in `text` where the template starts
    map: SourceMap
    start: int
    children: tuple[_Layer, ...] = ()
    macro: str | None = None

    def holds(self, offset: int) -> bool:
        return self.start <= offset < self.start + len(self.map.compiled)

    def line(self, at: int) -> int:
        return self.text.count("\n", 0, at) + 1


class CompiledMap:
    """A node's compiled SQL traced to project files: its template, its ephemeral CTEs, its project macros.

    >>> m = CompiledMap.build("{{ config(materialized='view') }}\\nselect {{ x }}_totl", "\\nselect a_totl")
    >>> m.origin(m.compiled.index("_totl")).line, m.source_edit(8, 14, "a_total")
    (2, SourceEdit(file='', start=52, end=52, new='a'))
    """

    def __init__(self, compiled: str, root: _Layer):
        self.compiled = compiled
        self.root = root

    @classmethod
    def build(cls, source: str, compiled: str) -> CompiledMap:
        """A map of one template and its output, without a manifest (file '')."""
        return cls(compiled, _Layer(None, "", source, 0, SourceMap.build(source, compiled), 0))

    @classmethod
    def for_node(cls, manifest: Manifest, uid: str, read: Reader, compiled: str | None = None) -> CompiledMap | None:
        """The map of `uid`'s compiled SQL (`compiled`, else the manifest's); None without compiled SQL."""
        compiled = compiled or (manifest.node(uid) or {}).get("compiled_code")
        return cls(compiled, _Builder(manifest, read).node(uid, compiled, 0)) if compiled else None

    def layers(self, layer: _Layer | None = None) -> Iterator[_Layer]:
        layer = layer or self.root
        yield layer
        for child in layer.children:
            yield from self.layers(child)

    def _chain(self, offset: int) -> list[_Layer]:
        chain = [self.root]
        while nxt := next((c for c in chain[-1].children if c.holds(offset)), None):
            chain.append(nxt)
        return chain

    def origin(self, offset: int) -> Origin:
        """Where compiled[offset] came from; text a macro printed from its arguments is the call's."""
        chain = self._chain(offset)
        macro = None
        for layer in reversed(chain):
            piece = layer.map.piece_at(offset - layer.start)
            if piece is None:
                return Origin(layer.node, layer.file, None, macro=macro or layer.macro)
            if piece.segment.kind == LITERAL:
                at = layer.base + piece.source + offset - layer.start - piece.start
                return Origin(layer.node, layer.file, layer.line(at), at, macro=macro or layer.macro)
            if layer.macro is None:
                at = layer.base + piece.segment.start
                tag = layer.text[at:layer.base + piece.segment.end]
                return Origin(layer.node, layer.file, layer.line(at), tag=tag, macro=macro or self._called(chain, layer))
            macro = macro or layer.macro
        return Origin(self.root.node, self.root.file, None)

    def _called(self, chain: list[_Layer], layer: _Layer) -> str | None:
        i = chain.index(layer)
        return chain[i + 1].macro if i + 1 < len(chain) else None

    def origin_of_line(self, line: int) -> Origin | None:
        """The origin of a compiled line (1-based): its first literal character, else its first character."""
        lines = self.compiled.split("\n")
        if not 1 <= line <= len(lines):
            return None
        start = sum(len(x) + 1 for x in lines[:line - 1])
        found = [self.origin(start + i) for i, c in enumerate(lines[line - 1]) if not c.isspace()]
        return next((o for o in found if o.offset is not None), found[0] if found else self.origin(start))

    def source_edit(self, start: int, end: int, new: str) -> SourceEdit | None:
        """The one source edit that turns compiled [start, end) into `new` (in every copy); None in Jinja."""
        old = self.compiled[start:end]
        pre = len(_common_prefix(old, new))
        suf = len(_common_prefix(old[pre:][::-1], new[pre:][::-1]))
        lo, hi, repl = start + pre, end - suf, new[pre:len(new) - suf]
        layer = self._chain(lo)[-1]
        for at in (lo, lo - 1):
            piece = layer.map.piece_at(at - layer.start)
            if piece and piece.segment.kind == LITERAL and hi - layer.start <= piece.end:
                src = layer.base + piece.source + lo - layer.start - piece.start
                return SourceEdit(layer.file or "", src, src + hi - lo, repl)
        piece = layer.map.piece_at(lo - layer.start)
        return self._loop_value(layer, piece, lo, hi, repl) if piece else None

    def _loop_value(self, layer: _Layer, piece: Piece, lo: int, hi: int, repl: str) -> SourceEdit | None:
        """`{% for m in ['stg_a', 'stg_bb'] %}...{{ m }}`: the edit is in the list's string."""
        seg = piece.segment
        if seg.kind != EXPRESSION or seg.call:
            return None
        loops = [s for s in layer.map.segments if s.kind == STATEMENT and s.name == "for" and s.end <= seg.start
                 and re.match(rf"\{{%[-+]?\s*for\s+{re.escape(seg.name)}\s+in\b", layer.map.source[s.start:s.end])]
        if not loops:
            return None
        value = layer.map.compiled[piece.start:piece.end]
        tag = layer.map.source[loops[-1].start:loops[-1].end]
        hits = [m for m in re.finditer(r"""(['"])(.*?)\1""", tag) if m.group(2) == value]
        if len(hits) != 1:
            return None
        at = layer.base + loops[-1].start + hits[0].start(2)
        cut = lo - layer.start - piece.start
        return SourceEdit(layer.file or "", at + cut, at + cut + hi - lo, repl)

    def apply(self, edits: list[SourceEdit]) -> str | None:
        """The compiled SQL with each edit made in every compiled copy; None when one has no copy or cannot be followed."""
        changes: list[tuple[int, int, str]] = []
        for edit in edits:
            found: list[tuple[int, int, str]] = []
            for layer in self.layers():
                if layer.file == edit.file and layer.base <= edit.start and edit.end <= layer.base + len(layer.map.source):
                    local = layer.map.changes(edit.start - layer.base, edit.end - layer.base, edit.new)
                    if local is None:
                        return None
                    found += [(layer.start + s, layer.start + e, new) for s, e, new in local]
            if not found:
                return None
            changes += found
        return splice(self.compiled, changes)


def _common_prefix(a: str, b: str) -> str:
    return a[:next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))]


class _Builder:
    """Builds the layers of a node: its own template, each injected CTE's model, each project macro call."""

    def __init__(self, manifest: Manifest, read: Reader):
        self.manifest = manifest
        self.read = read
        self.package = manifest.project_name

    def node(self, uid: str, compiled: str, start: int) -> _Layer:
        node = self.manifest.node(uid) or {}
        rel = node.get("original_file_path")
        text = (self.read(rel) if (rel or "").endswith(".sql") else None) or node.get("raw_code") or ""
        own, gap, bodies = _strip_ctes(compiled, node.get("extra_ctes") or [])
        smap = SourceMap.build(text, own)
        if gap:
            smap = _widen(smap, compiled, *gap)
        children = [self.node(cte, body, start + at) for cte, at, body in bodies]
        return _Layer(uid, rel, text, 0, smap, start, tuple(children + self.macros(smap, start, 0)))

    def macros(self, smap: SourceMap, start: int, depth: int) -> list[_Layer]:
        """A layer per call of a project macro in `smap` (macro calls nested up to MAX_MACRO_DEPTH)."""
        out = []
        for piece in smap.pieces if depth < MAX_MACRO_DEPTH else ():
            macro = self._macro(piece.segment) if piece.segment.call else None
            rel = (macro or {}).get("original_file_path")
            file_text = self.read(rel) or ""
            body = _macro_body(file_text, macro["name"]) if macro else None
            if body is None:
                continue
            lo, hi = body
            smap_m = SourceMap.build(file_text[lo:hi], smap.compiled[piece.start:piece.end], template_end=False)
            nested = self.macros(smap_m, start + piece.start, depth + 1)
            out.append(_Layer(macro["unique_id"], rel, file_text, lo, smap_m, start + piece.start, tuple(nested), macro["unique_id"]))
        return out

    def _macro(self, seg: Segment) -> dict[str, Any] | None:
        return next((m for m in self.manifest.macros.values()
                     if m.get("name") == seg.name and m.get("package_name") == self.package), None)


def _strip_ctes(compiled: str, ctes: list[dict[str, Any]]) -> tuple[str, tuple[int, int] | None, list[tuple[str, int, str]]]:
    """Undo dbt's `inject_ctes_into_sql`: the node's own compiled text, the injected range, each CTE's body."""
    sqls = [c.get("sql") or "" for c in ctes]
    joined = ", ".join(sqls)
    at = compiled.find(joined) if ctes and all(sqls) else -1
    after = at + len(joined)
    if at < 0:
        return compiled, None, []
    if compiled.startswith(", ", after):
        gap = (at, len(joined) + 2)  # `with <ctes>, <the node's own ctes>`
    elif compiled[max(0, at - 4):at].lower() == "with" and compiled.startswith(" ", after):
        gap = (at - 4, len(joined) + 5)  # `with <ctes> select ...`
    else:
        return compiled, None, []
    bodies, pos = [], at
    for cte, sql in zip(ctes, sqls):
        head = sql.find(" as (\n") + len(" as (\n")
        bodies.append((cte["id"], pos + head, sql[head:-2]))  # sql is ` name as (\n<body>\n)`
        pos += len(sql) + 2
    return compiled[:gap[0]] + compiled[gap[0] + gap[1]:], gap, bodies


def _widen(smap: SourceMap, compiled: str, at: int, length: int) -> SourceMap:
    """`smap` over the text with `length` characters inserted at `at` (which no piece then covers)."""
    pieces = []
    for p in smap.pieces:
        if p.end <= at:
            pieces.append(p)
        elif p.start >= at:
            pieces.append(Piece(p.start + length, p.end + length, p.segment, p.source))
        else:
            pieces += [Piece(p.start, at, p.segment, p.source), Piece(at + length, p.end + length, p.segment, p.source + at - p.start)]
    return replace(smap, compiled=compiled, pieces=tuple(pieces))


def _macro_body(text: str, name: str) -> tuple[int, int] | None:
    """[start, end) of what macro `name`'s body emits in `text` (whitespace control applied)."""
    head = re.search(rf"\{{%[-+]?\s*macro\s+{re.escape(name)}\s*\(", text)
    close = _ENDMACRO.search(text, head.end()) if head else None
    if not close:
        return None
    start, end = tag_end(text, head.start()), close.start()
    if text[start - 3] == "-":
        start = end - len(text[start:end].lstrip())
    if text[end + 2] == "-":
        end = start + len(text[start:end].rstrip())
    return start, end
