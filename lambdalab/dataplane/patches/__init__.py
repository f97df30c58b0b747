"""Small, version-pinned fixes to moto, in one registry: each ``Patch`` names the moto attribute it
replaces, its replacement and why.

Grouped by job: ``dispatch`` (the one lock all of moto runs under, and the lists its server rebuilt
per request), ``ec2`` (moto's EC2 models imported lightly), ``sqs`` (SQS made linear in queue
depth, new messages noted for pollers), ``iam`` (a function's calls checked against its execution
role), ``dynamodb`` and ``kinesis`` (one stream record per change,
transactions that copy items not tables, new records noted), ``notifications`` (S3 events and SNS
deliveries to Lambda handed to the engine's listeners as plain values). What AWS answers is
unchanged; ``unpatched()`` gives moto as released, for the tests that compare the two.

The patches reach into moto's internals, so they refuse any moto but the one they were written for;
``python -m lambdalab.dataplane.patches`` says which of them a newer moto changed.
"""

from lambdalab.dataplane.patches.dispatch import MOTO_LOCK, MotoLock
from lambdalab.dataplane.patches.notifications import Listeners, S3ObjectEvent, SnsDelivery
from lambdalab.dataplane.patches.registry import (
    GROUPS,
    PINNED_MOTO_VERSION,
    Patch,
    UnsupportedMotoVersion,
    apply,
    fingerprint,
    registry,
    unpatched,
)

__all__ = ["GROUPS", "MOTO_LOCK", "PINNED_MOTO_VERSION", "Listeners", "MotoLock", "Patch", "S3ObjectEvent",
           "SnsDelivery", "UnsupportedMotoVersion", "apply", "fingerprint", "registry", "unpatched"]
