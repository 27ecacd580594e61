"""Who acts: a username, a role and a scope — the one shape both the server and batch jobs pass around."""
from __future__ import annotations

from dataclasses import dataclass


class CaseScope(tuple):
    """A department handler's grid codes, narrowed to the cases dispatched to its department: a tuple, so
    every grid-only reader keeps working, and event readers (`event_query.scope_clause`) read `department_id`."""

    department_id: int | None

    def __new__(cls, codes, department_id: int | None):
        scope = super().__new__(cls, codes)
        scope.department_id = department_id
        return scope

    def __repr__(self) -> str:  # names the department in ETags and cache keys built from str(scope)
        return f"CaseScope({tuple(self)!r}, department_id={self.department_id!r})"


def within(code: str, scope) -> bool:
    """Whether grid `code` lies in the subtree of one of the codes in `scope` (itself included)."""
    return any(code == s or code.startswith(s + ".") for s in scope)


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

    def sees_grid(self, code: str) -> bool:
        """Whether grid `code` is in this actor's area (the grid itself, not the cases in it)."""
        return self.sees_everything or within(code, self.scope)

    @property
    def scope_filter(self) -> tuple[str, ...] | None:
        """What readers take as `scope`: None for everything, else the grid codes whose subtrees are visible."""
        if self.sees_everything:
            return None
        return CaseScope(self.scope, self.department_id) if self.role == "department" else self.scope


SYSTEM = Actor("system", "system")  # tick: deadlines passing, nobody in particular
