"""User-facing errors.

Every mistake a user can make (bad input, missing data, an unreachable server) is raised as a
:class:`UserError`. The CLI turns it into exit code 2 and one line on stderr: what is wrong and how
to fix it. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix. ``str(err)`` is the one line shown to them."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem.rstrip(".")
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        line = f"{self.problem}." if not self.fix else f"{self.problem}: {self.fix}"
        return " ".join(line.split())  # always one line


class InvalidInputError(UserError):
    """A flag, a file or a value is malformed."""


class DataNotFoundError(UserError):
    """The requested bars (or instrument, run, order) are not stored."""


class DatabaseUnavailableError(UserError):
    """The configured database cannot be reached."""


class GatewayUnavailableError(UserError):
    """No TWS / IB Gateway (or simulator) answers at the configured host and port."""
