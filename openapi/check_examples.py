"""Check that every example of an OpenAPI 3.1 document matches the schema it illustrates.

    .ci/venv/bin/python openapi/check_examples.py openapi/finscore.yaml [more.yaml ...]

Request-body and response examples (`examples` and `example` of each media type, also under
`components/responses`) and the `examples` of `components/schemas` are validated with JSON
Schema 2020-12, as OpenAPI 3.1 reads schemas (formats checked too). openapi-spec-validator
checks the document's structure, not its examples. A `format` the checker cannot verify
(openapi/formats.py) is a problem too: examples of it would pass unchecked. Prints one line
per example that does not match, and exits 1 if any does.
"""

import copy
import sys

import jsonschema
import yaml
from formats import unverifiable_formats
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "urn:openapi-document"


def check(path):
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    checked = 0
    invalid = 0
    for where, problem in unverifiable_formats(doc):
        invalid += 1
        print(f"{path}: {where}: {problem}")

    def validate(schema, value, where):
        nonlocal checked, invalid
        checked += 1
        # The schema goes into a copy of the document, so its `#/components/...` refs resolve.
        root = copy.deepcopy(doc)
        root["x-checked-schema"] = schema
        resource = Resource.from_contents(root, default_specification=DRAFT202012)
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{BASE}#/x-checked-schema"},
            registry=Registry().with_resource(BASE, resource),
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is not None:
            invalid += 1
            print(f"{path}: {where}: {error.message[:300]}")

    def resolve(obj):
        while isinstance(obj, dict) and set(obj) == {"$ref"}:
            target = doc
            for part in obj["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            obj = target
        return obj

    def media_examples(content, where):
        for media_type, media in (content or {}).items():
            schema = media.get("schema")
            if schema is None:
                continue
            for name, example in (media.get("examples") or {}).items():
                validate(schema, resolve(example)["value"], f"{where} {media_type} example {name}")
            if "example" in media:
                validate(schema, media["example"], f"{where} {media_type} example")

    for route, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            body = resolve(operation.get("requestBody") or {})
            media_examples(body.get("content"), f"{method.upper()} {route} request")
            for status, response in operation.get("responses", {}).items():
                media_examples(resolve(response).get("content"), f"{method.upper()} {route} {status}")
    components = doc.get("components", {})
    for name, response in components.get("responses", {}).items():
        media_examples(response.get("content"), f"components/responses/{name}")
    for name, schema in components.get("schemas", {}).items():
        for i, example in enumerate(schema.get("examples") or []):
            validate({"$ref": f"#/components/schemas/{name}"}, example, f"components/schemas/{name} example {i}")
    print(f"{path}: {checked} examples checked, {invalid} do not match their schema")
    return invalid


if __name__ == "__main__":
    sys.exit(1 if sum(check(p) for p in sys.argv[1:]) else 0)
