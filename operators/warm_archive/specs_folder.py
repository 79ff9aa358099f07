"""Where spec files live, and reading one of them for its DAG file."""

from __future__ import annotations

from pathlib import Path

import yaml

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


def load_one(path: Path) -> WarmSpec:
    """The spec in ``path``, for the one DAG file of that spec (see ``warm_archive.dag_files``).

    Only this file is read in full, so a broken spec fails only its own DAG file's import. A dag_id
    that a valid spec earlier in the folder (by file name) already uses is refused here, naming both
    files: the earlier file keeps the DAG.
    """
    if not path.is_file():
        raise SpecError(
            f"{path.name}: spec file {path} does not exist; if it was removed, run "
            "`python -m warm_archive.dag_files` to remove its DAG file"
        )
    spec = load_spec(path)
    for other in spec_files(path.parent):
        if other.name == path.name:
            break
        if _raw_dag_id(other) != spec.dag_id:
            continue
        try:
            load_spec(other)
        except SpecError:
            continue  # a broken spec holds no dag_id: it fails its own DAG file
        raise SpecError(f"{path.name}: dag_id {spec.dag_id!r} is already used by {other.name}")
    return spec


def _raw_dag_id(path: Path) -> object:
    """The ``dag_id`` a file declares, read without validating it (cheap: most files differ)."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return data.get("dag_id") if isinstance(data, dict) else None
