"""ACME's house rules, as readiness checks."""

from __future__ import annotations

from readiness import Context, Result, check, failed, passed


@check(
    "ACME001",
    "Model declares its licence",
    category="governance",
    severity="minor",
    remediation='add metadata_props {"license": "..."} when exporting, e.g. model.metadata_props.add(key="license", value="Apache-2.0")',
)
def model_declares_license(ctx: Context) -> Result:
    """The ONNX model carries a `license` metadata property.

    Models leave the building; whoever picks one up must know the terms it comes
    under. ACME requires every exported model to say so in its own metadata.
    """
    props = ctx.onnx.metadata  # a file that is not ONNX makes this check `skip`, pointing at ART001
    licence = props.get("license", "").strip()
    if not licence:
        return failed("the model has no `license` metadata property", evidence={"metadata_keys": sorted(props)})
    return passed(f"licence: {licence}", measured={"license": licence})
