"""Writes one thin Airflow DAG file per warm spec (its warm DAG and that DAG's maintenance DAG), so a
broken spec fails only its own DAGs' import.

Airflow records import errors per Python file, so each spec gets its own ``warm_spec_<stem>.py``
in the DAGs folder (docs/adr/0007-one-dag-file-per-spec.md). Run it after adding, renaming or
removing a spec::

    python -m warm_archive.dag_files [--specs-folder SPECS] [--dags-folder DAGS]

It writes missing files, rewrites changed ones, removes the ones whose spec is gone (only files it
wrote: their first line carries ``MARKER``) and leaves everything else alone; a second run changes
nothing. Defaults: Airflow's ``[core] dags_folder`` and ``[warm_archive] specs_folder`` (else
``specs/`` in the DAGs folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from warm_archive.errors import SpecError
from warm_archive.specs_folder import load_one, spec_files

PREFIX = "warm_spec_"
MARKER = "written by `python -m warm_archive.dag_files`"


@dataclass
class Changes:
    """What one run did, file names in the DAGs folder; ``broken``: one message per broken spec."""

    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)


def dag_file_name(spec: Path) -> str:
    return PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", spec.stem) + ".py"


def dag_file_text(spec: Path, dags_folder: Path) -> str:
    """The DAG file of ``spec``: it names the spec by its path relative to the DAGs folder, so the
    two folders may move together (a git checkout, an image, a DAG bundle)."""
    rel = Path(os.path.relpath(spec.resolve(), dags_folder.resolve())).as_posix()
    shown = rel.replace("\\", "/").replace('"', "'")
    return (
        f'"""Airflow DAG of the warm spec {shown}, {MARKER}: do not edit."""\n\n'
        "from warm_archive.dag_factory import spec_dags\n\n"
        f"dag, maintenance_dag = spec_dags(__file__, {json.dumps(rel)})\n"
    )


def is_generated(path: Path) -> bool:
    """A DAG file this module wrote (and may rewrite or remove)."""
    if not (path.name.startswith(PREFIX) and path.suffix == ".py" and path.is_file()):
        return False
    with path.open(encoding="utf-8", errors="replace") as f:
        return MARKER in f.readline()


def refresh(specs_folder: Path, dags_folder: Path) -> Changes:
    """Make the DAGs folder hold exactly one generated DAG file per spec. Checks every name before
    it changes a file, so a refused run changes nothing."""
    if not specs_folder.is_dir():
        raise SpecError(f"specs folder {specs_folder} does not exist")
    if not dags_folder.is_dir():
        raise SpecError(f"DAGs folder {dags_folder} does not exist")
    wanted: dict[str, Path] = {}
    for spec in spec_files(specs_folder):
        name = dag_file_name(spec)
        if name in wanted:
            raise SpecError(f"{spec.name} and {wanted[name].name} would share the DAG file {name}: rename one")
        target = dags_folder / name
        if target.exists() and not is_generated(target):
            raise SpecError(f"{target} exists and was not written by warm_archive.dag_files: move it away")
        wanted[name] = spec
    changes = Changes()
    for name, spec in wanted.items():
        target, text = dags_folder / name, dag_file_text(spec, dags_folder)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            changes.unchanged.append(name)  # untouched: the dag-processor need not parse it again
        else:
            tmp = dags_folder / f".{name}.tmp"  # not *.py: the dag-processor never reads half a file
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
            changes.written.append(name)
        try:
            load_one(spec)
        except SpecError as e:
            changes.broken.append(str(e))
    for path in sorted(dags_folder.glob(f"{PREFIX}*.py")):
        if path.name not in wanted and is_generated(path):
            path.unlink()
            changes.removed.append(path.name)
    return changes


def _default_folders(specs: str | None, dags: str | None) -> tuple[Path, Path]:
    """The folders given, else Airflow's configuration (read only when needed: it is slow to load)."""
    from warm_archive.specs_folder import specs_folder

    if dags is None:
        from airflow.configuration import conf

        dags = conf.get("core", "dags_folder")
    dags_folder = Path(dags).expanduser()
    return (Path(specs).expanduser() if specs else specs_folder(dags_folder / "specs")), dags_folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warm_archive.dag_files", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--specs-folder", help="the spec files (default: [warm_archive] specs_folder, else DAGS/specs)")
    parser.add_argument("--dags-folder", help="where the DAG files go (default: [core] dags_folder)")
    args = parser.parse_args(argv)
    try:
        specs, dags = _default_folders(args.specs_folder, args.dags_folder)
        changes = refresh(specs, dags)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name in changes.written:
        print(f"wrote {dags / name}")
    for name in changes.removed:
        print(f"removed {dags / name}")
    print(f"{len(changes.unchanged)} DAG file(s) unchanged; specs from {specs}")
    for message in changes.broken:
        print(f"broken spec (its DAG shows an import error until fixed): {message}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
