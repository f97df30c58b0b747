"""Lambda layers, locally: what a function's ``Layers`` put on its import path.

On Lambda a layer is unpacked under ``/opt``, and Python finds ``/opt/python`` and
``/opt/python/lib/python3.x/site-packages``. Locally a layer of the template (a SAM
``LayerVersion`` whose ``ContentUri`` is a folder) goes on the function's import path the same way:
its ``python/`` subfolder, or the folder itself when it has none (``sam build`` puts a Python layer's
folder under ``python/``). AWS Lambda Powertools for Python, the public layer most apps use, is
taken from this Python environment when it is installed; any other published layer is refused,
as there is nothing local to run it from.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.errors import ConfigurationError

LAYER_VERSION = "AWS::Lambda::LayerVersion"
LOCAL_KEY_PREFIX = "layer/"  # how load.py names a local layer's content for the SAM transform
POWERTOOLS = re.compile(r":layer:AWSLambdaPowertoolsPython(?:V(\d+))?|^\{\{resolve:ssm:/aws/service/powertools/python/")
POWERTOOLS_PACKAGE = "aws-lambda-powertools"


def layer_arn(lid: str, props: dict[str, Any], layer_dirs: dict[str, Path]) -> tuple[str, Path]:
    """A template layer's ARN (version 1) and the folder its content comes from."""
    key = str((props.get("Content") or {}).get("S3Key", ""))
    written = key[len(LOCAL_KEY_PREFIX):] if key.startswith(LOCAL_KEY_PREFIX) else None
    if written is None or written not in layer_dirs:
        raise ConfigurationError("a layer's content must be a local folder (a SAM LayerVersion's ContentUri)",
                                 lid, "Content")
    folder = layer_dirs[written]
    if not folder.is_dir():
        raise ConfigurationError(f"ContentUri folder {folder} does not exist", lid, "Content")
    name = str(props.get("LayerName") or written)
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1", folder


def _import_path(folder: Path) -> tuple[Path, ...]:
    base = folder / "python" if (folder / "python").is_dir() else folder
    return (*sorted(base.glob("lib/python3*/site-packages")), base)


def _powertools(lid: str, arn: str, found: re.Match[str]) -> None:
    major = found.group(1) if found.lastindex else None
    wanted = f"{POWERTOOLS_PACKAGE}>={major},<{int(major) + 1}" if major else POWERTOOLS_PACKAGE
    try:
        installed = version(POWERTOOLS_PACKAGE)
    except PackageNotFoundError:
        installed = None
    if installed is None or (major and installed.split(".")[0] != major):
        have = f"version {installed} is installed" if installed else "it is not installed"
        raise ConfigurationError(
            f"layer {arn} is AWS Lambda Powertools for Python, which functions take from this Python "
            f"environment locally, and {have}: pip install '{wanted}'", lid, "Layers")


def layer_paths(lid: str, layers: Any, local: dict[str, Path]) -> tuple[Path, ...]:
    """The folders a function's ``Layers`` add to its import path, in order; refused when a layer
    cannot be had locally."""
    if not isinstance(layers, list):
        raise ConfigurationError("Layers must be a list of layer version ARNs", lid, "Layers")
    paths: list[Path] = []
    for arn in (str(a) for a in layers):
        found = POWERTOOLS.search(arn)
        if arn in local:
            paths += _import_path(local[arn])
        elif found:
            _powertools(lid, arn, found)
        else:
            raise ConfigurationError(
                f"layer {arn} cannot be had locally: only layers of the template (a SAM LayerVersion with a "
                "local ContentUri) and AWS Lambda Powertools for Python run locally", lid, "Layers")
    return tuple(paths)
