"""JSON Schema (draft 2020-12) of the OpenLineage events a warm run emits, for the tests.

No installed package ships the spec's own ``OpenLineage.json`` (openlineage-python ships classes
generated from it; the openlineage provider ships its Airflow facets' schemas, which refer to it),
and tests fetch nothing. So this is the spec 2-0-2 core (as openlineage-python 1.54's generated classes name their versions) (RunEvent, Run, Job, the datasets, the base
facets) and the facets the warm operator emits, written out here, each registered under the
``$id`` the spec gives it. A facet is checked against the schema its ``_schemaURL`` names when it is
one of these (the Airflow facets name the core ``RunFacet``); the provider's other facets
(nominal time, parent run, tags...) against the base facet's.
"""

from __future__ import annotations

from typing import Any

CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
SPEC = "https://openlineage.io/spec/facets/"

_STR = {"type": "string"}
_URI = {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:"}
_OBJ_OF = lambda ref: {"type": "object", "additionalProperties": {"$ref": ref}}  # noqa: E731

core: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": CORE,
    "$defs": {
        "BaseEvent": {
            "type": "object",
            "properties": {
                "eventTime": {"type": "string", "format": "date-time"},
                "producer": _URI,
                "schemaURL": _URI,
            },
            "required": ["eventTime", "producer", "schemaURL"],
        },
        "RunEvent": {
            "allOf": [
                {"$ref": "#/$defs/BaseEvent"},
                {
                    "type": "object",
                    "properties": {
                        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
                        "run": {"$ref": "#/$defs/Run"},
                        "job": {"$ref": "#/$defs/Job"},
                        "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
                        "outputs": {"type": "array", "items": {"$ref": "#/$defs/OutputDataset"}},
                    },
                    "required": ["run", "job"],
                },
            ]
        },
        "Run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _OBJ_OF("#/$defs/BaseFacet")},
            "required": ["runId"],
        },
        "Job": {
            "type": "object",
            "properties": {"namespace": _STR, "name": _STR, "facets": _OBJ_OF("#/$defs/BaseFacet")},
            "required": ["namespace", "name"],
        },
        "Dataset": {
            "type": "object",
            "properties": {"namespace": _STR, "name": _STR, "facets": _OBJ_OF("#/$defs/DatasetFacet")},
            "required": ["namespace", "name"],
        },
        "InputDataset": {
            "allOf": [
                {"$ref": "#/$defs/Dataset"},
                {"type": "object", "properties": {"inputFacets": _OBJ_OF("#/$defs/BaseFacet")}},
            ]
        },
        "OutputDataset": {
            "allOf": [
                {"$ref": "#/$defs/Dataset"},
                {"type": "object", "properties": {"outputFacets": _OBJ_OF("#/$defs/BaseFacet")}},
            ]
        },
        "BaseFacet": {
            "type": "object",
            "properties": {"_producer": _URI, "_schemaURL": _URI},
            "required": ["_producer", "_schemaURL"],
        },
        "DatasetFacet": {
            "allOf": [
                {"$ref": "#/$defs/BaseFacet"},
                {"type": "object", "properties": {"_deleted": {"type": "boolean"}}},
            ]
        },
        "RunFacet": {"$ref": "#/$defs/BaseFacet"},
        "JobFacet": {
            "allOf": [
                {"$ref": "#/$defs/BaseFacet"},
                {"type": "object", "properties": {"_deleted": {"type": "boolean"}}},
            ]
        },
        "InputDatasetFacet": {"$ref": "#/$defs/BaseFacet"},
        "OutputDatasetFacet": {"$ref": "#/$defs/BaseFacet"},
    },
    "$ref": "#/$defs/RunEvent",
}


def _facet(name: str, version: str, base: str, body: dict[str, Any], defs: dict[str, Any] | None = None) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SPEC}{version}/{name}.json",
        "$defs": {name: {"allOf": [{"$ref": f"{CORE}#/$defs/{base}"}, {"type": "object", **body}]}, **(defs or {})},
    }


_input_field = {
    "type": "object",
    "properties": {
        "namespace": _STR,
        "name": _STR,
        "field": _STR,
        "transformations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"type": _STR, "subtype": _STR, "description": _STR, "masking": {"type": "boolean"}},
                "required": ["type"],
            },
        },
    },
    "required": ["namespace", "name", "field"],
}

facets: list[dict[str, Any]] = [
    _facet(
        "SchemaDatasetFacet",
        "1-2-0",
        "DatasetFacet",
        {
            "properties": {
                "fields": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": _STR, "type": _STR, "description": _STR},
                        "required": ["name"],
                    },
                }
            }
        },
    ),
    _facet(
        "ColumnLineageDatasetFacet",
        "1-2-0",
        "DatasetFacet",
        {
            "properties": {
                "fields": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "inputFields": {"type": "array", "items": {"$ref": "#/$defs/InputField"}},
                            "transformationDescription": _STR,
                            "transformationType": _STR,
                        },
                        "required": ["inputFields"],
                    },
                },
                "dataset": {"type": "array", "items": {"$ref": "#/$defs/InputField"}},
            },
            "required": ["fields"],
        },
        {"InputField": _input_field},
    ),
    _facet(
        "OutputStatisticsOutputDatasetFacet",
        "1-0-2",
        "OutputDatasetFacet",
        {
            "properties": {
                "rowCount": {"type": "integer"},
                "size": {"type": "integer"},
                "fileCount": {"type": "integer"},
            }
        },
    ),
    _facet("SQLJobFacet", "1-1-0", "JobFacet", {"properties": {"query": _STR, "dialect": _STR}, "required": ["query"]}),
]


def registry() -> Any:
    """These schemas by ``$id`` (nothing fetched)."""
    from referencing import Registry, Resource

    return Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in (core, *facets))


def validate(event: dict, reg: Any) -> list[str]:
    """Every error of ``event`` against the RunEvent schema and its facets' own schemas."""
    from jsonschema import Draft202012Validator

    def check(instance: Any, ref: str) -> list[str]:
        v = Draft202012Validator({"$ref": ref}, registry=reg, format_checker=Draft202012Validator.FORMAT_CHECKER)
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]

    errors = check(event, f"{CORE}#/$defs/RunEvent")
    for where, facet in _facets(event):
        url = facet.get("_schemaURL", "")
        try:
            reg.resolver().lookup(url)
        except Exception:
            continue  # a schema no package ships: the base facet checks above apply
        errors += [f"{where}: {e}" for e in check(facet, url)]
    return errors


def _facets(event: dict) -> list[tuple[str, dict]]:
    found = [(f"run.facets.{k}", v) for k, v in (event.get("run", {}).get("facets") or {}).items()]
    found += [(f"job.facets.{k}", v) for k, v in (event.get("job", {}).get("facets") or {}).items()]
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for d in event.get(side) or []:
            for group in ("facets", extra):
                found += [(f"{side}.{d['name']}.{k}", v) for k, v in (d.get(group) or {}).items()]
    return found
