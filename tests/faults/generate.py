"""Generated fault cases: one typo per case at a site picked at random, with the expected diagnosis computed.

    .venv/bin/python tests/faults/generate.py --seed 17            # print the cases it would write
    .venv/bin/python tests/faults/generate.py --seed 17 --write    # write tests/faults/gen_<class>_<n>/
    .venv/bin/python tests/faults/corpus.py record gen_...         # then record them with the real dbt

For each class the eligible sites of the project(s) are found by pattern, `random.Random(seed)` picks the
sites and the mutation (drop, swap or double a letter), and the typo is kept only when it is no other name
of the project, of the package or of DuckDB, and the original is its one nearest name. The same seed gives
the same files. Sites are in non-ephemeral models only, so the failing node is the mutated model.
"""
from __future__ import annotations

import argparse
import difflib
import json
import random
import re
import shutil
from pathlib import Path

import yaml

FAULTS = Path(__file__).resolve().parent
PROJECTS = FAULTS.parents[1] / "tests" / "projects"
PER_CLASS = 2
SQL_WORDS = {"select", "from", "where", "with", "as", "and", "or", "not", "on", "join", "left", "inner", "group",
             "by", "all", "union", "end", "case", "when", "then", "else", "null", "true", "false", "final", "distinct"}
SPECIAL_SYNTAX = {"cast", "try_cast", "extract", "position", "substring", "trim", "overlay"}  # `f(x as t)`: a typo is a syntax error


def duckdb_names() -> set[str]:
    import duckdb

    con = duckdb.connect()
    rows = con.execute("select function_name from duckdb_functions() union select keyword_name from duckdb_keywords()")
    return {r[0].lower() for r in rows.fetchall()}


