"""The registry of moto patches: what each replaces, why, and the source it was written against.

Every patch is a ``Patch`` record in a group module's ``PATCHES``; ``apply`` and ``unpatched`` walk
the same records, and ``python -m lambdalab.dataplane.patches`` checks them against another moto.
Groups are applied when first needed (a cloud without streams need not import moto's DynamoDB);
``unpatched`` undoes every group applied so far.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lambdalab.dataplane import datachanges
from lambdalab.errors import LambdaLabError

PINNED_MOTO_VERSION = "5.2.5"
DEFAULT_GROUP = "dataplane"
GROUPS = {  # group -> its modules in this package
    DEFAULT_GROUP: ("dispatch", "ec2", "sqs", "iam"),  # when a data plane starts
    "streams": ("dynamodb", "kinesis"),  # when a cloud maps a stream to a function
    "notifications": ("notifications",),  # when a source listens to S3 events or SNS deliveries
    "stepfunctions": ("stepfunctions", "stepfunctions_workers"),  # when a template has state machines
}
# Held while moto's attributes or modules are swapped (patches, and the stand-ins of ``ec2``).
SWAP_LOCK = threading.Lock()


class UnsupportedMotoVersion(LambdaLabError):
    """The installed moto is not the version the patches were written against."""


@dataclass(frozen=True)
class Patch:
    """``target.attribute`` (a moto module or class, by dotted path) replaced by ``replacement``.

    ``released`` fingerprints moto's own attribute in the pinned version (``fingerprint``), so a
    newer moto that changed it is noticed before the patch is trusted with it.
    """

    target: str
    attribute: str
    replacement: Any
    reason: str
    released: str

    def owner(self) -> Any:
        """The module or class the attribute belongs to (imported on first use)."""
        return pkgutil.resolve_name(self.target)


_originals: dict[tuple[str, str], Any] = {}  # (target, attribute) -> moto's own object
_applied: list[Patch] = []
_suspended = 0  # unpatched() blocks running


def check_version() -> None:
    """Refuse any moto but the pinned one: the patches reach into its internals."""
    import moto

    if moto.__version__ != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"lambdalab's SQS patches were written for moto {PINNED_MOTO_VERSION}, but moto "
            f"{moto.__version__} is installed; install moto[server]=={PINNED_MOTO_VERSION}."
        )


def registry(*groups: str) -> tuple[Patch, ...]:
    """The patches of the named groups (every group if none is named), in order."""
    return tuple(patch for group in (groups or tuple(GROUPS)) for module in GROUPS[group]
                 for patch in importlib.import_module(f"{__package__}.{module}").PATCHES)


def apply(*groups: str) -> None:
    """Patch moto with the named groups (``dataplane`` if none is named); a patch already applied
    is left as it is, so any number of data planes and clouds may call this."""
    check_version()
    with SWAP_LOCK:
        for patch in registry(*(groups or (DEFAULT_GROUP,))):
            key = (patch.target, patch.attribute)
            if key in _originals:
                continue
            owner = patch.owner()
            _originals[key] = owner.__dict__[patch.attribute]
            _applied.append(patch)
            if not _suspended:
                setattr(owner, patch.attribute, patch.replacement)


def released(target: str, attribute: str) -> Any:
    """moto's own ``target.attribute``, for a replacement that wraps it."""
    return _originals[(target, attribute)]


@contextmanager
def unpatched() -> Iterator[None]:
    """moto as released while the block runs (every group applied so far undone), to measure or
    compare against it; nothing is noted in ``datachanges`` meanwhile."""
    global _suspended
    with SWAP_LOCK:
        _suspended += 1
        for patch in _applied:
            setattr(patch.owner(), patch.attribute, _originals[(patch.target, patch.attribute)])
        datachanges.set_tracking(False)
    try:
        yield
    finally:
        with SWAP_LOCK:
            _suspended -= 1
            if not _suspended:
                for patch in _applied:
                    setattr(patch.owner(), patch.attribute, patch.replacement)
                datachanges.set_tracking(True)


def fingerprint(value: Any) -> str:
    """A short hash of the source of a function, class or property (a module: its name)."""
    if isinstance(value, types.ModuleType):
        text = f"module {value.__name__}"
    else:
        source: Any = value.fget if isinstance(value, property) else value
        text = inspect.getsource(source)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
