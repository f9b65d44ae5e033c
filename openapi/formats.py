"""Which `format`s of an OpenAPI document the JSON Schema checker can verify.

jsonschema checks a `format` only when it has a checker for it, some of them only when an
optional package is installed (`uri` needs rfc3986-validator, `date-time` rfc3339-validator:
both in .ci/requirements.txt); any other format passes every string, silently. So
openapi/check_snapshots.py and openapi/check_examples.py refuse a document with a format
they cannot verify, rather than report it checked.

The one exception, `int32` (OpenAPI's format for a 32-bit integer, which JSON Schema does
not define): every schema using it states the range itself with `minimum` and `maximum`,
and this module requires that.
"""

import jsonschema

FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
# Formats left unchecked on purpose, with what stands in for the check.
UNCHECKED = {"int32": ("minimum", "maximum")}
# Keys whose values are data, not schemas: a `format` key in them is no schema keyword.
DATA_KEYS = {"example", "examples", "default", "const", "enum", "value"}
# Keys whose values map names (of properties, schemas, headers, ...) to objects: any name,
# `value` or `default` too, is a name there, and what it maps to is walked.
NAME_MAPS = {
    "properties", "patternProperties", "$defs", "dependentSchemas", "paths", "webhooks",
    "schemas", "responses", "parameters", "headers", "requestBodies", "securitySchemes",
    "links", "callbacks", "pathItems", "content",
}


def unverifiable_formats(doc):
    """[(JSON pointer, problem)] for each `format` in `doc` the checker cannot verify."""
    problems = []

    def walk(node, where, names=False):
        if isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")
        if not isinstance(node, dict):
            return
        fmt = node.get("format")
        if not names and isinstance(fmt, str):
            if fmt in UNCHECKED:
                missing = [k for k in UNCHECKED[fmt] if k not in node]
                if missing:
                    problems.append((where, f"format {fmt} is not checked, so the schema must state {' and '.join(missing)}"))
            elif fmt not in FORMAT_CHECKER.checkers:
                problems.append((where, f"format {fmt} cannot be checked here (no checker installed for it): its values would pass unseen"))
        for k, v in node.items():
            if names or k not in DATA_KEYS:
                walk(v, f"{where}/{str(k).replace('~', '~0').replace('/', '~1')}", not names and k in NAME_MAPS)

    walk(doc, "#")
    return problems
