"""Spec files with every kind of mistake, SQL injection in table names, key columns and where
clauses, and run conf / maintenance conf overrides with wrong types and injection attempts.

Each one is refused with a message that names the file (spec) and the key; nothing in the
databases changes: the source table keeps its checksum, no warm table or ledger row appears.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.faults import tally
from tests.faults.fdb import FPair, JobThread

GOOD_JOB = (
    "  - {id: orders, source: {conn_id: F_PG, table: fsrc.inj}, target: {conn_id: F_PG, table: fwarm.inj}, key: [id]}\n"
)


def _spec(**over) -> str:
    base = {"dag_id": "warm_bad", "strategy": "move"}
    base.update(over)
    head = "".join(f"{k}: {v}\n" for k, v in base.items() if v is not None)
    return head + ("jobs:\n" + GOOD_JOB if "jobs" not in over else "")


def _job(**over) -> str:
    j = {
        "id": "orders",
        "source": "{conn_id: F_PG, table: fsrc.inj}",
        "target": "{conn_id: F_PG, table: fwarm.inj}",
        "key": "[id]",
    }
    j.update(over)
    body = ", ".join(f"{k}: {v}" for k, v in j.items() if v is not None)
    return f"dag_id: warm_bad\njobs:\n  - {{{body}}}\n"


# (case id, spec text, the key path the message must name)
SPECS = [
    ("unknown_key", _spec(batchsize=5), "batchsize: unknown key"),
    ("bad_strategy", _spec(strategy="shred"), "strategy"),
    ("strategy_injection", _spec(strategy='"move; DROP TABLE fsrc.inj"'), "strategy"),
    ("batch_size_text", _spec(batch_size="lots"), "batch_size"),
    ("batch_size_zero", _spec(batch_size=0), "batch_size"),
    ("batch_size_huge", _spec(batch_size=10**12), "batch_size"),
    ("batch_size_float", _spec(batch_size=1.5), "batch_size"),
    ("on_conflict", _spec(on_conflict="replace"), "on_conflict"),
    ("rate_negative", _spec(max_rows_per_second=-5), "max_rows_per_second"),
    ("rate_text", _spec(max_rows_per_second="fast"), "max_rows_per_second"),
    ("retries_negative", _spec(retries=-1), "retries"),
    ("start_date_text", _spec(start_date="yesterday"), "start_date"),
    ("schedule_int", _spec(schedule=5), "schedule"),
    ("tags_string", _spec(tags="warm"), "tags"),
    ("allow_where_text", _spec(allow_conf_where='"yes"'), "allow_conf_where"),
    ("dag_id_injection", _spec(dag_id='"x\'; DROP TABLE dag_run; --"'), "dag_id"),
    ("dag_id_traversal", _spec(dag_id='"../../etc/passwd"'), "dag_id"),
    ("dag_id_too_long", _spec(dag_id="a" * 300), "dag_id"),
    ("jobs_missing", "dag_id: warm_bad\n", "jobs: required key is missing"),
    ("jobs_empty", "dag_id: warm_bad\njobs: []\n", "jobs"),
    ("jobs_not_list", "dag_id: warm_bad\njobs: orders\n", "jobs"),
    ("job_unknown_key", _job(jobz=1), "jobs.0.jobz: unknown key"),
    ("job_id_injection", _job(id='"a; DROP TABLE x"'), "jobs.0.id"),
    ("duplicate_job", "dag_id: warm_bad\njobs:\n" + GOOD_JOB + GOOD_JOB, "duplicate job id 'orders'"),
    ("conn_missing", _job(source="{table: fsrc.inj}"), "jobs.0.source.conn_id"),
    ("target_not_mapping", _job(target="fwarm.inj"), "jobs.0.target"),
    ("table_stacked", _job(source="{conn_id: F_PG, table: 'fsrc.inj; DROP TABLE fsrc.inj'}"), "jobs.0.source.table"),
    ("table_three_parts", _job(target="{conn_id: F_PG, table: a.b.c}"), "jobs.0.target.table"),
    ("table_double_quote", _job(source="{conn_id: F_PG, table: 'fsrc.\"inj\"'}"), "jobs.0.source.table"),
    ("table_backtick", _job(source="{conn_id: F_PG, table: 'fsrc.`inj`'}"), "jobs.0.source.table"),
    ("table_comment", _job(target="{conn_id: F_PG, table: 'fwarm.inj --'}"), "jobs.0.target.table"),
    ("table_empty", _job(source="{conn_id: F_PG, table: ''}"), "jobs.0.source.table"),
    ("key_injection", _job(key="['id) OR 1=1 --']"), "jobs.0.key"),
    ("key_quote", _job(key="['id\"; DROP TABLE fsrc.inj; --']"), "jobs.0.key"),
    ("key_empty", _job(key="[]"), "jobs.0.key"),
    ("key_twice", _job(key="[id, id]"), "jobs.0.key"),
    ("key_not_list", _job(key="id"), "jobs.0.key"),
    ("where_stacked", _job(where='"id > 0; DROP TABLE fsrc.inj"'), "jobs.0.where"),
    ("where_delete", _job(where='"DELETE FROM fsrc.inj"'), "jobs.0.where"),
    ("where_unbalanced", _job(where='"1=1) OR (1=1"'), "jobs.0.where"),
    ("where_subquery_dml", _job(where='"id IN (SELECT id FROM fsrc.inj); DELETE FROM fsrc.inj"'), "jobs.0.where"),
    ("where_union", _job(where='"id > 0 UNION SELECT 1"'), "jobs.0.where"),
    ("where_not_boolean", _job(where='"id"'), "jobs.0.where"),
    ("where_quote_escape", _job(where="\"note = 'x'; DROP TABLE fsrc.inj; --'\""), "jobs.0.where"),
    ("where_unterminated_quote", _job(where='"\'; DROP TABLE fsrc.inj; --"'), "jobs.0.where"),
    ("where_not_string", _job(where="[1, 2]"), "jobs.0.where"),
    ("not_yaml", "dag_id: [unclosed\n", "not valid YAML"),
    ("yaml_list", "- dag_id: warm_bad\n", "a spec is a YAML mapping"),
    (
        "yaml_python_tag",
        "dag_id: !!python/object/apply:os.system ['touch /tmp/warm-abuse-pwned']\njobs: []\n",
        "not valid YAML",
    ),
    (
        "yaml_alias_bomb",
        "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ndag_id: warm_bad\ntags: [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        "jobs:\n" + GOOD_JOB,
        "tags",
    ),
]


@pytest.fixture
def inj(fengines):
    """A source table the injections aim at; its checksum must never change."""
    pair = FPair("pg", "pg", "inj", fengines).reset(n=300)
    yield pair
    pair.check_restored()  # nothing changed: source identical, no warm table


@pytest.mark.parametrize("case,text,key", SPECS, ids=[c[0] for c in SPECS])
def test_broken_spec_is_refused_naming_file_and_key(specs_dir, inj, case, text, key):
    from warm_archive.dag_factory import spec_dags
    from warm_archive.errors import SpecError

    tally.bad_inputs()
    (specs_dir / "good.yaml").write_text(_spec(dag_id="warm_good"))
    (specs_dir / f"{case}.yaml").write_text(textwrap.dedent(text))
    dag_file = str(specs_dir.parent / "dags" / "warm_spec_x.py")  # what each spec's DAG file calls
    with pytest.raises(SpecError) as err:
        spec_dags(dag_file, f"../specs/{case}.yaml")
    message = str(err.value)
    assert f"{case}.yaml" in message and key in message, message
    assert "good.yaml" not in message  # only the broken file is blamed
    assert spec_dags(dag_file, "../specs/good.yaml")[0].dag_id == "warm_good"  # and only its DAG fails
    assert not Path("/tmp/warm-abuse-pwned").exists()


def test_two_specs_with_one_dag_id_are_refused(specs_dir, inj):
    from warm_archive.dag_factory import spec_dags
    from warm_archive.errors import SpecError

    tally.bad_inputs()
    (specs_dir / "a.yaml").write_text(_spec())
    (specs_dir / "b.yaml").write_text(_spec())
    dag_file = str(specs_dir.parent / "dags" / "warm_spec_x.py")
    with pytest.raises(SpecError, match="b.yaml: dag_id 'warm_bad' is already used by a.yaml"):
        spec_dags(dag_file, "../specs/b.yaml")
    assert spec_dags(dag_file, "../specs/a.yaml")[0].dag_id == "warm_bad"  # the first file keeps its DAG


JOBS = ["orders", "items"]
CONFS = [
    ("conf_list", ["strategy", "move"], "run conf"),
    ("strategy", {"strategy": "shred"}, "strategy"),
    ("strategy_injection", {"strategy": "move'; DROP TABLE fsrc.inj; --"}, "strategy"),
    ("strategy_int", {"strategy": 1}, "strategy"),
    ("batch_size_text", {"batch_size": "1000"}, "batch_size"),
    ("batch_size_injection", {"batch_size": "1; DROP TABLE fsrc.inj"}, "batch_size"),
    ("batch_size_zero", {"batch_size": 0}, "batch_size"),
    ("batch_size_negative", {"batch_size": -5}, "batch_size"),
    ("batch_size_huge", {"batch_size": 10**12}, "batch_size"),
    ("batch_size_float", {"batch_size": 1.5}, "batch_size"),
    ("batch_size_bool", {"batch_size": True}, "batch_size"),
    ("on_conflict", {"on_conflict": "ignore"}, "on_conflict"),
    ("rate_text", {"max_rows_per_second": "fast"}, "max_rows_per_second"),
    ("rate_zero", {"max_rows_per_second": 0}, "max_rows_per_second"),
    ("rate_negative", {"max_rows_per_second": -1.0}, "max_rows_per_second"),
    ("where_string", {"where": "1=1"}, "where"),
    ("where_value_int", {"where": {"orders": 5}}, "where"),
    ("where_unknown_job", {"where": {"ghost": "1=1"}}, "unknown job"),
    ("where_not_allowed", {"where": {"orders": "1=1"}}, "allow_conf_where"),
    ("jobs_string", {"jobs": "orders"}, "jobs"),
    ("jobs_unknown", {"jobs": ["ghost"]}, "unknown job"),
    ("jobs_injection", {"jobs": ["orders'; DROP TABLE x; --"]}, "unknown job"),
    ("jobs_int", {"jobs": [1]}, "jobs"),
    ("dry_run_text", {"dry_run": "yes"}, "dry_run"),
    ("dry_run_int", {"dry_run": 1}, "dry_run"),
    ("start_from_unknown", {"start_from": "../../etc/passwd"}, "unknown job"),
    ("reexecution_of_int", {"reexecution_of": 5}, "reexecution_of"),
    ("lag_without_replicas", {"max_replica_lag_seconds": 5}, "needs replicas"),
    ("lag_text", {"max_replica_lag_seconds": "high"}, "max_replica_lag_seconds"),
    ("lag_negative", {"max_replica_lag_seconds": -1}, "max_replica_lag_seconds"),
    ("unreachable_ignore", {"on_replica_unreachable": "ignore"}, "on_replica_unreachable"),
    ("threads_zero", {"max_threads_running": 0}, "max_threads_running"),
    ("threads_text", {"max_threads_running": "many"}, "max_threads_running"),
    ("unknown_key", {"batchsize": 5}, "batchsize: unknown key"),
    ("dunder_key", {"__class__": "x"}, "unknown key"),
]


@pytest.mark.parametrize("case,conf,key", CONFS, ids=[c[0] for c in CONFS])
def test_bad_run_conf_is_refused_before_any_row_moves(case, conf, key):
    from warm_archive.errors import SpecError
    from warm_archive.spec import parse_conf

    tally.bad_inputs()
    with pytest.raises(SpecError) as err:
        parse_conf(conf, JOBS, allow_conf_where=False)
    assert key in str(err.value), str(err.value)


FOREIGN_REPLICAS = [["airflow_db"], ["hot_replica", "warm_admin"], ["../hot_replica"], ["HOT_REPLICA"]]


@pytest.mark.parametrize("replicas", FOREIGN_REPLICAS, ids=[f"replicas{i}" for i in range(len(FOREIGN_REPLICAS))])
def test_a_run_conf_names_no_replica_connection_the_spec_does_not(replicas):
    """Anyone who may trigger the DAG writes its conf; the worker would connect to what it names."""
    from warm_archive.errors import SpecError
    from warm_archive.spec import parse_conf

    tally.attack("conf")
    with pytest.raises(SpecError, match="replicas may only name the spec's replica connections"):
        parse_conf({"replicas": replicas}, JOBS, allow_conf_where=False, spec_replicas=["hot_replica"])
    assert parse_conf({"replicas": ["hot_replica"]}, JOBS, False, ["hot_replica"]).replicas == ["hot_replica"]


MAINT = [
    {"action": "drop", "dag_id": "x", "run_id": "y"},
    {"action": "rollback", "run_id": "y"},
    {"action": "rollback", "dag_id": 5, "run_id": "y"},
    {"action": "rollback", "dag_id": "x", "run_id": ""},
    {"action": "rollback", "dag_id": "x", "run_id": "y" * 300},
    {"action": "rollback", "dag_id": "x", "run_id": "y", "task_ids": "orders"},
    {"action": "rollback", "dag_id": "x", "run_id": "y", "sql": "DROP TABLE x"},
    {"action": ["rollback"], "dag_id": "x", "run_id": "y"},
]


@pytest.mark.parametrize("conf", MAINT, ids=[f"maint{i}" for i in range(len(MAINT))])
def test_bad_maintenance_conf_is_refused(conf):
    from pydantic import ValidationError

    from warm_archive.maintenance import MaintenanceConf

    tally.bad_inputs()
    with pytest.raises(ValidationError):
        MaintenanceConf.model_validate(conf)


# Injection in what reaches the engine (a conf where with allow_conf_where: true, or a spec whose
# where is templated and so checked only once rendered; key and table given to the job directly).
WHERES = [
    "1=1; DROP TABLE {src}",
    "id > 0; DELETE FROM {src}",
    "id IN (SELECT id FROM {src}) OR 1=1); DROP TABLE {src}; --",
    "id = (WITH d AS (DELETE FROM {src} RETURNING id) SELECT max(id) FROM d)",
    "'; DROP TABLE {src}; --",
    "id > 0 /* unterminated",
    "1",
    "no_such_column > 5",
    "id > %s",
    "id > 0 INTO OUTFILE '/tmp/warm-abuse-out'",
    "id > 0) UNION SELECT 1 --",
    "created_at < '2025-01-01' AND (DROP TABLE {src}) IS NULL",
]
BAD_PARAMS = [
    {"key": ['id"; DROP TABLE {src}; --']},
    {"key": ["note"]},  # not unique
    {"key": []},
    {"source_table": "{src}; DROP TABLE {src}"},
    {"target_table": "fwarm.x; DROP TABLE {src}"},
    {"target_table": 'fwarm."x"'},
]


ATTEMPTS = [("where", w) for w in WHERES] + [(k, v) for p in BAD_PARAMS for k, v in p.items()]
_inj_pairs: dict = {}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["pg", "my"])
@pytest.mark.parametrize("n", range(len(ATTEMPTS)), ids=[f"{k}{i}" for i, (k, _) in enumerate(ATTEMPTS)])
def test_injection_reaching_the_engine_is_refused_and_changes_nothing(fengines, kind, n):
    from warm_archive.errors import WarmArchiveError

    if kind not in _inj_pairs:
        _inj_pairs[kind] = FPair(kind, kind, "inj", fengines).reset(n=300)
    pair = _inj_pairs[kind]
    src = pair.src.q(pair.src_table)
    field, value = ATTEMPTS[n]
    value = [x.format(src=src) for x in value] if isinstance(value, list) else value.format(src=src)
    tally.bad_inputs()
    params = pair.params("move", f"inj{n}")
    setattr(params, field, value)
    t = JobThread(params)
    t.start()
    t.finish(60)
    # refused with the engine's own clear error, before any row moved
    assert isinstance(t.error, WarmArchiveError), (field, value, repr(t.error))
    assert len(str(t.error)) < 2000 and "Traceback" not in str(t.error)
    assert not pair.warm.exists(pair.warm_table)
    if pair.warm.exists_ledger():
        assert (
            pair.warm.execute(
                "SELECT COUNT(*) FROM warm_archive_ledger WHERE target_table = %s", (pair.warm_table,)
            ).fetchone()[0]
            == 0
        )
    pair.check_restored()
    assert not Path("/tmp/warm-abuse-out").exists()
