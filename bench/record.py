"""Write one benchmark's figures into its own section of docs/benchmarks.md."""

import platform
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\nMeasured by the scripts in `bench/` (`make bench` runs them all);"
    " each section is rewritten by its script.\n"
)


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def record(section: str, body: str) -> None:
    """Replace (or append) the section `## {section}` with body, stamped with date and machine."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    stamp = f"_Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}._\n"
    block = f"## {section}\n\n{stamp}\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    BENCHMARKS.write_text(text.rstrip() + "\n")


def marked(figures: Iterable[tuple[str, str | None]]) -> list[str]:
    """Lines marking figures kept from before a change, until they are measured again.

    `figures` pairs what was measured (a size, a world, a target) with its note, or None when it is
    current: a blank line, then one "- what: note" per noted one; nothing when none is noted.
    """
    lines = [f"- {what}: {note}" for what, note in figures if note]
    return ["", *lines] if lines else []
