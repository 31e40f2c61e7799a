"""Provider dialects by name, from one explicit table (no registration by import side effect)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connector.providers.base import Provider
from connector.providers.corbital import CorbitalProvider
from connector.providers.corbital_v2 import CorbitalV2Provider
from connector.providers.waapi import WaapiProvider
from connector.providers.wbiz import WbizProvider

_FACTORIES: Mapping[str, Callable[[], Provider]] = {
    "corbital": CorbitalProvider,
    "corbital_v2": CorbitalV2Provider,
    "wbiz": WbizProvider,
    "waapi": WaapiProvider,
}


class UnknownProvider(KeyError):
    """No dialect has this name."""


def provider_names() -> frozenset[str]:
    return frozenset(_FACTORIES)


def get_provider(name: str) -> Provider:
    """The dialect called `name`; raises `UnknownProvider` naming the known ones."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownProvider(f"unknown provider {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    return factory()


def known_operations() -> dict[str, frozenset[str]]:
    """Operation names per provider, for checking action definitions at load time."""
    return {name: factory().operations() for name, factory in _FACTORIES.items()}
