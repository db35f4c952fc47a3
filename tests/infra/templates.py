"""Synthesizing the app for the infra tests: the deployed stack is a parent with the REST API in a nested
stack (infra_cdk/stack.py); most tests read one flattened template, as if it were a single stack, and the
limits that apply per stack (resource count, cfn-lint) read the real ones."""

from __future__ import annotations

from typing import Any

from aws_cdk import NestedStack, Stack
from aws_cdk.assertions import Template

STACKS_KEY = "__stacks__"  # the real templates, parent first
META_KEYS = ("__outdir__", STACKS_KEY)


def _replace(value: Any, substitute: Any) -> Any:
    found = substitute(value)
    if found is not None:
        return found
    if isinstance(value, dict):
        return {k: _replace(v, substitute) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, substitute) for v in value]
    return value


def flatten(parent: dict[str, Any], nested: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One template of a parent and its nested stacks (logical id of the AWS::CloudFormation::Stack ->
    its template): parameters the parent passes are substituted into the nested resources, and the
    parent's reads of nested outputs are replaced by the outputs' values."""
    resources = {k: v for k, v in parent["Resources"].items() if k not in nested}
    merged_outputs: dict[str, Any] = {}
    for stack_id, template in nested.items():
        passed = parent["Resources"][stack_id]["Properties"].get("Parameters", {})

        def from_parent(value: Any, passed: dict[str, Any] = passed) -> Any:
            if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in passed:
                return passed[value["Ref"]]
            return None

        for key, resource in template["Resources"].items():
            resources[key] = _replace(resource, from_parent)
        for name, output in template.get("Outputs", {}).items():
            merged_outputs[(stack_id, name)] = _replace(output["Value"], from_parent)

    def from_nested(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            target, _, attribute = (value["Fn::GetAtt"][0], None, value["Fn::GetAtt"][1])
            if target in nested and str(attribute).startswith("Outputs."):
                return merged_outputs[(target, str(attribute).removeprefix("Outputs."))]
        return None

    flat = {k: v for k, v in parent.items() if k not in ("Resources", "Parameters")}
    flat["Resources"] = _replace(resources, from_nested)
    if "Outputs" in flat:
        flat["Outputs"] = _replace(flat["Outputs"], from_nested)
    if "Parameters" in parent:
        flat["Parameters"] = parent["Parameters"]
    return flat


def templates_of(stack: Stack) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(flattened template, [parent template, nested templates...]) of a synthesized stack."""
    parent: dict[str, Any] = Template.from_stack(stack).to_json()
    nested: dict[str, dict[str, Any]] = {}
    for child in stack.node.find_all():
        if isinstance(child, NestedStack) and child.nested_stack_parent is stack:
            logical_id = stack.resolve(child.nested_stack_resource.logical_id)  # type: ignore[union-attr]
            nested[logical_id] = Template.from_stack(child).to_json()
    flat = flatten(parent, nested)
    flat[STACKS_KEY] = [parent, *nested.values()]
    return flat, [parent, *nested.values()]
