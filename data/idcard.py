"""Resident ID numbers (GB 11643): the ISO 7064 MOD 11-2 check character, and a validator."""
from __future__ import annotations

import re

import numpy as np

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


def check_char(first17: str) -> str:
    """The 18th character for a 17-digit body."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def problem(id_number: str) -> str | None:
    """Why an ID number is invalid, or None if it is well formed with a correct check character."""
    if not _SHAPE.match(id_number or ""):
        return "ID number must be 17 digits and a digit or X"
    if check_char(id_number[:17]) != id_number[17]:
        return f"ID number check character should be {check_char(id_number[:17])}"
    return None


def check_chars(bodies: np.ndarray) -> np.ndarray:
    """Vectorised check characters for an (n, 17) array of digits."""
    remainders = (bodies.astype(np.int64) @ np.array(WEIGHTS)) % 11
    return np.array(list(CHECK_CHARS))[remainders]
