"""A learner's repository on the instructor's machine: ``git clone --depth 1`` with the instructor's
own git and credentials, kept in a cache folder so the next run only fetches what changed.

Nothing is ever pushed, and nothing in the clone runs: grading copies its ``labs/`` out. A local
path is cloned the same way (``file://``, so only what the learner committed is graded), unless it
is an archive or a plain folder, which is read where it is.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from lambdalab_course.learner import LearnerError, is_archive

# user@host:path, git's scp-like form for SSH.
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


class CloneError(LearnerError):
    """git could not clone or fetch the repository; the message carries git's own reason."""


def is_remote(repository: str) -> bool:
    return "://" in repository or bool(_SCP_LIKE.match(repository))


def source(repository: str, base: Path) -> str | Path:
    """What to clone (a URL; a local repository as ``file://``, so that ``--depth`` applies), or the
    path to read in place (an archive, or a folder that is not a repository)."""
    if is_remote(repository):
        return repository
    path = (base / Path(repository).expanduser()).resolve()
    if not path.exists():
        raise LearnerError(f"no such repository or path: {path}")
    if is_archive(path) or not (path / ".git").exists():
        return path
    return path.as_uri()


def fetch(repository: str, base: Path, dest: Path, timeout: float) -> tuple[Path, str | None]:
    """The learner's tree for ``repository`` (a URL, or a path relative to ``base``) and the commit
    graded (None for an archive or a folder that is not a repository). A clone already in ``dest``
    from the same place is brought up to date instead of cloned again."""
    url = source(repository, base)
    if isinstance(url, Path):
        return url, None
    deadline = time.monotonic() + timeout
    if (dest / ".git").is_dir() and _git(["remote", "get-url", "origin"], dest, deadline, quiet=True) == url:
        _git(["fetch", "--depth", "1", "--no-tags", "--quiet", "origin", "HEAD"], dest, deadline)
        _git(["reset", "--hard", "--quiet", "FETCH_HEAD"], dest, deadline)
        _git(["clean", "-d", "--force", "-x", "--quiet"], dest, deadline)
    else:
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _git(["clone", "--depth", "1", "--no-tags", "--quiet", "--", url, str(dest)], dest.parent, deadline)
    return dest, _git(["rev-parse", "HEAD"], dest, deadline)


def cached(repository: str, base: Path, dest: Path) -> tuple[Path, str | None]:
    """Like ``fetch``, but only what an earlier fetch left in ``dest``: nothing is fetched, so no
    credential is needed (the grading step of a CI job runs without one)."""
    url = source(repository, base)
    if isinstance(url, Path):
        return url, None
    if not (dest / ".git").is_dir():
        raise CloneError("no clone in the cache: fetch first (grade-class --fetch-only)")
    deadline = time.monotonic() + 30
    if _git(["remote", "get-url", "origin"], dest, deadline, quiet=True) != url:
        raise CloneError("the cached clone is of another repository: fetch first (grade-class --fetch-only)")
    return dest, _git(["rev-parse", "HEAD"], dest, deadline)


def _git(args: list[str], cwd: Path, deadline: float, quiet: bool = False) -> str:
    """Run git without prompting (a missing credential fails at once instead of waiting for a
    terminal); its output, or ``CloneError`` with its last line of error."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", "-c", "advice.detachedHead=false", *args], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=max(deadline - time.monotonic(), 1), check=False)
    except subprocess.TimeoutExpired:
        raise CloneError(f"git {args[0]} took too long") from None
    except FileNotFoundError:
        raise CloneError("git is not installed") from None
    if done.returncode != 0:
        if quiet:
            return ""
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise CloneError(f"git {args[0]} failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout.strip()
