"""The Lua scripts shipped in ``scripts/``, as Redis is given them."""

from __future__ import annotations

from importlib import resources


def load_script(name: str) -> str:
    """The source of ``scripts/<name>``, with each of its ``--#include <file>`` lines replaced
    by that file (Redis scripts cannot import)."""
    scripts = resources.files("ticketmaster.adapters.redis").joinpath("scripts")
    lines = scripts.joinpath(name).read_text().splitlines(keepends=True)
    return "".join(
        scripts.joinpath(line.split()[1]).read_text() if line.startswith("--#include ") else line
        for line in lines
    )
