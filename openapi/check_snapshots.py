"""Check every insta snapshot of an HTTP answer against its vendor's OpenAPI document.

    .ci/venv/bin/python openapi/check_snapshots.py [--snapshots DIR] [--document VENDOR=PATH]...
    .ci/venv/bin/python openapi/check_snapshots.py --exchange - < exchange.json

The tests snapshot answers as exchanges (tests/support `Reply::exchange`):
`{"request": "POST /credeau/api/insights", "status": 200, "headers": {...}, "body": ...}`,
alone or inside a larger JSON value. For each exchange in each `tests/snapshots/*.snap`:

- the request line names the operation: an optional sandbox segment (`/~NAME`), the
  vendor's prefix (`/credeau`: the document's `servers` URL path), then one of the
  document's paths (a literal path before a templated one, and the more literal template
  first) and its method;
- the status picks the operation's response (`200`, else `2XX`, else `default`); an
  undocumented status fails;
- the recorded `content-type` (or, when the snapshot did not record it, the response's
  only media type, else any of them) picks the schema, and the body must match it (JSON
  Schema 2020-12, formats checked, `$ref`s into the document resolved); a response
  documented without content must have an empty body;
- every recorded header the response documents must match that header's schema.

A snapshot with no exchange (a rendered diagnostic, `vendor-mock list`, a summary of a
body), an exchange without a request line, and an exchange whose request is no
documented operation (admin calls, protocol errors, unknown paths) must be listed in
openapi/unmapped_snapshots.toml with the reason; nothing is skipped silently. An entry with
`file` alone excuses only that file's exchanges without a request line (or a file with no
exchange); an exchange with a request line needs its request listed in the entry's
`requests`. An entry that no longer matches anything is an error too, so the list cannot go
stale.

Every format the documents use must be one the checker verifies (openapi/formats.py):
a document with another is a problem, since its values would pass unchecked.

`--exchange FILE` (`-`: standard input) checks one exchange, in the same JSON form, instead
of the snapshots: for an answer a test cannot snapshot whole (Credeau's ~2800 fields), the
test hands the whole answer here before it snapshots a summary. There an exchange that maps
to no operation is a problem too.

Prints one line per problem and a summary; exits 1 if there is any problem.
"""

import argparse
import glob
import json
import os
import re
import sys
import tomllib
from urllib.parse import urlsplit

import jsonschema
import yaml
from formats import unverifiable_formats
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENDORS = ["finbox", "credeau", "finx", "credolab", "finscore", "featurestore"]
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SANDBOX = re.compile(r"^/~[A-Za-z0-9_.-]{1,64}(?=/|$)")


def pointer(*parts):
    """A JSON pointer fragment from raw keys."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Document:
    def __init__(self, vendor, path):
        self.vendor = vendor
        self.path = path
        self.doc = yaml.safe_load(open(path, encoding="utf-8"))
        self.base = f"urn:vendor-mock:{vendor}"
        self.registry = Registry().with_resource(
            self.base, Resource.from_contents(self.doc, default_specification=DRAFT202012)
        )
        self.prefix = urlsplit(self.doc["servers"][0]["url"]).path.rstrip("/")
        self.routes = []
        for template in self.doc.get("paths", {}):
            literal = len(re.sub(r"\{[^}]*\}", "", template))
            regex = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]*\})", template)
                if part
            )
            self.routes.append((literal, template, re.compile(f"^{regex}$")))
        # Literal paths first, then the templates with the most literal text.
        self.routes.sort(key=lambda r: -r[0])

    def resolve(self, obj, where):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            where = ref
            target = self.doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            obj = target
        return obj, where

    def route(self, path):
        for _, template, regex in self.routes:
            if regex.match(path):
                return template
        return None

    def errors(self, where, value):
        """Schema errors of `value` against the schema at JSON pointer `where`."""
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{self.base}#{where}"},
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        best = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if best is None:
            return None
        message = best.message
        # Under oneOf/anyOf, also say why the closest alternative failed.
        deepest = best
        while deepest.context:
            deepest = jsonschema.exceptions.best_match(deepest.context)
        at = "".join(f"[{p!r}]" for p in deepest.absolute_path)
        if deepest is not best:
            message = f"{deepest.message[:300]} (so: {best.message[:120]})"
        return f"body{at}: {message[:500]}"


def parse_snapshot(path):
    """(header text, value) of an insta snapshot; the value is JSON, or text."""
    text = open(path, encoding="utf-8").read()
    parts = text.split("---\n", 2)
    if len(parts) != 3 or parts[0] != "":
        raise ValueError(f"{path}: not an insta snapshot")
    body = parts[2]
    try:
        return parts[1], json.loads(body)
    except json.JSONDecodeError:
        return parts[1], body


def exchanges(value):
    """Every exchange in a snapshot's value, in order, found at any depth."""
    if isinstance(value, dict):
        if "status" in value and "body" in value and isinstance(value["status"], int):
            yield value
            return
        for v in value.values():
            yield from exchanges(v)
    elif isinstance(value, list):
        for v in value:
            yield from exchanges(v)


