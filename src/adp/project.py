"""The dbt project adp works on: its directories, profile, target and artifacts paths."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import yaml

from adp.errors import UsageError


@dataclass(frozen=True)
class DbtProject:
    """A dbt project directory plus the profile selection dbt will use for it."""

    project_dir: Path
    profiles_dir: Path | None = None  # None: dbt's own default (project dir if it has profiles.yml, else ~/.dbt)
    target: str | None = None
    target_path: Path | None = None  # dbt's --target-path (None: the project's target/); `adp check` compiles into its own

    @classmethod
    def open(cls, project_dir: str | Path, profiles_dir: str | Path | None = None, target: str | None = None) -> "DbtProject":
        """Check adp's own inputs (exit 2 when wrong); everything else is dbt's to report."""
        pdir = Path(project_dir).expanduser().resolve()
        if not (pdir / "dbt_project.yml").is_file():
            raise UsageError(f"--project-dir {project_dir}: no dbt_project.yml in {pdir}")
        prof = None
        if profiles_dir is not None:
            prof = Path(profiles_dir).expanduser().resolve()
            if not prof.is_dir():
                raise UsageError(f"--profiles-dir {profiles_dir}: directory {prof} does not exist")
        return cls(pdir, prof, target)

    @property
    def target_dir(self) -> Path:
        return self.target_path or self.project_dir / "target"

    @cached_property
    def project_config(self) -> dict[str, Any]:
        """dbt_project.yml as a mapping ({} when it does not parse: dbt reports that itself)."""
        try:
            data = yaml.safe_load((self.project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def name(self) -> str | None:
        return self.project_config.get("name")

    @property
    def profile_name(self) -> str | None:
        return self.project_config.get("profile")

    def profiles_path(self) -> Path:
        """Where dbt will look for profiles.yml when run with cwd = project dir."""
        if self.profiles_dir is not None:
            return self.profiles_dir / "profiles.yml"
        if env := os.environ.get("DBT_PROFILES_DIR"):
            return Path(env) / "profiles.yml"
        local = self.project_dir / "profiles.yml"
        return local if local.is_file() else Path.home() / ".dbt" / "profiles.yml"

    def profiles(self) -> dict[str, Any]:
        """profiles.yml rendered with env_var() like dbt does ({} when absent or broken)."""
        try:
            text = self.profiles_path().read_text(encoding="utf-8")
            rendered = _render(text)
            data = yaml.safe_load(rendered)
        except (OSError, yaml.YAMLError, jinja2.TemplateError):
            return {}
        return data if isinstance(data, dict) else {}

    def target_name(self) -> str | None:
        if self.target:
            return self.target
        profile = self.profiles().get(self.profile_name or "", {})
        return profile.get("target") if isinstance(profile, dict) else None

    def output(self) -> dict[str, Any]:
        """The selected profile output (connection settings), {} when it cannot be determined."""
        profile = self.profiles().get(self.profile_name or "", {})
        if not isinstance(profile, dict):
            return {}
        outputs = profile.get("outputs") or {}
        out = outputs.get(self.target_name() or "", {})
        return out if isinstance(out, dict) else {}

    def resolve(self, path: str | Path) -> Path:
        """Resolve a path as dbt does when adp runs it: relative to the project directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.project_dir / p).resolve()


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise jinja2.TemplateError(f"env var {name} not set")


def _render(text: str) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals["env_var"] = _env_var
    return env.from_string(text).render()
