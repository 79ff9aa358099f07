"""The monitor page's static files: native ES modules that load each other, shipped by the distribution."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from warm_archive.contract import RollbackStatus, RunState, SourceStatus

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "plugins" / "warm_monitor" / "static"
IMPORT = re.compile(r"""^import\s+(?:\{([^}]*)\}\s+from\s+)?["'](\./[^"']+)["']""", re.M)
# a tab name mapped to a list holding a run state, e.g. `in_progress: ["queued", "running"]`
TAB_STATES = re.compile(
    r"""(completed|in_progress|exceptional)["']?\s*:\s*\[[^\]]*"""
    r"""["'](success|failed|queued|running)["']"""
)
EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function|const|let|class)\s+([\w$]+)", re.M)


def test_the_page_loads_its_entry_module():
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"[^>]*>", html)
    assert scripts == ["static/js/app.js"], scripts
    assert re.search(r'<script type="module" src="static/js/app.js">', html)


def test_every_import_names_an_export_of_an_existing_module():
    modules = sorted((STATIC / "js").glob("*.js"))
    assert modules
    exports = {m.name: set(EXPORT.findall(m.read_text())) for m in modules}
    for m in modules:
        for names, target in IMPORT.findall(m.read_text()):
            name = Path(target).name
            assert name in exports, f"{m.name} imports {target}, which does not exist"
            for n in filter(None, (x.strip() for x in names.split(","))):
                assert n in exports[name], f"{m.name} imports {n} from {target}, which does not export it"


def test_the_page_does_not_restate_which_run_states_make_a_tab():
    for m in (STATIC / "js").glob("*.js"):
        src = m.read_text()
        found = TAB_STATES.search(src)
        assert not found, f"{m.name} restates a tab's run states (the API says them): {found.group(0)}"


# Task-instance states the page once compared with, beside contract.py's run, rollback and source statuses.
TI_STATES = ("upstream_failed", "skipped", "removed", "scheduled", "up_for_retry", "deferred")
STATE_NAMES = {*RunState, *RollbackStatus, *SourceStatus, *TI_STATES}
QUOTED = re.compile(r"""["'`]([a-z_]+)["'`]""")
# Strings that spell a state's name but mean something else: a toast's kind, a column's name, the
# sort order of a column, the source-status request body the API accepts (app.py's SourceStatusBody).
NOT_STATES = re.compile(
    r"""toast\("success"|data-col="skipped"|\? "descending" : "ascending"\) : "none"|status: "processed" """.strip()
)


def test_the_page_names_no_run_state():
    """Whether an action is allowed, and why not, comes from the server (policy.py): the page's
    scripts compare no run, task, rollback or source state with a name of their own."""
    for m in sorted((STATIC / "js").glob("*.js")):
        for n, line in enumerate(m.read_text().splitlines(), 1):
            found = {s for s in QUOTED.findall(NOT_STATES.sub("", line)) if s in STATE_NAMES}
            assert not found, f"{m.name}:{n} names {sorted(found)}: {line.strip()[:160]}"


def test_the_distribution_ships_the_modules():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["warm_monitor"].split(",")]
    assert "static/*" in patterns and "static/js/*" in patterns
