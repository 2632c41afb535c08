"""A finding of a bundle check: the file and line at fault and what is wrong, as
`bdp products lint` prints it and the API's 400s name it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    file: str  # relative to the bundle: product.yml, options.json, playbook.yml, roles/...
    line: int | None
    message: str
    level: str = "error"  # error | warning

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: {self.message}"
