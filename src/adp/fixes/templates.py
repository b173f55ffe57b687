"""Rules that repair Jinja and YAML, each validated by re-parsing the whole file."""
from __future__ import annotations

import re

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from adp.fixes.confidence import REVIEW_CAP, score
from adp.fixes.context import FixContext, edit_spans, line_span, rule
from adp.yaml_load import load_yaml
from adp.models import Diagnosis, FixProposal

_DBT_TAGS = ("materialization", "test", "docs", "snapshot", "call statement")
_CLAUSE = re.compile(r"^\s*(where|group\s+by|order\s+by|having|qualify|limit|window|union|except|intersect|from|select|\{%)", re.I)
_YAML_TOP = {"version", "models", "sources", "seeds", "snapshots", "macros", "exposures", "metrics", "analyses",
             "semantic_models", "saved_queries", "unit_tests", "data_tests", "groups"}


def _jinja_ok(text: str) -> bool | None:
    """True when `text` parses as Jinja; None when it uses dbt-only tags plain Jinja cannot judge."""
    if any(re.search(rf"\{{%-?\s*{t}\b", text) for t in _DBT_TAGS):
        return None
    try:
        jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]).parse(text)
        return True
    except jinja2.TemplateSyntaxError:
        return False


@rule("dbt.jinja_syntax")
def jinja_unclosed_expression(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """`{{ ref('x') }` -> `{{ ref('x') }}` on the reported line."""
    text = ctx.read(d.file)
    if text is None:
        return []
    pat = re.compile(r"\{\{(?:(?!\}\}|\{\{|\{%).)*?(?<!\})\}(?!\})")
    hits = list(pat.finditer(text))
    if d.line and d.line <= text.count("\n") + 1:
        lo, hi = line_span(text, d.line)
        hits = [m for m in hits if lo <= m.start() <= hi] or hits
    if not hits:
        return []
    m = hits[0]
    edit = edit_spans(d.file, text, [(m.end() - 1, m.end(), "}}")])
    if edit is None:
        return []
    verified = _jinja_ok(text.replace(edit.old, edit.new, 1))
    if verified is False:
        return []
    conf = score(closeness=0.9, occurrences=len(hits), verified=verified)
    return [ctx.fix(d, "close the Jinja expression `{{ … }` with `}}`", conf, [edit])]


@rule("dbt.jinja_syntax")
def jinja_missing_end_tag(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Add the missing `{% endif %}` after the clause the block starts, or the missing `{% endfor %}` at the one
    line where the model, its loop run twice, renders to SQL that parses (else where the clause ends, for review)."""
    text = ctx.read(d.file)
    if text is None or _jinja_ok(text) is not False:
        return []
    stack: list[tuple[str, re.Match[str]]] = []
    for m in re.finditer(r"\{%-?\s*(if|for|endif|endfor)\b[^%]*-?%\}", text):
        tag = m.group(1)
        if tag in ("if", "for"):
            stack.append((tag, m))
        elif stack and stack[-1][0] == tag[3:]:
            stack.pop()
    if not stack:
        return []
    tag, opener = stack[-1]
    lines = text.split("\n")
    first = text.count("\n", 0, opener.end()) + 1  # 0-based index of the first body line
    body = [i for i in range(first, len(lines)) if lines[i].strip()]
    if not body:
        return []
    end = next((i for i in body[1:] if _CLAUSE.match(lines[i])), None)
    clear = (bool(_CLAUSE.match(lines[body[0]])) and end is not None) or len(body) == 1
    indent = ""
    if tag == "for":
        ends = _loop_ends(text, opener, [*body[1:], None], ctx)
        if ends == []:
            return []  # no place renders to SQL that parses
        if ends is not None:
            end, clear = ends[0], len(ends) == 1
            indent = re.match(r"[ \t]*", lines[first - 1]).group(0)
    tag_text = indent + "{% end" + tag + " %}"
    if end is not None:
        pos, insert = line_span(text, end + 1)[0], tag_text + "\n"
    else:
        pos, insert = len(text), (tag_text + "\n" if text.endswith("\n") else "\n" + tag_text)
    if _jinja_ok(text[:pos] + insert + text[pos:]) is False:
        return []
    edit = edit_spans(d.file, text, [(pos, pos, insert)])
    if edit is None:
        return []
    conf = score(closeness=0.85, verified=True) if clear else min(score(closeness=0.6), REVIEW_CAP)
    where = f"before line {end + 1}" if end is not None else "at the end of the file"
    return [ctx.fix(d, f"close the `{{% {tag} %}}` block {where}", conf, [edit], needs_review=not clear)]


class _AnyName(jinja2.Undefined):
    """A name dbt would provide (ref, source, var, a package): callable, with any attribute, rendered as a name."""

    def __call__(self, *args: object, **kwargs: object) -> "_AnyName":
        return self

    def __getattr__(self, name: str) -> "_AnyName":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __str__(self) -> str:
        return "adp_name"


class _OutsideLoop(Exception):
    """The text after a candidate `{% endfor %}` still reads the loop variable."""


class _LoopVariable:
    def __str__(self) -> str:
        raise _OutsideLoop


_FOR_HEAD = re.compile(r"\{%-?\s*for\s+(?P<target>.+?)\s+in\s+.+?-?%\}", re.S)
_RENDER_GLOBALS = {"config": lambda *a, **k: "", "is_incremental": lambda: False}


def _loop_ends(text: str, opener: re.Match[str], lines: list[int | None], ctx: FixContext) -> list[int | None] | None:
    """Of the 0-based lines before which `{% endfor %}` could go (None: the end of the file), those after which the
    model renders to SQL that parses with the loop run twice (those whose body ends on a line reading the loop, when
    there are any); None when that cannot be judged (a macro file, dbt-only tags, no SQL parser). Jinja runs
    sandboxed: the file is untrusted text."""
    head = _FOR_HEAD.match(opener.group(0))
    if head is None or re.search(r"\{%-?\s*macro\b", text):
        return None
    targets = [t.strip("() ") for t in head.group("target").split(",")]
    items = [tuple(f"adp_{t}_{i}" for t in targets) if len(targets) > 1 else f"adp_{targets[0]}_{i}" for i in (1, 2)]
    loop = text[:opener.start()] + "{% for " + head.group("target") + " in adp_items %}"
    env = SandboxedEnvironment(undefined=_AnyName, extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    context = {**_RENDER_GLOBALS, **{t: _LoopVariable() for t in targets}, "adp_items": items}
    found: list[int | None] = []
    for line in lines:
        pos = line_span(text, line + 1)[0] if line is not None else len(text)
        try:
            sql = env.from_string(loop + text[opener.end():pos] + "{% endfor %}\n" + text[pos:]).render(context)
        except _OutsideLoop:
            continue
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError):
            return None
        verdict = ctx.sql_parses(sql)
        if verdict is None:
            return None
        if verdict:
            found.append(line)
    # a body whose last line does not read the loop repeats a fixed select item (`"Net Amount"` twice)
    reading = [e for e in found if _reads_loop(text[:line_span(text, e + 1)[0]] if e is not None else text, targets)]
    return reading or found


def _reads_loop(before: str, targets: list[str]) -> bool:
    """Whether the last non-blank line of `before` uses a loop variable (or `loop.`) inside Jinja."""
    last = next((ln for ln in reversed(before.split("\n")) if ln.strip()), "")
    words = re.compile(rf"\b(?:{'|'.join(map(re.escape, [*targets, 'loop']))})\b")
    return any(words.search(m.group(0)) for m in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", last))


def _dbt_shape(doc: object, project_file: bool) -> bool:
    """The parsed file still looks like dbt YAML: known top-level keys, named resource entries."""
    if not isinstance(doc, dict):
        return False
    if project_file:
        return "name" in doc
    if not set(doc) <= _YAML_TOP:
        return False
    for key in _YAML_TOP - {"version"}:
        items = doc.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
            return False
        for i in items:
            cols = i.get("columns")
            if cols is not None and not (isinstance(cols, list) and all(isinstance(c, dict) and "name" in c for c in cols)):
                return False
    return True


@rule("dbt.yaml_syntax")
def yaml_repair(d: Diagnosis, ctx: FixContext) -> list[FixProposal]:
    """Re-indent a line (or close a bracket) near the parser's error so the whole file parses again."""
    text = ctx.read(d.file)
    if text is None or not (d.file or "").endswith((".yml", ".yaml")):
        return []
    try:
        load_yaml(text)
        return []
    except yaml.MarkedYAMLError as exc:
        marks = {m.line for m in (exc.problem_mark, exc.context_mark) if m is not None}
    except yaml.YAMLError:
        return []
    lines = text.split("\n")
    indents = sorted({len(line) - len(line.lstrip(" ")) for line in lines if line.strip()})
    todo = sorted({i for m in marks for i in range(max(0, m - 3), min(len(lines), m + 1)) if lines[i].strip()})
    project_file = d.file.endswith("dbt_project.yml")
    variants: dict[tuple[int, str], float] = {}
    for i in todo:
        line = lines[i]
        stripped = line.lstrip(" ")
        key = stripped.split(":")[0] if ":" in stripped else stripped[:2]
        same_key = [len(x) - len(x.lstrip(" ")) for j, x in enumerate(lines) if j != i and x.strip() and x.lstrip(" ").startswith(key)]
        for n in indents:
            if n != len(line) - len(stripped):
                variants[(i, " " * n + stripped)] = same_key.count(n) / (len(same_key) or 1)
        code = line.split(" #")[0].rstrip()
        for opener, closer in (("[", "]"), ("{", "}")):
            if code.count(opener) > code.count(closer):
                variants[(i, code + closer + line[len(code):])] = 1.0
    good = []
    for (i, new_line), fit in variants.items():
        candidate = "\n".join(lines[:i] + [new_line] + lines[i + 1:])
        try:
            doc = load_yaml(candidate)
        except yaml.YAMLError:
            continue
        if _dbt_shape(doc, project_file):
            good.append((fit, i, new_line))
    if not good:
        return []
    good.sort(key=lambda g: (-g[0], g[1]))
    fit, i, new_line = good[0]
    margin = 1.0 if len(good) == 1 else good[0][0] - good[1][0]
    edit = edit_spans(d.file, text, [(*line_span(text, i + 1), new_line)])
    if edit is None:
        return []
    conf = score(closeness=0.85, margin=margin, verified=True)
    return [ctx.fix(d, f"repair line {i + 1} so the file parses again (checked with a YAML parser)", conf, [edit])]
