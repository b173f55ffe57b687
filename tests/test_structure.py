"""The package's shape, read from its source with `ast`: no import cycle, the terminal only in the CLI, small modules."""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "adp"
# The CLI, and the renderers it injects into the library, are the only modules that talk to a terminal.
TERMINAL_MODULES = {"adp.cli", "adp.progress"}  # and the adp.cli.* command modules
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node anywhere (functions included), except the body of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports_in(child)
            continue
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    yield from _imports(node)


def _resolve(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    """The adp modules an import statement loads (the deepest known module of each dotted name)."""
    def deepest(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        # `from adp.x import y`: y is a submodule (adp.x.y) or a name defined in adp.x.
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    found = {deepest(n) for n in names if n == "adp" or n.startswith("adp.")}
    found.discard(None)
    found.discard(module)
    return found  # type: ignore[return-value]


def _graph() -> dict[str, set[str]]:
    known = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        edges: set[str] = set()
        for node in _imports(_tree(path)):
            edges |= _resolve(module, path, node, known)
        graph[module] = edges
    return graph


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); returns the components with more than one module or a self-loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    components.append(sorted(component))
    return components


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One closed path through a component (breadth-first from its first module back to it)."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if child not in came_from:
                    came_from[child] = node
                    nxt.append(child)
        frontier = nxt
    return component


def _file(module: str) -> str:
    return str(_modules()[module].relative_to(SRC.parent))


def test_no_import_cycles_among_adp_modules():
    graph = _graph()
    cycles = _strongly_connected(graph)
    lines = []
    for component in cycles:
        lines.append(f"{len(component)} modules import each other: {', '.join(component)}")
        lines.append("  e.g. " + " -> ".join(_file(m) for m in _cycle_in(component, graph)))
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(lines)


def test_the_cycle_finder_sees_cycles_and_function_level_imports():
    tree = ast.parse("import os\ndef f():\n    from adp import b\nif TYPE_CHECKING:\n    import adp.c\n")
    known = {"adp": Path("adp/__init__.py"), "adp.a": Path("adp/a.py"), "adp.b": Path("adp/b.py"), "adp.c": Path("adp/c.py")}
    found = set().union(*(_resolve("adp.a", known["adp.a"], n, known) for n in _imports(tree)))
    assert found == {"adp.b"}
    tree = ast.parse("from . import b, VERSION\nfrom .c import x\n")
    found = set().union(*(_resolve("adp.a", known["adp.a"], n, known) for n in _imports(tree)))
    assert found == {"adp", "adp.b", "adp.c"}
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycle_in(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def _terminal_uses(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for every click import, stdin read, print call and direct stdout/stderr write."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if a.name.split(".")[0] == "click"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "click" and not node.level:
            found.append((node.lineno, f"from {node.module} import ..."))
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("print", "input"):
                found.append((node.lineno, f"{func.id}()"))
            elif isinstance(func, ast.Attribute):
                dotted = _dotted(func)
                if dotted in ("sys.stdout.write", "sys.stderr.write", "sys.stdout.writelines", "sys.stderr.writelines",
                              "click.echo", "click.secho", "click.prompt", "click.confirm"):
                    found.append((node.lineno, f"{dotted}()"))
        elif isinstance(node, ast.Attribute) and _dotted(node) == "sys.stdin":
            found.append((node.lineno, "sys.stdin"))
    return sorted(set(found))


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_only_the_cli_talks_to_the_terminal():
    offenders = []
    for module, path in _modules().items():
        if module in TERMINAL_MODULES or module.startswith("adp.cli."):
            continue
        offenders += [f"{_file(module)}:{line}: {what}" for line, what in _terminal_uses(_tree(path))]
    assert not offenders, ("library code imports click, reads stdin or prints (log, return a value, or take a "
                           "callback the CLI passes):\n" + "\n".join(offenders))


def test_the_terminal_check_sees_each_kind_of_use():
    code = ("import click\nfrom click import echo\nimport sys\nprint(1)\ninput()\nsys.stdout.write('x')\n"
            "sys.stderr.write('x')\nclick.echo('x')\nsys.stdin.read()\nlog.info('fine')\n")
    assert [what for _, what in _terminal_uses(ast.parse(code))] == [
        "import click", "from click import ...", "print()", "input()", "sys.stdout.write()", "sys.stderr.write()",
        "click.echo()", "sys.stdin"]


def test_no_module_is_over_400_lines():
    long = sorted((n, _file(m)) for m, p in _modules().items()
                  if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES)
    assert not long, f"modules over {MAX_LINES} lines (split by concept):\n" + "\n".join(f"{f}: {n}" for n, f in long)
