"""Install-request rules: which auth method applies and which connector properties are valid.

Cyclr's wording for each refusal is kept (cyclr-api.md §2.2). Values of properties marked
``IsSensitive`` are validated but never echoed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .apierror import ApiError

__all__ = ["check_properties", "choose_auth_method"]


def choose_auth_method(connector: Mapping[str, Any], authentication_id: str | None) -> Mapping[str, Any]:
    """The chosen ``Authentication[]`` entry, else the first, else the connector's top-level auth."""
    methods = [m for m in connector.get("Authentication") or [] if isinstance(m, Mapping)]
    if authentication_id is None:
        return methods[0] if methods else connector
    for method in methods:
        if str(method.get("Id") or "").lower() == authentication_id.lower():
            return method
    raise ApiError(400, f"There is not an authentication method that matches ID '{authentication_id}'.")


def check_properties(connector: Mapping[str, Any], supplied: Any) -> list[tuple[str, str | None]]:
    """Validate install ``Properties`` against the connector's Parameters; (TargetName, shown value)."""
    if supplied is None:
        supplied = []
    if not isinstance(supplied, list):
        raise ApiError(400, "The request is invalid.")
    params = [p for p in connector.get("Parameters") or [] if isinstance(p, Mapping)]
    by_name = {str(p.get("TargetName") or p.get("Name") or "").casefold(): p for p in params}
    given: dict[str, tuple[Mapping[str, Any], str]] = {}
    for item in supplied:
        if not isinstance(item, dict):
            raise ApiError(400, "The request is invalid.")
        raw_name = item.get("Name")
        name = raw_name.strip() if isinstance(raw_name, str) else ""
        param = by_name.get(name.casefold())
        if param is None:
            raise ApiError(400, f"There is not a connector property that matches name '{name}'.")
        if not param.get("IsAccountConnectorProperty"):
            raise ApiError(400, f"Connector property name '{name}' is not an account connector property.")
        value = item.get("Value")
        value = None if value is None else str(value)
        allowed = [str(v.get("Value") if isinstance(v, Mapping) else v) for v in param.get("Values") or []]
        if allowed and value not in allowed:
            raise ApiError(
                400, f"Value for connector property '{name}' must be one of: {', '.join(allowed)}."
            )
        given[str(param.get("TargetName") or name).casefold()] = (param, value or "")
    for param in params:
        target = str(param.get("TargetName") or param.get("Name") or "")
        required = param.get("IsAccountConnectorProperty") and not param.get("IsOptional", True)
        if required and not given.get(target.casefold(), (param, ""))[1].strip():
            raise ApiError(400, f"Account connector property '{target}' is required.")
    return [
        (str(p.get("TargetName") or p.get("Name")), None if p.get("IsSensitive") else value)
        for p, value in given.values()
    ]
