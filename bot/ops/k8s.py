"""Offline validation of ``deploy/k8s/*.yaml`` against the Kubernetes schemas that the
``kubernetes-validate`` package ships (strict: unknown fields are errors).

``kubernetes_validate.validate`` itself needs ``referencing>=0.28``, while the lock
pins 0.8 (Rasa's ``jsonschema`` 4.17); until the lock moves, this module loads the same
schema files and validates with the locked ``jsonschema``. With a newer ``referencing``
it uses ``kubernetes_validate.validate`` directly.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

K8S_VERSION = "1.33.0"
MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def schema_dir(version: str = K8S_VERSION) -> Path:
    spec = importlib.util.find_spec("kubernetes_validate")  # without importing it
    if spec is None or not spec.submodule_search_locations:
        raise LookupError("kubernetes-validate is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    return root / f"v{version}-local-strict"


@lru_cache(maxsize=64)
def _validator(kind: str, api_version: str, version: str) -> Any:
    import jsonschema

    group, _, ver = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{ver}" if group else f"-{ver}"
    path = schema_dir(version) / f"{kind.lower()}{suffix}.json"
    if not path.exists():
        raise LookupError(f"no schema for {kind} {api_version} in Kubernetes {version}")
    schema = json.loads(path.read_text())
    definitions = json.loads((path.parent / "_definitions.json").read_text())
    resolver = jsonschema.RefResolver(
        base_uri=path.as_uri(), referrer=schema,
        store={(path.parent / "_definitions.json").as_uri(): definitions},
    )
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, resolver=resolver)


def validate(document: dict[str, Any], version: str = K8S_VERSION) -> list[str]:
    """Error messages for one manifest (empty when valid)."""
    try:
        import kubernetes_validate

        try:
            kubernetes_validate.validate(document, version, strict=True)
            return []
        except kubernetes_validate.ValidationError as error:
            return [f"{'.'.join(map(str, error.path))}: {error.message}"]
    except ImportError:
        pass
    validator = _validator(document["kind"], document["apiVersion"], version)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def documents(directory: Path = MANIFESTS) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path.name, doc))
    return found


def main() -> int:
    failures = 0
    for name, doc in documents():
        errors = validate(doc)
        label = f"{name}: {doc['kind']}/{doc['metadata']['name']}"
        print(f"{'ok  ' if not errors else 'FAIL'} {label}")
        for error in errors:
            print(f"     {error}")
        failures += bool(errors)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
