"""Package names that load on first use (PEP 562), so that importing one light module of a
package (``engine.dsl.webinar_ids``, ``engine.zoom.settings``) does not import all of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__``: each name of ``homes`` (name → the package's module defining it)
    imported from its module when first asked for, then kept in the package."""
    namespace = import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    return __getattr__
