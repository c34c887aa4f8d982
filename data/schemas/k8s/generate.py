#!/usr/bin/env python3
"""Regenerate deployment-apps-v1.json, leaderworkerset-v1.json and job-batch-v1.json
(see SOURCES.md).

Usage:
    python3 generate.py K8S_APPS_V1_OPENAPI_V3.json LWS_CRD.yaml K8S_BATCH_V1_OPENAPI_V3.json [OUT_DIR]
        [--core K8S_CORE_V1_OPENAPI_V3.json] [--rbac K8S_RBAC_V1_OPENAPI_V3.json]

With --core and --rbac it also writes serviceaccount-v1.json and the four RBAC kinds
(clusterrole-, clusterrolebinding-, role-, rolebinding-rbac-v1.json), which the nightly
CronJob's manifest (deploy/k8s/nightly.yaml) must validate against; cronjob-batch-v1.json
always comes from the batch file.

K8S_APPS_V1_OPENAPI_V3.json: Kubernetes' api/openapi-spec/v3/apis__apps__v1_openapi.json
    (here: release-1.34, as vendored by kubernetes-sigs/kubectl-validate at
    pkg/openapiclient/builtins/1.34/apis/apps/v1.json).
LWS_CRD.yaml: kubernetes-sigs/lws config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml
    (here: tag v0.8.0).
K8S_BATCH_V1_OPENAPI_V3.json: Kubernetes' api/openapi-spec/v3/apis__batch__v1_openapi.json
    (here: release-1.34, as vendored by kubernetes-sigs/kubectl-validate at
    pkg/openapiclient/builtins/1.34/apis/batch/v1.json).

Needs PyYAML. Output: JSON Schema draft-07, every $ref local ("#/definitions/...").
The conversion follows the "strict" mode of yannh/openapi2jsonschema: every schema
that lists `properties` (and does not set `x-kubernetes-preserve-unknown-fields`)
gets `additionalProperties: false`, so a misspelt field fails.
"""

import copy
import json
import os
import sys

import yaml

DRAFT = "http://json-schema.org/draft-07/schema#"
OPENAPI_REF = "#/components/schemas/"
LOCAL_REF = "#/definitions/"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def strict(node):
    """OpenAPI v3 (Kubernetes flavour) -> JSON Schema draft-07, strict objects."""
    if isinstance(node, list):
        return [strict(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref":
            assert value.startswith(OPENAPI_REF), value
            out[key] = LOCAL_REF + value[len(OPENAPI_REF):]
        elif key in ("properties", "definitions"):
            # A map of names to schemas: convert each schema, never the names.
            out[key] = {name: strict(schema) for name, schema in value.items()}
        elif key.startswith("x-kubernetes-") or key in ("default", "enum", "example", "discriminator"):
            out[key] = value  # values and annotations, not schemas: copied as they are
        else:
            out[key] = strict(value)
    if out.pop("nullable", False):
        # OpenAPI's nullable: none reachable from these kinds today; handled for safety.
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        elif t is None:
            out = {"anyOf": [out, {"type": "null"}]}
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out and "oneOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def refs(node, acc):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                acc.add(value.rsplit("/", 1)[-1])
            else:
                refs(value, acc)
    elif isinstance(node, list):
        for x in node:
            refs(x, acc)


def reachable(schemas, roots):
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found = set()
        refs(schemas[name], found)
        todo.extend(found - seen)
    return seen


def pin_kind(root, api_version, kind):
    """apiVersion and kind: required, and only this kind's values."""
    root["properties"]["apiVersion"]["enum"] = [api_version]
    root["properties"]["kind"]["enum"] = [kind]
    required = root.setdefault("required", [])
    for field in ("apiVersion", "kind"):
        if field not in required:
            required.append(field)


def builtin(openapi, name, api_version, kind):
    """A built-in kind: its schema is the root, with every schema it reaches as definitions."""
    schemas = openapi["components"]["schemas"]
    names = reachable(schemas, [name]) - {name}
    root = {"$schema": DRAFT, "title": f"{kind} ({api_version}), Kubernetes 1.34"}
    root.update(strict(schemas[name]))
    pin_kind(root, api_version, kind)
    root["definitions"] = {n: strict(schemas[n]) for n in sorted(names)}
    return root


def deployment(openapi):
    return builtin(openapi, "io.k8s.api.apps.v1.Deployment", "apps/v1", "Deployment")


def job(openapi):
    return builtin(openapi, "io.k8s.api.batch.v1.Job", "batch/v1", "Job")


def cronjob(openapi):
    return builtin(openapi, "io.k8s.api.batch.v1.CronJob", "batch/v1", "CronJob")


def rbac(openapi, kind):
    return builtin(openapi, f"io.k8s.api.rbac.v1.{kind}", "rbac.authorization.k8s.io/v1", kind)


def service_account(openapi):
    return builtin(openapi, "io.k8s.api.core.v1.ServiceAccount", "v1", "ServiceAccount")


def leaderworkerset(crd, openapi):
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    body = strict(version["schema"]["openAPIV3Schema"])
    root = {"$schema": DRAFT, "title": "LeaderWorkerSet (leaderworkerset.x-k8s.io/v1), LWS v0.8.0"}
    root.update(body)
    # The CRD leaves the root metadata as a bare {type: object}; the API server decodes it as
    # ObjectMeta, so check it against Kubernetes' ObjectMeta (and what that refers to).
    schemas = openapi["components"]["schemas"]
    meta = root["properties"]["metadata"]
    root["properties"]["metadata"] = {
        "allOf": [{"$ref": LOCAL_REF + OBJECT_META}],
        "description": meta.get("description", schemas[OBJECT_META].get("description", "")),
    }
    pin_kind(root, "leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")
    names = reachable(schemas, [OBJECT_META])
    root["definitions"] = {n: strict(schemas[n]) for n in sorted(names)}
    return root


def main():
    args = sys.argv[1:]
    extra = {}
    for flag in ("--core", "--rbac"):
        if flag in args:
            at = args.index(flag)
            extra[flag] = args[at + 1]
            del args[at : at + 2]
    if len(args) not in (3, 4):
        sys.exit(__doc__)
    openapi_path, crd_path, batch_path = args[0], args[1], args[2]
    out_dir = args[3] if len(args) > 3 else os.path.dirname(os.path.abspath(__file__))
    with open(openapi_path) as f:
        openapi = json.load(f)
    with open(crd_path) as f:
        crd = yaml.safe_load(f)
    with open(batch_path) as f:
        batch = json.load(f)
    outputs = [
        ("deployment-apps-v1.json", deployment(openapi)),
        ("leaderworkerset-v1.json", leaderworkerset(crd, copy.deepcopy(openapi))),
        ("job-batch-v1.json", job(batch)),
        ("cronjob-batch-v1.json", cronjob(batch)),
    ]
    if "--core" in extra:
        with open(extra["--core"]) as f:
            outputs.append(("serviceaccount-v1.json", service_account(json.load(f))))
    if "--rbac" in extra:
        with open(extra["--rbac"]) as f:
            rbac_openapi = json.load(f)
        for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            outputs.append((f"{kind.lower()}-rbac-v1.json", rbac(rbac_openapi, kind)))
    for name, schema in outputs:
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(schema, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