def media_type(content_type):
    return content_type.split(";")[0].strip().lower()


def media_matches(declared, actual):
    d, a = media_type(declared), media_type(actual)
    if d == a or d == "*/*":
        return True
    return d.endswith("/*") and a.split("/")[0] == d.split("/")[0]


def check_exchange(documents, name, exchange):
    """None when the exchange matches its operation; else (kind, message), kind being
    `unmapped` (no operation: may be listed) or `invalid` (drift: always fails)."""
    request = exchange.get("request")
    if not isinstance(request, str):
        return "unmapped", "no request line (the snapshot was not made with Reply::exchange)"
    method, _, target = request.partition(" ")
    path = urlsplit(target).path
    path = SANDBOX.sub("", path)
    vendor = path.split("/")[1] if path.count("/") >= 1 else ""
    doc = documents.get(vendor)
    if doc is None or not path.startswith(doc.prefix):
        return "unmapped", f"{path} is under no vendor's prefix"
    local = path[len(doc.prefix):] or "/"
    template = doc.route(local)
    if template is None:
        return "unmapped", f"{vendor}: no documented path matches {local}"
    item = doc.doc["paths"][template]
    operation = item.get(method.lower())
    if method.lower() not in METHODS or operation is None:
        return "unmapped", f"{vendor}: {template} documents no {method}"
    op = f"{method} {template}"
    status = exchange["status"]
    responses = operation.get("responses", {})
    key = next(
        (k for k in (str(status), f"{str(status)[0]}XX", "default") if k in responses),
        None,
    )
    if key is None:
        return "invalid", f"{vendor}: {op} does not document status {status}"
    base = pointer("paths", template, method.lower(), "responses", key)
    response, where = doc.resolve(responses[key], base)
    where = where.removeprefix("#")
    problems = []

    headers = {k.lower(): v for k, v in (exchange.get("headers") or {}).items()}
    for hname, header in (response.get("headers") or {}).items():
        if hname.lower() not in headers:
            continue
        header, hwhere = doc.resolve(header, where + pointer("headers", hname))
        if "schema" not in header:
            continue
        value = headers[hname.lower()]
        schema, _ = doc.resolve(header["schema"], "")
        if schema.get("type") == "integer" and re.fullmatch(r"-?\d+", value):
            value = int(value)
        error = doc.errors(hwhere.removeprefix("#") + "/schema", value)
        if error:
            problems.append(f"header {hname}: {error.removeprefix('body: ')}")

    content = response.get("content")
    body = exchange["body"]
    if not content:
        if body not in ("", None):
            problems.append(f"{key} is documented without a body, but one came: {str(body)[:200]}")
    else:
        recorded = headers.get("content-type")
        types = list(content)
        if recorded is not None:
            types = [t for t in types if media_matches(t, recorded)]
            if not types:
                problems.append(f"content-type {recorded} is not documented for {key} (only {', '.join(content)})")
        errors = []
        for t in types:
            if "schema" not in content[t]:
                errors = []
                break
            error = doc.errors(where + pointer("content", t, "schema"), body)
            if error is None:
                errors = []
                break
            errors.append(f"as {t}: {error}")
        problems.extend(errors[:1])
    if problems:
        return "invalid", f"{vendor}: {op} {status}: " + "; ".join(problems)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", default=os.path.join(ROOT, "tests", "snapshots"))
    parser.add_argument("--unmapped", default=os.path.join(HERE, "unmapped_snapshots.toml"))
    parser.add_argument(
        "--document",
        action="append",
        default=[],
        metavar="VENDOR=PATH",
        help="check against this document instead of openapi/VENDOR.yaml",
    )
    parser.add_argument(
        "--exchange",
        metavar="FILE",
        help="check this one exchange (JSON; `-`: standard input) instead of the snapshots",
    )
    args = parser.parse_args()
    paths = {v: os.path.join(HERE, f"{v}.yaml") for v in VENDORS}
    for d in args.document:
        vendor, _, path = d.partition("=")
        paths[vendor] = path
    documents = {}
    problems = []
    for vendor, path in paths.items():
        doc = Document(vendor, path)
        documents[doc.prefix.strip("/")] = doc
        for where, problem in unverifiable_formats(doc.doc):
            problems.append(f"{path}: {where}: {problem}")

    if args.exchange is not None:
        return check_one(documents, args.exchange, problems)

    listed = tomllib.load(open(args.unmapped, "rb")).get("snapshot", [])
    used = [False] * len(listed)
    for entry in listed:
        if not str(entry.get("reason", "")).strip() or "file" not in entry:
            problems.append(f"{os.path.basename(args.unmapped)}: every entry needs a `file` and a `reason`: {entry}")

    def listed_for(file, request):
        """Index of the list entry excusing this (file, request), if any: an entry with
        `file` alone excuses only what has no request line (`request` None)."""
        for i, entry in enumerate(listed):
            if entry.get("file") != file:
                continue
            if request in entry.get("requests", [None]):
                return i
        return None

    files = sorted(glob.glob(os.path.join(args.snapshots, "*.snap")))
    checked = excused = 0
    for path in files:
        name = os.path.basename(path)
        _, value = parse_snapshot(path)
        found = list(exchanges(value))
        if not found:
            i = listed_for(name, None)
            if i is None:
                problems.append(f"{name}: holds no exchange (no status and body): list it with the reason")
            else:
                used[i] = True
                excused += 1
            continue
        for exchange in found:
            result = check_exchange(documents, name, exchange)
            request = exchange.get("request")
            if result is None:
                checked += 1
                continue
            kind, message = result
            i = listed_for(name, request)
            if kind == "unmapped" and i is not None:
                used[i] = True
                excused += 1
                continue
            if kind == "unmapped" and request is not None and listed_for(name, None) is not None:
                message += f" (the entry for {name} names no `requests`, so it excuses only answers without a request line: list {request!r} in its `requests`)"
            problems.append(f"{name}: {request or '(no request)'} → {exchange['status']}: {message}")
    for entry, was_used in zip(listed, used):
        if not was_used:
            problems.append(
                f"{os.path.basename(args.unmapped)}: the entry for {entry['file']} "
                f"{entry.get('requests', '')} excuses nothing any more: remove it"
            )
    for p in problems:
        print(p)
    print(
        f"{len(files)} snapshots: {checked} answers match their operation's schema, "
        f"{excused} listed as unmapped, {len(problems)} problems"
    )
    return 1 if problems else 0


def check_one(documents, source, problems):
    """`--exchange`: check the one exchange in `source` (`-`: standard input)."""
    text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()
    try:
        exchange = json.loads(text)
    except json.JSONDecodeError as e:
        problems.append(f"{source}: not JSON: {e}")
        exchange = None
    if exchange is not None:
        found = list(exchanges(exchange))
        if len(found) != 1:
            problems.append(f"{source}: expected one exchange (status and body), found {len(found)}")
        else:
            result = check_exchange(documents, source, found[0])
            if result is not None:
                problems.append(f"{found[0].get('request') or '(no request)'} → {found[0]['status']}: {result[1]}")
    for p in problems:
        print(p)
    verdict = "matches its operation's schema" if not problems else f"{len(problems)} problems"
    print(f"the exchange: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
