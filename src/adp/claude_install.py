"""`adp claude install`: copy the Claude Code layer into a team's existing dbt repo.

Copies the agents, skills, settings, the scripts they call and the JSON contracts, adjusting the dbt
project path; records what it wrote (with sha256) in `.claude/adp-install.json` and refuses to
overwrite any other file, or one changed since it wrote it, unless `force`. Appends `*.adp.lock` (the
writer lock beside the DuckDB file) to the repo's .gitignore once, so it never shows in `git status`.
Brings adp's CLAUDE.md rules into the repo's CLAUDE.md between `<!-- adp:begin -->` and `<!-- adp:end -->`:
a re-install replaces that block and never touches the user's text around it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import adp
from adp.errors import UsageError

MANIFEST = ".claude/adp-install.json"
SOURCE_DBT_DIR = "dbt"  # where the dbt project lives in adp's own repo (the settings' paths say ./dbt/)
_LAYER = (".claude/agents/*.md", ".claude/skills/*/SKILL.md", "docs/schemas.md", "docs/schemas/*.schema.json")
GITIGNORE_PATTERN = "*.adp.lock"
_GITIGNORE_BLOCK = "# adp's writer lock, beside the DuckDB file\n" + GITIGNORE_PATTERN + "\n"
_SKIP_DIRS = {"target", "dbt_packages", "node_modules", ".venv", ".git", "logs"}
CLAUDE_MD = "CLAUDE.md"
BEGIN = "<!-- adp:begin -->"
END = "<!-- adp:end -->"
_BLOCK_NOTE = "<!-- written by `adp claude install`; a re-install replaces this block: keep your own rules outside it -->"
_ADP_REPO_ONLY = ("| developers |",)  # rows of adp's own CLAUDE.md that mean nothing in another repo


@dataclass
class InstallResult:
    """What `adp claude install --json` prints."""

    repo_dir: str
    dbt_project_dir: str  # relative to repo_dir ("." when the repo root is the dbt project)
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)  # only with force
    manifest: str = ""
    gitignore_updated: bool = False  # `*.adp.lock` was appended to the repo's .gitignore
    claude_md: str = ""  # what happened to the repo's CLAUDE.md: created | appended | replaced | unchanged


def source_root() -> Path:
    """adp's repo checkout that holds the .claude layer (the editable install's root)."""
    root = Path(adp.__file__).resolve().parents[2]
    if not (root / ".claude" / "agents").is_dir():
        raise UsageError(f"`adp claude install` needs adp's source checkout (no .claude/agents next to {root / 'src'})")
    return root


def find_dbt_project(repo: Path) -> Path:
    """The repo's dbt project: the repo itself, or the single dbt_project.yml at most 3 levels down."""
    if (repo / "dbt_project.yml").is_file():
        return repo
    found = []
    for dirpath, dirnames, filenames in os.walk(repo):
        rel = Path(dirpath).relative_to(repo)
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".") and len(rel.parts) < 3]
        if "dbt_project.yml" in filenames:
            found.append(Path(dirpath))
    if len(found) != 1:
        what = "no dbt_project.yml" if not found else "several dbt projects: " + ", ".join(str(f) for f in found)
        raise UsageError(f"--repo {repo}: {what}; pass --dbt-dir to name the dbt project")
    return found[0]


def planned_files(src: Path, dbt_rel: str) -> dict[str, bytes]:
    """repo-relative path -> content, with the dbt project path adjusted to `dbt_rel`."""
    files: dict[str, bytes] = {}
    for pattern in _LAYER:
        for path in sorted(src.glob(pattern)):
            files[path.relative_to(src).as_posix()] = path.read_bytes()
    files[".claude/settings.json"] = adjusted_settings(src / ".claude" / "settings.json", dbt_rel)
    scripts = {p.name for p in (src / "scripts").glob("_*.py")}  # helpers the scripts import
    for content in list(files.values()):  # the agents' and skills' commands, the settings' hooks
        scripts |= set(re.findall(r"scripts/(\w+\.py)", content.decode("utf-8")))
    for name in sorted(scripts):
        if (src / "scripts" / name).is_file():
            files[f"scripts/{name}"] = (src / "scripts" / name).read_bytes()
    return files


def rules_block(src: Path, dbt_rel: str) -> str:
    """adp's CLAUDE.md as a marked block, with `dbt/...` paths moved to the repo's dbt project."""
    prefix = "" if dbt_rel == "." else f"{dbt_rel}/"
    text = (src / CLAUDE_MD).read_text(encoding="utf-8")
    text = re.sub(r"`dbt/([^`]*)`", lambda m: f"`{prefix}{m.group(1)}`" if prefix or m.group(1) else "`./`", text)
    lines = [line for line in text.strip().splitlines() if not line.startswith(_ADP_REPO_ONLY)]
    return "\n".join([BEGIN, _BLOCK_NOTE, *lines, END]) + "\n"