def distance(a: str, b: str) -> int:
    """Edit distance with adjacent swaps counted once (optimal string alignment)."""
    d = [[i + j if not i * j else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


class Project:
    def __init__(self, name: str):
        self.name, self.dir = name, PROJECTS / name
        self.config = yaml.safe_load((self.dir / "dbt_project.yml").read_text(encoding="utf-8"))
        spec = self.dir / "packages.yml"
        listed = (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("packages", []) if spec.is_file() else []
        local = [(self.dir / p["local"]).resolve() for p in listed if "local" in p]
        self.packages = {d.name: d for d in local}
        self.files = {p.relative_to(self.dir).as_posix(): p.read_text(encoding="utf-8")
                      for p in sorted((self.dir / "models").rglob("*.sql"))}
        texts = [p.read_text(encoding="utf-8") for d in (self.dir, *local) for p in sorted(d.rglob("*"))
                 if p.suffix in (".sql", ".yml")]
        texts += [p.read_text(encoding="utf-8").split("\n", 1)[0] for p in sorted(self.dir.rglob("*.csv"))]
        self.words = {w.lower() for text in texts for w in re.findall(r"\w+", text)}
        self.quoted = {q for text in self.files.values() for q in re.findall(r'"([A-Za-z][\w ]*)"', text)}
        self.resources = sorted(p.stem for sub in ("models", "seeds", "snapshots") for p in (self.dir / sub).rglob("*")
                                if p.suffix in (".sql", ".csv"))
        self.macros = {pkg: sorted(re.findall(r"\{%-?\s*macro\s+(\w+)", "".join(p.read_text() for p in d.rglob("*.sql"))))
                       for pkg, d in self.packages.items()}

    def materialized(self, rel: str) -> str:
        m = re.search(r"materialized\s*=\s*['\"](\w+)", self.files[rel])
        if m:
            return m.group(1)
        node, mat = self.config.get("models", {}).get(self.name, {}), "view"
        for part in [*rel.split("/")[1:-1], Path(rel).stem]:
            mat = node.get("+materialized", mat)
            node = node.get(part) if isinstance(node.get(part), dict) else {}
        return node.get("+materialized", mat)

    def models(self):
        """(rel, text) of every non-ephemeral model."""
        return [(rel, text) for rel, text in self.files.items() if self.materialized(rel) != "ephemeral"]


def mutations(word: str, rng: random.Random) -> list[str]:
    """Every drop, swap and double of one letter of `word`, in an order drawn from rng."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    out = [word[:i] + word[i + 1:] for i in letters]
    out += [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in letters if i + 1 < len(word) and word[i + 1].isalpha()
            and word[i] != word[i + 1]]
    out += [word[:i] + word[i] + word[i:] for i in letters]
    rng.shuffle(out)
    return out


def typo(word: str, universe: set[str], taken: set[str], rng: random.Random) -> str | None:
    """A mutation of `word` that names nothing else and whose one nearest name in `universe` is `word`."""
    for t in mutations(word, rng):
        near = (u for u in universe - {word} if abs(len(u) - len(t)) <= 1 and distance(t, u) <= 1)
        if t.lower() not in taken and t not in universe and next(near, None) is None:
            return t
    return None


# Sites: (rel, start, end, word, extra) with [start, end) the span of `word` in the file's text.
def sites_column(p: Project):
    for rel, text in p.models():
        for m in re.finditer(r"(?m)^[ \t]+(?:\w+\.)?(\w+)(?:[ \t]+as[ \t]+\w+)?,?$", text):
            if m.group(1).lower() not in SQL_WORDS:
                yield rel, m.start(1), m.end(1), m.group(1), {}


def sites_loop_literal(p: Project):
    for rel, text in p.models():
        loops = {m.group(1): m.group(2) for m in re.finditer(r"\{%-?\s*for\s+(\w+)\s+in\s+(.+?)\s*-?%\}", text)}
        sets = dict(re.findall(r"\{%-?\s*set\s+(\w+)\s*=\s*(var\('\w+'\))\s*-?%\}", text))
        for m in re.finditer(r"\w+\.\{\{\s*(\w+)\s*\}\}_(\w+)", text):
            var = re.fullmatch(r"var\('(\w+)'\)", sets.get(loops.get(m.group(1), ""), loops.get(m.group(1), "")))
            values = var and p.config.get("vars", {}).get(p.name, p.config.get("vars", {})).get(var.group(1))
            if values:
                yield rel, m.start(2), m.end(2), m.group(2), {"first": values[0]}


def sites_function(p: Project, builtins: set[str]):
    for rel, text in p.models():
        jinja = [range(m.start(), m.end()) for m in re.finditer(r"\{[{%].*?[}%]\}", text, re.S)]
        for m in re.finditer(r"\b([a-z_]+)\(", text):
            if m.group(1) in builtins and m.group(1) not in SQL_WORDS | SPECIAL_SYNTAX and not any(m.start() in r for r in jinja):
                yield rel, m.start(1), m.end(1), m.group(1), {}


def sites_quoted(p: Project):
    for rel, text in p.models():
        for m in re.finditer(r'(?<!as )"([A-Za-z][\w ]* [\w ]*)"', text):
            yield rel, m.start(1), m.end(1), m.group(1), {}


def sites_ref(p: Project):
    for rel, text in p.files.items():
        for m in re.finditer(r"ref\(\s*'(\w+)'\s*\)", text):
            yield rel, m.start(1), m.end(1), m.group(1), {}


def sites_package_macro(p: Project):
    for rel, text in p.models():
        for pkg in p.packages:
            for m in re.finditer(rf"\b{pkg}\.(\w+)\(", text):
                yield rel, m.start(1), m.end(1), m.group(1), {"package": pkg}


def sites_group_by(p: Project):
    """A position of a positional GROUP BY whose select list is one plain item a line."""
    for rel, text in p.models():
        for m in re.finditer(r"(?m)^([ \t]*)group by ((?:\d+, )*\d+)\n", text):
            select = text.rfind("select\n", 0, m.start())
            body = text[select + 7:text.find("\n" + m.group(1) + "from ", select)]
            items = body.split("\n")
            if "{" in body or "select" in body:
                continue
            for pos in m.group(2).split(", "):
                item = items[int(pos) - 1].strip().rstrip(",")
                name = re.split(r"[ .]", item)[-1]
                line = text.count("\n", 0, select + 7) + int(pos)
                yield rel, m.start(2), m.end(2), pos, {"column": name, "line": line, "group": m}


def sites_ambiguous(p: Project):
    """A select item `a.k` where `a` is the preserved side of `from a left join b on a.k = b.k`."""
    for rel, text in p.models():
        for m in re.finditer(r"(?m)^[ \t]+(\w+)\.(\w+),$", text):
            join = re.compile(r"\n\s*from (\w+)\s*\n\s*left join (\w+)\s*\n\s*on (\w+)\.(\w+) = (\w+)\.(\w+)")
            j = join.search(text, m.end(), text.find("\n)", m.end()) % (len(text) + 1))
            if j and j.group(1) == j.group(3) == m.group(1) and j.group(4) == j.group(6) == m.group(2) and j.group(5) == j.group(2):
                yield rel, m.start(1), m.end(2), m.group(0).strip().rstrip(","), {"key": m.group(2)}


def fix_span(original: str, faulted: str) -> dict[str, str]:
    """The changed lines (with context added until the faulted text is unique) before and after the fix."""
    a, b = faulted.splitlines(keepends=True), original.splitlines(keepends=True)
    ops = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    (i1, j1), (i2, j2) = (ops[0][1], ops[0][3]), (ops[-1][2], ops[-1][4])
    for k in range(len(a)):
        old = "".join(a[max(i1 - k, 0):i2 + k])
        if old and faulted.count(old) == 1:
            return {"old": old, "new": "".join(b[max(j1 - k, 0):j2 + k])}
    raise AssertionError("no unique span")


def make_case(p: Project, klass: str, site, rng: random.Random, builtins: set[str]) -> dict | None:
    rel, start, end, word, extra = site
    text = p.files[rel]
    node = f"model.{p.name}.{Path(rel).stem}"
    exp = {"category": "sql.column_not_found", "node": node, "file": rel}
    taken = p.words | builtins
    if klass == "group_by_position":
        keep = [x for x in extra["group"].group(2).split(", ") if x != word]
        g = extra["group"]
        new_text = text[:g.start()] + (f"{g.group(1)}group by {', '.join(keep)}\n" if keep else "") + text[g.end():]
        exp.update(category="sql.group_by", identifier=extra["column"], line=extra["line"])
        what = f"position {word} dropped from `group by {g.group(2)}`"
    elif klass == "ambiguous":
        key = extra["key"]
        new_text = text[:start] + key + text[end:]
        exp.update(category="sql.ambiguous_column", identifier=key, top_candidate=word, line=text.count("\n", 0, start) + 1)
        what = f"qualifier of {word} dropped"
    else:
        universe = {"function": builtins - SQL_WORDS, "quoted": p.quoted, "ref": set(p.resources),
                    "package_macro": set(p.macros.get(extra.get("package"), []))}.get(klass, p.words - builtins)
        bad = typo(word, universe | {word}, taken if klass != "quoted" else {q.lower() for q in p.quoted}, rng)
        if bad is None:
            return None
        new_text = text[:start] + bad + text[end:]
        ident, top = bad, word
        if klass == "loop_literal":
            ident, top = f"{extra['first']}_{bad}", f"{extra['first']}_{word}"
        if klass == "package_macro":
            ident, top = f"{extra['package']}.{bad}", f"{extra['package']}.{word}"
        exp.update(identifier=ident, top_candidate=top, line=text.count("\n", 0, start) + 1)
        exp["category"] = {"function": "sql.function_not_found", "ref": "dbt.ref_not_found",
                           "package_macro": "dbt.macro_undefined"}.get(klass, exp["category"])
        if klass == "ref":
            exp["phase"] = "parse"
        what = f"{word} -> {bad}"
    patch = "".join(difflib.unified_diff(text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                         f"a/{rel}", f"b/{rel}"))
    return {"project": p.name, "description": f"generated {klass}: {what} in {rel}",
            "expected": [exp], "outcome": "healed", "fix": {"file": rel, **fix_span(text, new_text)}, "patch": patch}


def generate(seed: int, projects: list[str]) -> dict[str, dict]:
    rng, builtins = random.Random(seed), duckdb_names()
    loaded = [Project(name) for name in projects]
    finders = {"column": sites_column, "loop_literal": sites_loop_literal, "function": lambda p: sites_function(p, builtins),
               "quoted": sites_quoted, "group_by_position": sites_group_by, "ref": sites_ref,
               "package_macro": sites_package_macro, "ambiguous": sites_ambiguous}
    out: dict[str, dict] = {}
    written = {d.parent.name: d.read_text(encoding="utf-8") for d in FAULTS.glob("*/fault.patch")}
    by_hand = {text for cid, text in written.items() if not cid.startswith("gen_")}
    for klass, find in finders.items():
        sites = [(p, s) for p in loaded for s in find(p)]
        rng.shuffle(sites)
        n = 0
        for p, site in sites:
            if n == PER_CLASS:
                break
            case = make_case(p, klass, site, rng, builtins)
            if case and case["patch"] not in by_hand and all(c["patch"] != case["patch"] for c in out.values()):
                n += 1
                out[f"gen_{klass}_{n}"] = {**case, "generator": {"seed": seed, "class": klass}}
    return out


def write(cases: dict[str, dict]) -> None:
    for stale in FAULTS.glob("gen_*"):
        if stale.name not in cases:
            shutil.rmtree(stale)
    for cid, case in cases.items():
        d = FAULTS / cid
        d.mkdir(exist_ok=True)
        spec = {"id": cid, **{k: v for k, v in case.items() if k != "patch"}}
        old_patch = (d / "fault.patch").read_text(encoding="utf-8") if (d / "fault.patch").is_file() else None
        (d / "fault.patch").write_text(case["patch"], encoding="utf-8")
        (d / "expected.json").write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        if old_patch != case["patch"]:
            print(f"{cid}: new patch, record it: .venv/bin/python tests/faults/corpus.py record {cid}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--projects", nargs="+", default=["ledger"])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    cases = generate(args.seed, args.projects)
    for cid, case in cases.items():
        e = case["expected"][0]
        print(f"{cid:26} {e['file']}:{e['line']} {case['description'].split(': ', 1)[1]}")
    if args.write:
        write(cases)


if __name__ == "__main__":
    main()
