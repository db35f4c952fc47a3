"""One template of the whole deployment: a stack's template with its nested stacks' resources merged in.

A context may live in a nested stack (CloudFormation's 500-resource limit per stack); the infrastructure tests
look at every resource as if it were one template. Each nested resource keeps its logical id prefixed with the
nested stack's, references to the nested stack's parameters become the parent's values, and the parent's
references to the nested stack's outputs become the outputs' values, so Ref/GetAtt between contexts resolve to
the resources they name. `__stack_sizes__` keeps each stack's own resource count (the limit is per stack)
and `__templates__` each stack's template as synthesized.
"""

from __future__ import annotations

import copy
from typing import Any

STACK_TYPE = "AWS::CloudFormation::Stack"


def _rewrite(value: Any, ids: dict[str, str], params: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and isinstance(value["Ref"], str):
            name = value["Ref"]
            if name in params:
                return copy.deepcopy(params[name])
            return {"Ref": ids.get(name, name)}
        if set(value) == {"Fn::GetAtt"}:
            target, *rest = value["Fn::GetAtt"]
            return {"Fn::GetAtt": [ids.get(target, target), *rest]}
        return {k: _rewrite(v, ids, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, ids, params) for v in value]
    return value


def _outputs_to_values(value: Any, outputs: dict[tuple[str, str], Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::GetAtt"}:
            target, *rest = value["Fn::GetAtt"]
            attribute = ".".join(rest)
            if attribute.startswith("Outputs.") and (target, attribute[8:]) in outputs:
                return copy.deepcopy(outputs[(target, attribute[8:])])
        return {k: _outputs_to_values(v, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [_outputs_to_values(v, outputs) for v in value]
    return value


def merge_nested(parent: dict[str, Any], nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`nested`: the AWS::CloudFormation::Stack resource id in `parent` -> that nested stack's template."""
    merged = copy.deepcopy(parent)
    sizes = {"<root>": len(parent["Resources"])}
    outputs: dict[tuple[str, str], Any] = {}
    for stack_id, template in nested.items():
        params = merged["Resources"][stack_id]["Properties"].get("Parameters", {})
        ids = {name: f"{stack_id}{name}" for name in template["Resources"]}
        for name, resource in template["Resources"].items():
            resource = _rewrite(resource, ids, params)
            if "DependsOn" in resource:
                resource["DependsOn"] = [ids.get(d, d) for d in resource["DependsOn"] if isinstance(d, str)]
            merged["Resources"][ids[name]] = resource
        for name, output in template.get("Outputs", {}).items():
            outputs[(stack_id, name)] = _rewrite(output["Value"], ids, params)
        sizes[stack_id] = len(template["Resources"])
    merged["Resources"] = _outputs_to_values(merged["Resources"], outputs)
    merged["__stack_sizes__"] = sizes
    merged["__templates__"] = {"<root>": parent, **nested}  # as deployed: what cfn-lint reads, one by one
    return merged


def nested_stack_ids(parent: dict[str, Any]) -> list[str]:
    return [k for k, v in parent["Resources"].items() if v["Type"] == STACK_TYPE]


def with_nested(parent: dict[str, Any], stack: Any, outdir: str) -> dict[str, Any]:
    """`parent` (the synthesized template of `stack`) merged with its nested stacks' templates, read from the
    cloud assembly in `outdir`."""
    import json
    from pathlib import Path

    from aws_cdk import NestedStack

    nested = {}
    for child in stack.node.find_all():
        if isinstance(child, NestedStack) and child.nested_stack_parent is stack:
            resource_id = stack.resolve(child.nested_stack_resource.logical_id)
            nested[resource_id] = json.loads((Path(outdir) / child.template_file).read_text())
    return merge_nested(parent, nested)
