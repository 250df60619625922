#!/usr/bin/env python3
"""Turn kubernetes-validate's bundled JSON schemas into a directory kubeconform reads offline.

kubeconform's default schema location is a GitHub URL, unreachable on the build machines. The
kubernetes-validate package (PyPI) ships the same OpenAPI-derived schemas, but each file names
https://kubernetes.io/api/... in $id and refers to /api/_definitions.json, which a file loader
cannot resolve. This copies one version's strict schemas with $id removed and the references made
relative (_definitions.json next to the file), in kubeconform's layout:
  OUT/v<version>-standalone-strict/<kind>-<group>-<version>.json

Usage: kubeconform-schemas.py KUBERNETES_VALIDATE_PACKAGE_DIR VERSION OUT
"""
import json
import os
import sys

def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    pkg, version, out = sys.argv[1:]
    src = os.path.join(pkg, "kubernetes-json-schema", f"v{version}-local-strict")
    if not os.path.isdir(src):
        print(f"kubeconform-schemas: no schemas for Kubernetes {version} in {src}", file=sys.stderr)
        return 1
    dst = os.path.join(out, f"v{version}-standalone-strict")
    os.makedirs(dst, exist_ok=True)
    count = 0
    for name in sorted(os.listdir(src)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = f.read().replace('"/api/_definitions.json#', '"_definitions.json#')
        schema = json.loads(text)
        schema.pop("$id", None)
        # The files use $defs (draft 2020-12); kubeconform would assume draft 4 otherwise.
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            json.dump(schema, f)
        count += 1
    if count == 0 or not os.path.exists(os.path.join(dst, "_definitions.json")):
        print(f"kubeconform-schemas: {src} holds no usable schemas", file=sys.stderr)
        return 1
    print(f"kubeconform-schemas: {count} schemas for Kubernetes {version} in {dst}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
