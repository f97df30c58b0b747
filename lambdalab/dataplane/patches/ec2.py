"""When and how moto's EC2 models are imported: not by SSM, and with the data plane's boto3 session.

moto's SSM models import its EC2 models only to look instances up; SSM's are imported without
them (EC2's come on first use). moto's EC2 models list the regions of three partitions at import,
each through a new boto3 ``Session`` that parses botocore's endpoint table and EC2 model again
(about 0.5 s); they are imported with the data plane's session instead. The server loads a
service's backend at its first request, so the patch is on that.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

from lambdalab.dataplane.patches.registry import SWAP_LOCK, Patch, released

BACKENDS = "moto.backends"


def import_ec2_models() -> None:
    """Import moto's EC2 models with the data plane's boto3 session standing in for the three
    Sessions they create at import; a no-op once imported."""
    module = "moto.ec2.models.availability_zones_and_regions"
    if module in sys.modules:
        return
    import boto3

    from lambdalab.config import REGION
    from lambdalab.dataplane.server import SESSION_LOCK, shared_session

    real_session, importer = boto3.Session, threading.get_ident()
    with SESSION_LOCK:  # botocore sessions are not thread-safe
        session = shared_session(REGION)

        def shared(*args: Any, **kwargs: Any) -> Any:
            mine = not args and not kwargs and threading.get_ident() == importer
            return session if mine else real_session(*args, **kwargs)

        with SWAP_LOCK:
            boto3.Session = shared
            try:
                importlib.import_module(module)
            finally:
                boto3.Session = real_session
                if module in sys.modules:
                    sys.modules[module].Session = real_session  # type: ignore[attr-defined]


class _Ec2BackendsOnFirstUse:
    """``ec2_backends`` as moto's SSM models see it: its EC2 models are imported the first time SSM
    looks an instance up (maintenance window targets), not when SSM itself is."""

    @staticmethod
    def _real() -> Any:
        import_ec2_models()
        from moto.ec2 import ec2_backends

        return ec2_backends

    def __getitem__(self, account_id: str) -> Any:
        return self._real()[account_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def import_ssm_models() -> None:
    """Import moto's SSM models without its EC2 models: SSM imports them only to look instances up,
    and they cost 0.4 s (every instance type of every region, read from 90 files) at a cloud's first
    SSM request, usually a parameter the template declares. A no-op once imported."""
    if "moto.ssm.models" in sys.modules:
        return
    with SWAP_LOCK:
        stand_in = None
        if "moto.ec2" not in sys.modules:
            stand_in = types.ModuleType("moto.ec2")
            stand_in.ec2_backends = _Ec2BackendsOnFirstUse()  # type: ignore[attr-defined]
            sys.modules["moto.ec2"] = stand_in
        try:
            importlib.import_module("moto.ssm.models")
        finally:
            if stand_in is not None and sys.modules.get("moto.ec2") is stand_in:
                del sys.modules["moto.ec2"]


def get_backend_lightly(name: str) -> Any:
    """The server loads a service's backend at its first request: SSM's without EC2's, and EC2's
    with the data plane's boto3 session."""
    if name == "ssm":
        import_ssm_models()
    elif name == "ec2":
        import_ec2_models()
    return released(BACKENDS, "get_backend")(name)


PATCHES = (
    Patch(BACKENDS, "get_backend", get_backend_lightly,
          "SSM's models imported EC2's (0.4 s), and EC2's made three boto3 Sessions at import (0.5 s)", "cbb3e97d7b1f"),
)
