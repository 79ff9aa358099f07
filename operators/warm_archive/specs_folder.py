"""Where spec files live, and reading them all."""

from __future__ import annotations

from pathlib import Path

from warm_archive.errors import SpecError
from warm_archive.spec import WarmSpec, load_spec


def specs_folder(default: Path | None = None) -> Path:
    """``[warm_archive] specs_folder`` if set, else ``default`` (``specs/`` beside the DAG file)."""
    from airflow.configuration import conf

    configured = conf.get("warm_archive", "specs_folder", fallback="") or ""
    if configured.strip():
        return Path(configured).expanduser()
    if default is None:
        raise SpecError("no specs folder: set [warm_archive] specs_folder")
    return default


def spec_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def load_all(folder: Path) -> tuple[list[WarmSpec], list[str]]:
    """Every valid spec, and one message per broken file (each naming its file and key)."""
    specs: list[WarmSpec] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path in spec_files(folder):
        try:
            spec = load_spec(path)
        except SpecError as e:
            errors.append(str(e))
            continue
        if spec.dag_id in seen:
            errors.append(f"{path.name}: dag_id {spec.dag_id!r} is already used by {seen[spec.dag_id]}")
            continue
        seen[spec.dag_id] = path.name
        specs.append(spec)
    return specs, errors


def find_spec(dag_id: str, default_folder: Path | None) -> WarmSpec:
    folder = specs_folder(default_folder)
    for path in spec_files(folder):
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        if spec.dag_id == dag_id:
            return spec
    raise SpecError(f"no valid spec with dag_id {dag_id!r} in {folder}")
