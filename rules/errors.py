"""Errors raised by the policy loader.

Hierarchy::

    ValueError
     └── PolicyError          a policy file (or text) is not a valid policy; .errors lists every issue

`PolicyError` carries `PolicyIssue` records (file, line, field, problem), one per mistake, so a CLI can print
them and a test can assert them. The service's root ``WatchdogError`` lives in ``watchdog`` (which ``rules``
must not import); the service catches `PolicyError` as the ``ValueError`` it is, or wraps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PolicyError", "PolicyIssue"]


@dataclass(frozen=True, order=True)
class PolicyIssue:
    """One mistake in a policy, located by file, 1-based line and field path.

    Examples
    --------
    >>> str(PolicyIssue("policy.yaml", 12, "groups[0].rules[1].for", "must be at least 1, got 0"))
    'policy.yaml:12: groups[0].rules[1].for: must be at least 1, got 0'
    """

    file: str
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.problem}"


class PolicyError(ValueError):
    """The policy is invalid; `errors` holds every issue found, in file order.

    Examples
    --------
    >>> err = PolicyError([PolicyIssue("p.yaml", 3, "name", "expected text, got the number 5")])
    >>> print(err)
    p.yaml has 1 problem; fix it and load the policy again (the watchdog will not start with it):
      p.yaml:3: name: expected text, got the number 5
    """

    def __init__(self, errors: Iterable[PolicyIssue], file: str | None = None) -> None:
        self.errors: list[PolicyIssue] = list(errors)
        self.file = file if file is not None else (self.errors[0].file if self.errors else "<policy>")
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        n = len(self.errors)
        what = "1 problem; fix it" if n == 1 else f"{n} problems; fix them"
        lines = "".join(f"\n  {issue}" for issue in self.errors)
        return (
            f"{self.file} has {what} and load the policy again (the watchdog will not start with it):{lines}"
        )

    def __reduce__(
        self,
    ) -> tuple[
        type[PolicyError], tuple[list[PolicyIssue], str]
    ]:  # keep the issues through pickling (multiprocessing, caches)
        return (type(self), (self.errors, self.file))
