"""What `pip install .` brings: the runtime closure stays lean, and package data ships."""

from __future__ import annotations

import importlib.metadata as md
import re

from packaging.requirements import Requirement


def _closure(name: str) -> set[str]:
    """Names of every distribution the runtime install of ``name`` pulls in (no extras)."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        key = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if key in seen:
            continue
        seen.add(key)
        for text in md.requires(key) or ():
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(req.name)
    return seen


def test_the_runtime_pulls_no_pandas_and_no_lifetimes() -> None:
    runtime = _closure("scrm-assistant")
    assert "wechatpy" in runtime and "fastapi-offline" in runtime  # the walk really ran
    assert not runtime & {"pandas", "lifetimes", "autograd", "dill"}, sorted(runtime)


def test_xmltodict_is_declared_since_the_callback_imports_it() -> None:
    declared = {Requirement(r).name.lower() for r in md.requires("scrm-assistant") or ()}
    assert "xmltodict" in declared
    assert "six" not in declared  # wechatpy declares its own
