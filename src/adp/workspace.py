"""Where adp's state lives for one command: the dbt project, config/ and logs/."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from adp.config import ExecutionConfig, load_execution_config
from adp.project import DbtProject
from adp.warehouses import for_project

DEFAULT_PROJECT_DIR = "dbt"


@dataclass(frozen=True)
class Workspace:
    """A dbt project plus the config and log directories (both resolved from the CWD by default)."""

    project: DbtProject
    config_dir: Path
    log_dir: Path

    @classmethod
    def open(
        cls,
        project_dir: str | Path | None = None,
        profiles_dir: str | Path | None = None,
        target: str | None = None,
        config_dir: str | Path | None = None,
        log_dir: str | Path | None = None,
    ) -> "Workspace":
        project = DbtProject.open(project_dir or DEFAULT_PROJECT_DIR, profiles_dir, target)
        return cls(
            project=project,
            config_dir=Path(config_dir or "config").resolve(),
            log_dir=Path(log_dir or "logs").resolve(),
        )

    @cached_property
    def config(self) -> ExecutionConfig:
        return load_execution_config(self.config_dir)

    def lock_path(self) -> Path:
        return for_project(self.project).lock_path(self.project)
