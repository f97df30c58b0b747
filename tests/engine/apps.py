"""Tiny SAM apps for engine tests: a template and handler modules written into a temp folder."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

HEADER = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Timeout: 3
Resources:
"""

# A DynamoDB table ``Items`` keyed by the string ``id``: what handlers that record their work write to.
ITEMS_TABLE = """\
Items:
  Type: AWS::DynamoDB::Table
  Properties:
    TableName: Items
    BillingMode: PAY_PER_REQUEST
    AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
    KeySchema: [{AttributeName: id, KeyType: HASH}]
"""


def write_app(tmp_path: Path, resources: str, handlers: dict[str, str]) -> Path:
    """``handlers`` maps a file under ``src/`` to its source; returns the template path."""
    for name, source in handlers.items():
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    template = tmp_path / "template.yaml"
    template.write_text(HEADER + textwrap.indent(textwrap.dedent(resources), "  "))
    return template


def function(name: str, handler: str = "app.handler", extra: str = "", **props: Any) -> str:
    """A SAM function on ``src/``; ``props`` are one-line properties, ``extra`` a YAML block of more."""
    lines = [f"{name}:", "  Type: AWS::Serverless::Function", "  Properties:",
             "    CodeUri: src/", f"    Handler: {handler}"]
    lines += [f"    {key}: {value}" for key, value in props.items()]
    block = textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ")
    return "\n".join(lines) + "\n" + (block + "\n" if extra else "")
