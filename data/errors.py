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
