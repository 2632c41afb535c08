"""Writing benchmark figures into docs/benchmarks.md, one section per benchmark."""
from __future__ import annotations

import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def current_section(heading: str) -> str:
    """The section under `heading` as it is now ("" if there is none)."""
    found = _pattern(heading).search(DOC.read_text()) if DOC.exists() else None
    return found.group(0) if found else ""


def write_section(heading: str, body: str) -> None:
    """Replace the section under `heading` (or append it), leaving the others alone."""
    section = f"{heading}\n\n{body.strip()}\n"
    old = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = _pattern(heading)
    new = pattern.sub(lambda _: section + "\n", old) if pattern.search(old) else old.rstrip() + "\n\n" + section
    DOC.write_text(new.rstrip() + "\n")


def publish(heading: str, command: str, conditions: str, text: str) -> None:
    """Print a benchmark's figures and write them into its section, saying how to get them
    again (`command`) and what they were measured under (`conditions`, which follows
    "Measured <date> on this machine")."""
    print(text)
    write_section(heading, f"Command: {command}.\nMeasured {time.strftime('%Y-%m-%d')} on this "
                           f"machine {conditions}.\n\n{text}")


def _pattern(heading: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
