"""Who acts: a username, a role and a scope — the one shape both the server and batch jobs pass around."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    scope: tuple[str, ...] = ()  # grid codes; their subtrees are visible. Empty with role admin: everything.
    department_id: int | None = None  # for role `department`: the department they handle cases for
    reporter_of: str | None = None  # a citizen holding this tracking number acts as that event's reporter

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "system") or (not self.scope and self.role in ("commander", "analyst"))

    @property
    def scope_filter(self) -> tuple[str, ...] | None:
        """What readers take as `scope`: None for everything, else the grid codes whose subtrees are visible."""
        return None if self.sees_everything else self.scope


SYSTEM = Actor("system", "system")  # tick: deadlines passing, nobody in particular
