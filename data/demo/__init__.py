"""The demo city: a deterministic, realistic ledger generated from a seed, and its loader."""
from data.demo.city import City, generate
from data.demo.load import NotEmpty, ledger_is_empty, load

__all__ = ["City", "NotEmpty", "generate", "ledger_is_empty", "load"]
