"""Each function's execution role: temporary credentials for it, made once when the cloud starts.

Lambda gives a function's code the credentials of a session of its role, named after the function
(``arn:aws:sts::<account>:assumed-role/<role>/<function>``) [ROLE]. Here they come from moto's STS
(AssumeRole), and their access key is granted to the ``iam`` patch, which holds every request
signed with it to the role's policies, compiled once per role. A role the template does not create
has no policies to read: its functions keep the engine's own credentials, unchecked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambdalab.config import ACCOUNT_ID
from lambdalab.dataplane.patches import iam


def issue(roles: Mapping[str, tuple[str, str]], clients: Callable[[str], Any]) -> dict[str, dict[str, str]]:
    """For each function (logical id -> (function name, role ARN)), the environment variables of
    its credentials; a function whose role moto's IAM does not hold gets none. Keys issued for an
    earlier cloud are no longer evaluated."""
    iam.forget_all()
    compiled: dict[str, list[iam.Statement] | None] = {}
    issued: dict[str, dict[str, str]] = {}
    for lid, (function_name, role_arn) in roles.items():
        if role_arn not in compiled:
            documents = iam.role_documents(role_arn, ACCOUNT_ID)
            compiled[role_arn] = (None if documents is None
                                  else [s for d in documents for s in iam.compile_policy(d)])
        statements = compiled[role_arn]
        if statements is None:
            continue
        answer = clients("sts").assume_role(RoleArn=role_arn, RoleSessionName=function_name[:64])
        credentials = answer["Credentials"]
        iam.grant(credentials["AccessKeyId"], iam.RoleSession(
            role_name=role_arn.rpartition("/")[2], session_name=function_name[:64], account=ACCOUNT_ID,
            statements=statements))
        issued[lid] = {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
    return issued
