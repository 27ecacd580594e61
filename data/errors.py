"""One base exception for the ledger, so callers map every failure to a reason."""


class LedgerError(Exception):
    """Base of every error the data package raises on purpose."""


class ConfigError(LedgerError):
    """Settings are missing or malformed."""


class LoadError(LedgerError):
    """A file could not be loaded; `problems` lists each bad row and why."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []


class Refused(LedgerError):
    """A request the ledger will not carry out; `status` is the HTTP status that says why.

    `extra` travels into the error body (e.g. the transitions that are allowed instead).
    """

    status = 400

    def __init__(self, message: str, field: str | None = None, *, status: int | None = None, **extra):
        super().__init__(message)
        self.field = field
        if status is not None:
            self.status = status
        self.extra = extra


class NotFound(Refused):
    status = 404


class Forbidden(Refused):
    status = 403


class Conflict(Refused):
    """The event (or key) is not in the state the request assumed; 409."""

    status = 409
