"""Which patches still fit the installed moto: one line per patch, ``ok``, ``changed`` or ``missing``.

    python -m lambdalab.dataplane.patches

``ok``: moto's attribute is where the patch expects it, with the source the patch was written
against; ``changed``: it is there with other source (read it before trusting the patch);
``missing``: the module, class or attribute is gone. Exits 0 whatever it finds: it reports, the
version check in ``apply`` refuses.
"""

from __future__ import annotations

import sys

from lambdalab.dataplane.patches.registry import GROUPS, PINNED_MOTO_VERSION, Patch, fingerprint, registry


def status(patch: Patch) -> str:
    try:
        owner = patch.owner()
    except (ImportError, AttributeError, ValueError):
        return "missing"
    if patch.attribute not in vars(owner):
        return "changed" if hasattr(owner, patch.attribute) else "missing"  # inherited now
    try:
        return "ok" if fingerprint(vars(owner)[patch.attribute]) == patch.released else "changed"
    except (OSError, TypeError):  # no source to read
        return "changed"


def main() -> int:
    import moto

    print(f"moto {moto.__version__}; the patches were written for moto {PINNED_MOTO_VERSION}")
    counts = {"ok": 0, "changed": 0, "missing": 0}
    for group in GROUPS:
        try:
            patches = registry(group)
        except ImportError as exc:  # a group module imports something moto no longer has
            print(f"missing  group {group}: {exc}")
            counts["missing"] += 1
            continue
        for patch in patches:
            found = status(patch)
            counts[found] += 1
            print(f"{found:<8} {patch.target}.{patch.attribute}  ({group}: {patch.reason})")
    print(", ".join(f"{n} {name}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
