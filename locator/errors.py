"""Errors raised by the core; every user-facing one carries a message that names the problem."""

from __future__ import annotations

from dataclasses import dataclass


class LocatorError(Exception):
    """Base class of every error the locator raises on purpose."""


class ConfigError(LocatorError, ValueError):
    """A setting or an argument has a value that is not allowed."""


class CRSError(LocatorError, ValueError):
    """A coordinate reference system could not be understood."""


class NotFoundError(LocatorError, LookupError):
    """A requested record does not exist."""


class DatabaseError(LocatorError):
    """The database could not be started, reached or migrated."""


class MissingBinariesError(DatabaseError):
    """PostgreSQL or PostGIS programs are not installed."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row of an input file."""

    row: int | None
    field: str | None
    value: object
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        shown = f" (value {self.value!r})" if self.value is not None else ""
        return f"{prefix}: {self.message}{shown}" if prefix else f"{self.message}{shown}"


class InputValidationError(LocatorError, ValueError):
    """An input file (or request) has problems; nothing of it was stored.

    Parameters
    ----------
    source : str
        The file (or request part) the problems were found in.
    problems : list of Problem
        Every problem found, in row order.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:200])
        more = len(self.problems) - 200
        tail = f"\n  … and {more} more" if more > 0 else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(
            f"{source}: {len(self.problems)} {noun}, nothing was stored:\n{shown}{tail}"
        )


class ConflictError(LocatorError):
    """A write that the current state does not allow (a full station, an empty one).

    ``figures`` carries the current state so that the caller can show it.
    """

    def __init__(self, message: str, figures: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.figures = figures or {}


class AuthenticationError(LocatorError):
    """No key, or a key that is unknown or revoked."""


class PermissionDeniedError(LocatorError):
    """A valid key that may not do this."""


class RateLimitedError(LocatorError):
    """Too many writes in a short time with one key."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
