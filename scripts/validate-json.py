#!/usr/bin/env python3
"""Validates JSON documents against the project's JSON Schemas (docs/schemas, draft 2020-12).

  validate-json.py SCHEMA_DIR < lines        each line: {"schema": "balance-changed", "label": "...", "document": {...}}
  validate-json.py SCHEMA_DIR --asyncapi docs/asyncapi.yaml
                                             every message example in the AsyncAPI document, against
                                             the schema its payload references
  validate-json.py SCHEMA_DIR --markdown docs/contract.md
                                             every ```json block of a Markdown file, against the
                                             schema named by the `<!-- schema: NAME -->` line above it

Uses the `jsonschema` package (PyPI, the reference Python implementation of JSON Schema;
scripts/install-deps.sh installs it when missing). Prints one line per invalid document and a
summary; exits 1 if any document is invalid, 2 on bad usage.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource


def load_validators(schema_dir):
    schemas = {}
    for path in sorted(pathlib.Path(schema_dir).glob("*.json")):
        schemas[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    validators = {}
    for name, schema in schemas.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[name] = jsonschema.Draft202012Validator(
            schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return validators


def documents_from_stdin():
    for number, line in enumerate(sys.stdin, 1):
        if line.strip():
            item = json.loads(line)
            yield item["schema"], item.get("label", f"line {number}"), item["document"]


def documents_from_asyncapi(path):
    import yaml
    spec = yaml.safe_load(pathlib.Path(path).read_text(encoding="utf-8"))
    for name, message in spec["components"]["messages"].items():
        schema = pathlib.Path(message["payload"]["$ref"]).stem
        examples = message.get("examples", [])
        if not examples:
            yield schema, f"{name}: no example", None
        for index, example in enumerate(examples):
            yield schema, f"{name} example {example.get('name', index)}", example["payload"]


def documents_from_markdown(path):
    lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
    schema, block, start = None, None, 0
    for number, line in enumerate(lines, 1):
        if block is not None:
            if line.strip() == "```":
                label = f"{path}:{start}"
                if schema is None:
                    yield "(none)", f"{label} (no <!-- schema: NAME --> line above the block)", None
                else:
                    yield schema, label, json.loads("\n".join(block))
                schema, block = None, None
            else:
                block.append(line)
        elif line.strip().startswith("<!-- schema:"):
            schema = line.strip()[len("<!-- schema:"):-len("-->")].strip()
        elif line.strip() == "```json":
            block, start = [], number
        elif line.strip():
            schema = None


def main():
    modes = {"--asyncapi": documents_from_asyncapi, "--markdown": documents_from_markdown}
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] not in modes):
        print(__doc__, file=sys.stderr)
        return 2
    validators = load_validators(sys.argv[1])
    source = modes[sys.argv[2]](sys.argv[3]) if len(sys.argv) == 4 else documents_from_stdin()
    checked, failed = {}, 0
    for schema, label, document in source:
        if schema not in validators:
            print(f"INVALID {label}: no schema named {schema}")
            failed += 1
            continue
        if document is None:
            print(f"INVALID {label}")
            failed += 1
            continue
        errors = sorted(validators[schema].iter_errors(document), key=lambda error: list(error.path))
        for error in errors:
            where = "/".join(str(part) for part in error.path) or "(root)"
            print(f"INVALID {label} ({schema}) at {where}: {error.message}")
        failed += bool(errors)
        checked[schema] = checked.get(schema, 0) + 1
    summary = ", ".join(f"{name} {count}" for name, count in sorted(checked.items()))
    print(f"validated {sum(checked.values())} documents ({summary}); {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
