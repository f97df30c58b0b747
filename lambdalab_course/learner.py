"""A learner's tree as the instructor's side sees it: opened from a clone or an archive, its
``labs/`` copied out without following a link out of it, and everything else compared with the kit.

Only ``labs/`` is the learner's to grade. ``notebooks/`` (running a notebook rewrites its outputs)
and ``.github/`` (the learner's own feedback workflow) are theirs too, but never run when grading.
Any other file that differs from every version the instructor's kit has had (a changed check, a
``conftest.py``, ``tasks.py``, the engine, the template) is ignored, listed, and flags the learner:
nothing there runs, but someone tried. A learner who has not pulled the kit's latest changes is not
flagged for them: their files match an earlier commit of the kit.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

LABS = "labs"
LEARNER_OWNED = (LABS, "notebooks", ".github")
# What a working tree collects that neither side wrote: environments, caches, reports, build output.
NOISE_DIRS = frozenset({".git", ".venv", ".venv-sam", "__pycache__", ".pytest_cache", ".mypy_cache",
                        ".ruff_cache", ".ipynb_checkpoints", ".lambdalab", ".aws-sam", "build"})
NOISE_SUFFIXES = (".pyc", ".egg-info")
NOISE_NAMES = frozenset({"grade-report.json", "grade-report.md", ".DS_Store"})
ARCHIVES = (".zip", ".tar.gz", ".tgz", ".tar")


class LearnerError(Exception):
    """The learner's tree cannot be graded (no labs/, an unreadable archive); the message says why."""


@dataclass(frozen=True)
class Ignored:
    """A file of the learner's that grading did not use, and why."""

    path: str  # relative to the learner's root, with "/"
    why: str


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVES)


def open_tree(source: Path, scratch: Path) -> tuple[Path, list[Ignored]]:
    """The learner's root: ``source`` itself (a clone), or where its archive unpacks in ``scratch``
    (the folder holding ``labs/``: the top, or the one folder an archive of a repository wraps);
    with the archive's members left out as unsafe."""
    refused: list[str] = []
    if source.is_dir():
        root = source
    elif is_archive(source):
        refused = unpack(source, scratch)
        tops = [p for p in scratch.iterdir() if p.name not in NOISE_DIRS and not p.name.startswith("__MACOSX")]
        root = tops[0] if len(tops) == 1 and tops[0].is_dir() and not (scratch / LABS).is_dir() else scratch
    elif source.exists():
        raise LearnerError(f"{source} is neither a folder nor an archive ({', '.join(ARCHIVES)})")
    else:
        raise LearnerError(f"{source} does not exist")
    labs = root / LABS
    if labs.is_symlink() or not labs.is_dir():
        raise LearnerError(f"no {LABS}/ folder in {source}")
    top = root.relative_to(scratch).as_posix() if root != source else "."
    unsafe = [Ignored(name[len(top) + 1:] if top != "." and name.startswith(f"{top}/") else name,
                      "unsafe in the archive; not unpacked") for name in refused]
    return root, unsafe


def unpack(archive: Path, into: Path) -> list[str]:
    """Unpack without writing outside ``into``; returns the members left out. Zip members are
    sanitised by ``zipfile`` (links become plain files, ".." and "/" are dropped); tar members go
    through tarfile's "data" filter, and one it refuses (an absolute path, a link out of the tree,
    a device) is left out rather than failing the whole archive."""
    into.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []

    def member(info: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        try:
            return tarfile.data_filter(info, dest)
        except tarfile.FilterError:
            refused.append(info.name.removeprefix("./").lstrip("/"))
            return None

    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(into)
            return refused
        if not hasattr(tarfile, "data_filter"):
            raise LearnerError("unpacking a tar archive safely needs Python 3.10.12 or later; use a .zip")
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter=member)
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise LearnerError(f"cannot unpack {archive.name}: {exc}") from None
    return refused


def _noise(parts: tuple[str, ...]) -> bool:
    return (bool(NOISE_DIRS.intersection(parts)) or parts[-1] in NOISE_NAMES
            or any(part.endswith(NOISE_SUFFIXES) for part in parts))


def walk(root: Path) -> dict[str, Path]:
    """Every file and link under ``root`` by relative path ("/"-separated), noise left out; links
    are listed, never followed."""
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        rel_parts = here.relative_to(root).parts
        dirs[:] = [d for d in dirs if not _noise((*rel_parts, d)) or (here / d).is_symlink()]
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            parts = (*rel_parts, name)
            if not _noise(parts):
                found["/".join(parts)] = here / name
    return found


def copy_labs(root: Path, dest: Path) -> list[Ignored]:
    """Copy the learner's ``labs/`` into ``dest`` (regular files only). A link is copied as the
    file it names when that file is inside ``labs/``; a link out of ``labs/``, to a folder, or a
    special file is left out and returned."""
    labs = (root / LABS).resolve()
    ignored: list[Ignored] = []
    dest.mkdir(parents=True, exist_ok=True)
    for rel, path in walk(root / LABS).items():
        shown = f"{LABS}/{rel}"
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(labs):
                ignored.append(Ignored(shown, "link out of labs/; not followed"))
                continue
            if not target.is_file():
                ignored.append(Ignored(shown, "link to a folder or to nothing; not followed"))
                continue
            source = target
        elif stat.S_ISREG(path.lstat().st_mode):
            source = path
        else:
            ignored.append(Ignored(shown, "not a regular file; not copied"))
            continue
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out)
    return ignored


def kit_versions(kit: Path) -> dict[str, set[str]]:
    """Every git blob id each path has had in the kit's history (empty when the kit is not a git
    repository: then only its files as they are count)."""
    try:
        log = subprocess.run(["git", "log", "--all", "--format=", "--raw", "--no-abbrev", "--no-renames", "-z"],
                             cwd=kit, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    versions: dict[str, set[str]] = {}
    tokens = iter(log.split(b"\0"))
    for token in tokens:  # ":<old mode> <new mode> <old blob> <new blob> <status>", then the path
        if token.startswith(b":"):
            blobs = token.split()[2:4]
            path = next(tokens, b"").decode(errors="surrogateescape")
            versions.setdefault(path, set()).update(b.decode() for b in blobs if b.strip(b"0"))
    return versions


def blob_id(path: Path) -> str:
    """The id git gives this file's content."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def differences(root: Path, kit: Path) -> list[Ignored]:
    """The learner's files outside what they own that are none of the kit's versions: changed or
    added (a file the learner removed changes nothing, since grading uses the kit's)."""
    ours, history = walk(kit), kit_versions(kit)
    found: list[Ignored] = []
    for rel, path in sorted(walk(root).items()):
        if rel.split("/", 1)[0] in LEARNER_OWNED:
            continue
        mine = ours.get(rel)
        if path.is_symlink() or (mine is not None and mine.is_symlink()) or not path.is_file():
            same = (mine is not None and path.is_symlink() and mine.is_symlink()
                    and os.readlink(path) == os.readlink(mine))
        else:
            same = ((mine is not None and filecmp.cmp(path, mine, shallow=False))
                    or blob_id(path) in history.get(rel, ()))
        if same:
            continue
        if mine is not None or rel in history:
            found.append(Ignored(rel, "changed; the kit's copy was used"))
        else:
            found.append(Ignored(rel, "added; not in the kit, never run"))
    return found
