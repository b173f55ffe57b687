"""The one YAML loader for the files adp reads and checks: safe, duplicate keys refused, errors located.

`load_yaml(text)` is `yaml.safe_load` except that a mapping holding the same key twice (a mis-indented
or copy-pasted block: YAML itself keeps only the last value, silently) raises `DuplicateKeyError`, a
`yaml.YAMLError` whose marks point at both occurrences. `error_line` and `describe` turn any YAML error
into the line a person should look at, e.g. where an unclosed quote opens rather than the end of the file
where the parser noticed it.
"""
from __future__ import annotations

from typing import Any

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_MERGE = "tag:yaml.org,2002:merge"
_UNKNOWN = object()


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping holds `key` twice; `first_mark` is its first occurrence, `problem_mark` the duplicate."""

    def __init__(self, key: str, first_mark: Mark, duplicate_mark: Mark):
        self.key, self.first_mark = key, first_mark
        super().__init__(f"while reading the key `{key}` first set", first_mark,
                         f"found duplicate key `{key}`", duplicate_mark)


def load_yaml(text: str) -> Any:
    """Parse one YAML document like `yaml.safe_load`, refusing duplicate mapping keys.

    Raises:
        yaml.YAMLError: a syntax error (with `problem_mark`/`context_mark`), or DuplicateKeyError.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_unique(loader, node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_unique(loader: yaml.SafeLoader, root: Node) -> None:
    """Raise DuplicateKeyError for the earliest duplicate key anywhere in the document."""
    found: list[DuplicateKeyError] = []
    visited: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:  # an alias: its anchor was checked already (and recursion ends here)
            continue
        visited.add(id(node))
        if isinstance(node, SequenceNode):
            stack += [(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
        elif isinstance(node, MappingNode):
            first: dict[Any, Mark] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:  # `<<: *base`: keys of its own may override the merged ones
                    stack.append((value_node, path))
                    continue
                name = "?"
                if isinstance(key_node, ScalarNode):
                    try:
                        key = loader.construct_object(key_node, deep=True)
                        hash(key)
                    except (yaml.YAMLError, TypeError):  # the constructor reports it in its own words
                        key = _UNKNOWN
                    if key is not _UNKNOWN:
                        name = key_node.value
                        if key in first:
                            full = f"{path}.{name}" if path else name
                            found.append(DuplicateKeyError(full, first[key], key_node.start_mark))
                        else:
                            first[key] = key_node.start_mark
                stack.append((value_node, f"{path}.{name}" if path else name))
    if found:
        raise min(found, key=lambda e: (e.problem_mark.line, e.problem_mark.column))


def error_line(exc: yaml.YAMLError, text: str | None = None) -> int | None:
    """The 1-based line that best locates a YAML error (None when the error carries no position).

    An unclosed quote is reported by PyYAML at the end of the file; its `context_mark` is where the quoted
    scalar started. When a later quote closed it and the parser failed further down, the quoted scalar
    that spans several lines and ends where the parser failed is the likely culprit (needs `text`).
    """
    problem = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    if isinstance(exc, DuplicateKeyError):
        return problem.line + 1
    opened = _unclosed_quote(exc, text)
    if opened is not None:
        return opened.line + 1
    mark = problem or context
    return mark.line + 1 if mark is not None else None


def describe(exc: yaml.YAMLError, text: str | None = None) -> tuple[int | None, str]:
    """(line, one-sentence problem) for a ConfigError: `line 4`, `duplicate key ...` / `invalid YAML: ...`."""
    line = error_line(exc, text)
    if isinstance(exc, DuplicateKeyError):
        return line, (f"duplicate key `{exc.key}` (first set on line {exc.first_mark.line + 1}); YAML would keep "
                      "only the last value, so remove or rename one")
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    problem_mark = getattr(exc, "problem_mark", None)
    at = f" on line {problem_mark.line + 1}" if problem_mark is not None else ""
    opened = _unclosed_quote(exc, text)
    if opened is not None and opened is getattr(exc, "context_mark", None):
        return line, f"invalid YAML: the quoted string opened on line {opened.line + 1} is never closed ({problem}{at})"
    if opened is not None:
        return line, (f"invalid YAML: {problem}{at}; the quoted string opened on line {opened.line + 1} runs on to "
                      f"line {problem_mark.line + 1}: is its closing quote missing?")
    return line, f"invalid YAML: {problem}" + (f" ({context})" if context else "")


def _unclosed_quote(exc: yaml.YAMLError, text: str | None) -> Mark | None:
    """Where an unclosed quoted scalar starts, when the error is one (else None)."""
    context, problem = getattr(exc, "context_mark", None), getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.scanner.ScannerError) and context is not None \
            and getattr(exc, "context", None) == "while scanning a quoted scalar":  # end of stream or `---`
        return context
    if text is None or problem is None:
        return None
    # A quote closed by the next string's opening quote: one quoted scalar spans lines and ends on the
    # line where the parser failed.
    suspect = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > problem.line:
                break
            if isinstance(token, yaml.ScalarToken) and token.style in ('"', "'") \
                    and token.start_mark.line < token.end_mark.line == problem.line:
                suspect = token.start_mark
    except yaml.YAMLError:
        pass
    return suspect