def merged_claude_md(current: str | None, block: str, path: Path) -> tuple[str, str]:
    """(new text, what happened): the block replaces the marked one, or is appended; nothing else changes."""
    if current is None:
        return block, "created"
    begins, ends = current.count(BEGIN), current.count(END)
    if begins == ends == 0:
        separator = "" if not current else "\n" if current.endswith("\n") else "\n\n"
        return current + separator + block, "appended"
    start, stop = current.find(BEGIN), current.find(END)
    if begins != 1 or ends != 1 or stop < start:
        raise UsageError(f"{path}: expected one `{BEGIN}` ... `{END}` block, found {begins} begin and {ends} end "
                         "marker(s) out of order or repeated; fix the markers (or remove them) and install again")
    stop += len(END)
    if current[stop:stop + 1] == "\n":
        stop += 1
    merged = current[:start] + block + current[stop:]
    return merged, "unchanged" if merged == current else "replaced"


def adjusted_settings(path: Path, dbt_rel: str) -> bytes:
    """settings.json with rules on `./dbt/` moved to the repo's dbt project and ADP_PROJECT_DIR set."""
    settings = json.loads(path.read_text(encoding="utf-8"))
    prefix = "./" if dbt_rel == "." else f"./{dbt_rel}/"
    perms = settings.get("permissions", {})
    for kind in ("allow", "ask", "deny"):
        perms[kind] = [r.replace(f"./{SOURCE_DBT_DIR}/", prefix) for r in perms.get(kind, [])]
    settings.setdefault("env", {})["ADP_PROJECT_DIR"] = dbt_rel
    return (json.dumps(settings, indent=2) + "\n").encode("utf-8")


def install(repo_dir: str | Path, dbt_dir: str | Path | None = None, force: bool = False) -> InstallResult:
    """Install the layer into `repo_dir`; raises UsageError (writing nothing) on foreign files unless `force`."""
    repo = Path(repo_dir).expanduser().resolve()
    if not repo.is_dir():
        raise UsageError(f"--repo {repo_dir}: no such directory")
    dbt = (repo / dbt_dir).resolve() if dbt_dir else find_dbt_project(repo)
    if not (dbt / "dbt_project.yml").is_file():
        raise UsageError(f"--dbt-dir {dbt_dir}: no dbt_project.yml in {dbt}")
    if dbt != repo and repo not in dbt.parents:
        raise UsageError(f"--dbt-dir {dbt_dir}: {dbt} is outside {repo}")
    dbt_rel = dbt.relative_to(repo).as_posix() or "."
    src = source_root()
    if src == repo:
        raise UsageError(f"--repo {repo} is adp's own repo: the layer is already there")
    files = planned_files(src, dbt_rel)
    claude_md = repo / CLAUDE_MD
    current_md = claude_md.read_text(encoding="utf-8") if claude_md.is_file() else None
    new_md, md_status = merged_claude_md(current_md, rules_block(src, dbt_rel), claude_md)  # may refuse: before any write
    owned = _read_manifest(repo)
    result = InstallResult(str(repo), dbt_rel, manifest=str(repo / MANIFEST))
    conflicts = []
    for rel, data in files.items():
        target = repo / rel
        if not target.exists():
            continue
        current = target.read_bytes()
        if current == data:
            result.unchanged.append(rel)
        elif owned.get(rel) == _sha(current):
            continue  # ours and untouched since: safe to update
        elif force:
            result.overwritten.append(rel)
        else:
            conflicts.append(rel)
    if conflicts:
        raise UsageError(
            f"{repo}: refusing to overwrite files adp did not write (or that were changed since): "
            + ", ".join(f"`{c}`" for c in conflicts)
            + "; move them away or pass --force"
        )
    for rel, data in files.items():
        if rel in result.unchanged:
            continue
        _write(repo / rel, data, executable=rel.startswith("scripts/"))
        if rel not in result.overwritten:
            result.written.append(rel)
    manifest = {"adp_version": version("adp"), "adp_source": str(src), "dbt_project_dir": dbt_rel,
                "files": {rel: _sha(data) for rel, data in sorted(files.items())}}
    _write(repo / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
    result.gitignore_updated = ignore_lock_files(repo)
    if md_status != "unchanged":
        _write(claude_md, new_md.encode("utf-8"))
    result.claude_md = md_status
    return result


def ignore_lock_files(repo: Path) -> bool:
    """Append `*.adp.lock` to `repo/.gitignore` unless a line already says so; True when it appended."""
    path = repo / ".gitignore"
    current = path.read_bytes() if path.is_file() else b""
    if any(line.strip() in (GITIGNORE_PATTERN.encode(), b"**/" + GITIGNORE_PATTERN.encode()) for line in current.splitlines()):
        return False
    separator = b"\n" if current and not current.endswith(b"\n") else b""
    _write(path, current + separator + _GITIGNORE_BLOCK.encode("utf-8"))
    return True


def _read_manifest(repo: Path) -> dict[str, str]:
    try:
        data = json.loads((repo / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".adp-tmp")
    tmp.write_bytes(data)
    if executable:
        tmp.chmod(0o755)
    os.replace(tmp, path)
