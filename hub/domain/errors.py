"""Problems found in input and the error the domain raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One problem found in input; `path` is a JSON path such as "$.applicant.id_number"."""

    code: str
    path: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "message_zh": self.message_zh,
        }


class DomainError(Exception):
    """An error a person may read: stable code, English and Chinese messages, HTTP-ish status."""

    code: str = "domain_error"
    status: int = 400

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        message_zh: str = "",
        status: int | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        super().__init__(message or code or self.code)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.message = message
        self.message_zh = message_zh
        self.problems: list[Problem] = list(problems or [])

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "message_zh": self.message_zh,
            "status": self.status,
            "problems": [p.to_dict() for p in self.problems],
        }

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status}, "
            f"message={self.message!r})"
        )


def domain_error(code: str, status: int, en: str, zh: str,
                 problems: list[Problem] | None = None) -> DomainError:
    """The one way to build an error a person reads: stable code, status, English, Chinese."""
    return DomainError(code, en, zh, status=status, problems=problems)


def conflict(code: str, en: str, zh: str, problems: list[Problem] | None = None) -> DomainError:
    """The request clashes with what is stored (or with a request at the same moment): 409."""
    return domain_error(code, 409, en, zh, problems)


__all__ = ["DomainError", "Problem", "conflict", "domain_error"]
