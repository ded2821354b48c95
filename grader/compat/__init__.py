"""Every override or private use of another library's internals (nbgrader, nbconvert, nbclient, jupyter_client,
ipykernel, SQLAlchemy), and the versions of those libraries each was written and checked against.

Each module calls :func:`require_versions` when it is imported. A version other than the one in
:data:`CHECKED_AGAINST` refuses to import: an override of a private method that the library has since changed, or
stopped calling, does not fail, it grades differently, and a grader that silently grades wrong is worse than one
that refuses. (A warning would be read by no one: the grading runs in worker processes, and nbgrader's logs go
to a file.) After an upgrade, re-check the overrides (the tests each module names), then set the new version here;
``tests/test_compat_equivalence.py`` holds these versions to the lock, ``requirements.txt``. To run those tests on
the new version before that, set ``GRADER_UNCHECKED_VERSIONS=1``: the refusal becomes a warning, for that run.
"""

from __future__ import annotations

import os
import warnings

# The exact versions the overrides in this package were read against and tested with (= requirements.txt).
CHECKED_AGAINST = {
    "nbgrader": "0.9.6",
    "nbconvert": "7.17.2",
    "nbclient": "0.11.0",
    "jupyter_client": "8.10.0",
    "ipykernel": "7.4.0",
    "sqlalchemy": "2.1.9",
    "latex2mathml": "3.81.1",
}

ALLOW_ENV = "GRADER_UNCHECKED_VERSIONS"


class UncheckedVersionError(RuntimeError):
    """An installed library is not the version grader.compat's overrides were checked against."""


class UncheckedVersionWarning(UserWarning):
    """:class:`UncheckedVersionError`, downgraded for one run by ``GRADER_UNCHECKED_VERSIONS=1``."""


def installed_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def require_versions(module: str, recheck: str, distributions: tuple[str, ...]) -> None:
    """Refuse to import ``module`` unless each of ``distributions`` is the version in :data:`CHECKED_AGAINST`.

    recheck: what to read and run again before accepting another version (named in the error)."""
    wrong = {name: installed_version(name) for name in distributions
             if installed_version(name) != CHECKED_AGAINST[name]}
    if not wrong:
        return
    found = ", ".join(f"{name} {got} (checked against {CHECKED_AGAINST[name]})" for name, got in wrong.items())
    message = (f"{module} overrides internals of {', '.join(distributions)}, and this environment has {found}. "
               f"Its overrides may no longer do what nbgrader did, and grades could differ silently. Install "
               f"requirements.txt (pip install -r requirements.txt), or re-check for the new version: {recheck}; "
               f"then set the version in grader/compat/__init__.py CHECKED_AGAINST and in requirements.txt. "
               f"{ALLOW_ENV}=1 lets the re-check's tests run on the new version.")
    if os.environ.get(ALLOW_ENV) == "1":
        warnings.warn(message, UncheckedVersionWarning, stacklevel=2)
        return
    raise UncheckedVersionError(message)
