"""A function's calls checked against its execution role, as IAM does [ROLE].

moto checks IAM only when every request is to be checked (``INITIAL_NO_AUTH_ACTION_COUNT``), with
``*`` as the resource of most services and without ``NotResource``. Here only a request signed with
an access key issued for a function's role (``grant``) is evaluated; the learner's clients, the
engine and its pollers sign with other keys and keep full access. The role's identity-based
policies decide: an explicit ``Deny`` wins, else an ``Allow`` is needed; ``Action``/``NotAction``
and ``Resource``/``NotResource`` match with ``*`` and ``?`` wildcards (actions case-insensitively).
The request's resource ARN is computed for DynamoDB, SQS, SNS, S3, Kinesis, SSM and Secrets
Manager; for other services (or a request whose resource cannot be known) only the action is
matched. Conditions are taken as met; resource policies, permission boundaries, SCPs and session
policies are not evaluated. Policies are compiled once per role, verdicts cached per session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from moto.core.exceptions import JsonRESTError, _RESTError

from lambdalab.dataplane.patches.registry import Patch, released

MIXIN = "moto.core.authorization.ActionAuthenticatorMixin"
ALLOWED, IMPLICIT, EXPLICIT = "allowed", "implicit deny", "explicit deny"
# A request's signing name -> its IAM service prefix, where they differ.
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "states": "states"}
# Each service's error for a denied call: (code, HTTP status, body format), AccessDeniedException
# in JSON for the others. SQS's JSON protocol keeps its query code, AccessDenied.
DENIALS: dict[str, tuple[str, int, str]] = {
    "sqs": ("AccessDenied", 403, "json"),
    "sns": ("AuthorizationError", 403, "xml"),
    "sts": ("AccessDenied", 403, "xml"),
    "monitoring": ("AccessDenied", 403, "xml"),
    "iam": ("AccessDenied", 403, "xml"),
    "s3": ("AccessDenied", 403, "xml"),
}
_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class Statement:
    """One policy statement, its patterns compiled."""

    deny: bool
    actions: re.Pattern[str]
    not_action: bool
    resources: re.Pattern[str] | None  # None: no Resource element (matches any)
    not_resource: bool

    def applies(self, action: str, resource: str | None) -> bool:
        if bool(self.actions.match(action)) == self.not_action:
            return False
        if self.resources is None or resource is None:  # a resource not known locally matches any
            return True
        return bool(self.resources.match(resource)) != self.not_resource


def _pattern(values: Any, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character; nothing else is special."""
    items = [values] if isinstance(values, str) else list(values or [])
    parts = [re.escape(str(v)).replace(r"\*", ".*").replace(r"\?", ".") for v in items]
    return re.compile("^(?:" + "|".join(parts or ["(?!)"]) + ")$", re.IGNORECASE if ignore_case else 0)


def compile_policy(document: Any) -> list[Statement]:
    """A policy document (a mapping or its JSON text) as statements."""
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    found = []
    for s in [statements] if isinstance(statements, dict) else statements:
        if not isinstance(s, dict):
            continue
        resource_key = "NotResource" if "NotResource" in s else "Resource" if "Resource" in s else None
        found.append(Statement(
            deny=str(s.get("Effect")) == "Deny",
            actions=_pattern(s.get("NotAction", s.get("Action")), ignore_case=True),
            not_action="NotAction" in s,
            resources=_pattern(s[resource_key], ignore_case=False) if resource_key else None,
            not_resource=resource_key == "NotResource",
        ))
    return found


@dataclass
class RoleSession:
    """A function's temporary credentials for its role, and the role's compiled policies."""

    role_name: str
    session_name: str
    account: str
    statements: Sequence[Statement]
    _verdicts: dict[tuple[str, str | None], str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}"

    def verdict(self, action: str, resource: str | None) -> str:
        """An explicit deny wins; otherwise an allow is needed [ROLE]."""
        key = (action, resource)
        found = self._verdicts.get(key)
        if found is None:
            applying = [s for s in self.statements if s.applies(action, resource)]
            found = EXPLICIT if any(s.deny for s in applying) else ALLOWED if applying else IMPLICIT
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[key] = found
        return found


_sessions: dict[str, RoleSession] = {}  # access key id -> its session


def grant(access_key_id: str, session: RoleSession) -> None:
    """Evaluate every request signed with ``access_key_id`` against ``session``'s role."""
    _sessions[access_key_id] = session


def forget_all() -> None:
    """A new cloud: no key of an earlier one is evaluated any more."""
    _sessions.clear()


def _between(text: str, first: str, second: str) -> str:
    return text.partition(first)[2].partition(second)[0]


def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's check for a request, replaced: a function role's key is evaluated, any other key is
    handed to moto as before (which lets it through)."""
    authorization = self.headers.get("Authorization") or ""
    session = _sessions.get(_between(authorization, "Credential=", "/")) if _sessions else None
    if session is None:
        released(MIXIN, "_authenticate_and_authorize_action")(self, iam_request_cls, resource)
        return
    scope = _between(authorization, "Credential=", ",").split("/")
    region, service = (scope[2], scope[3]) if len(scope) > 3 else (self.region, "")
    action = self._get_action()
    action = action[0] if isinstance(action, list) else str(action)
    if service == "sts" and action == "GetCallerIdentity":
        return  # always allowed, whatever the policies say
    prefix = IAM_PREFIX.get(service, service)
    for name, arn in requested(self, service, action, region, session.account, resource):
        found = session.verdict(f"{prefix}:{name}", arn)
        if found != ALLOWED:
            raise denial(service, session, f"{prefix}:{name}", arn, found)


def denial(service: str, session: RoleSession, action: str, resource: str | None, found: str) -> Exception:
    """The error the service answers, with IAM's message naming the action and the resource."""
    shown = action.lower() if service == "sqs" else action
    why = ("with an explicit deny in an identity-based policy" if found == EXPLICIT
           else f"because no identity-based policy allows the {shown} action")
    message = f"User: {session.arn} is not authorized to perform: {shown} on resource: {resource or '*'} {why}"
    code, status, body = DENIALS.get(service, ("AccessDeniedException", 400, "json"))
    error: Exception
    if service == "s3":
        from moto.s3.exceptions import S3ClientError

        error = S3ClientError(code, message)
        error.http_status = status  # type: ignore[attr-defined]
        return error
    error = JsonRESTError(code, message) if body == "json" else _RESTError(code, message)
    error.code = status
    return error


# -- the resource a request acts on ------------------------------------------------------------------
def _params(response: Any) -> dict[str, Any]:
    """The request's parameters: parsed JSON, or the query string (values unwrapped)."""
    body = getattr(response, "body", None)
    if isinstance(body, dict):
        return body
    if isinstance(body, (str, bytes)) and body[:1] in ("{", b"{"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    query = getattr(response, "querystring", None) or {}
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in query.items()}


def _arn(service: str, region: str, account: str, rest: str) -> str:
    return f"arn:aws:{service}:{region}:{account}:{rest}"


def _table(region: str, account: str, name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    return name if name.startswith("arn:") else _arn("dynamodb", region, account, f"table/{name}")


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def _dynamodb(p: dict[str, Any], action: str, region: str, account: str) -> list[tuple[str, str | None]]:
    if action in ("TransactWriteItems", "TransactGetItems"):
        checks: list[tuple[str, str | None]] = []
        for item in p.get("TransactItems") or []:
            for kind, detail in (item or {}).items():
                if kind in _TRANSACT_ACTIONS and isinstance(detail, dict):
                    checks.append((_TRANSACT_ACTIONS[kind], _table(region, account, detail.get("TableName"))))
        return checks or [(action, None)]
    if action in ("BatchGetItem", "BatchWriteItem"):
        return [(action, _table(region, account, name)) for name in (p.get("RequestItems") or {})] or [(action, None)]
    if "StreamArn" in p:
        return [(action, str(p["StreamArn"]))]
    table = _table(region, account, p.get("TableName") or p.get("TableArn") or p.get("ResourceArn"))
    if table is not None and p.get("IndexName"):
        table = f"{table}/index/{p['IndexName']}"
    if action == "ListTables":
        table = "*"
    return [(action, table)]


def _ssm_parameter(region: str, account: str, name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    return name if name.startswith("arn:") else _arn("ssm", region, account, "parameter/" + name.lstrip("/"))


def _secret(response: Any, region: str, account: str, secret_id: Any) -> str | None:
    if not isinstance(secret_id, str) or not secret_id:
        return None
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        return str(secretsmanager_backends[account][region].secrets[secret_id].arn)
    except (KeyError, AttributeError):
        return None


def requested(response: Any, service: str, action: str, region: str, account: str,
              given: str) -> Iterable[tuple[str, str | None]]:
    """(action, resource ARN or None when not known) for each permission the request needs."""
    if given != "*" and service in ("s3", "sqs"):
        return [(action, given)]
    p = _params(response)
    if service == "dynamodb":
        return _dynamodb(p, action, region, account)
    if service == "sqs":
        name = p.get("QueueName") or str(p.get("QueueUrl") or "").rstrip("/").rpartition("/")[2]
        return [(action, _arn("sqs", region, account, name) if name else "*")]
    if service == "sns":
        arn = p.get("TopicArn") or p.get("TargetArn") or p.get("ResourceArn")
        if action == "CreateTopic" and p.get("Name"):
            arn = _arn("sns", region, account, str(p["Name"]))
        return [(action, str(arn) if arn else "*")]
    if service == "kinesis":
        arn = p.get("StreamARN") or (_arn("kinesis", region, account, f"stream/{p['StreamName']}")
                                     if p.get("StreamName") else None)
        return [(action, str(arn) if arn else None)]
    if service == "ssm":
        if isinstance(p.get("Names"), list):
            return [(action, _ssm_parameter(region, account, n)) for n in p["Names"]] or [(action, None)]
        return [(action, _ssm_parameter(region, account, p.get("Name") or p.get("Path")))]
    if service == "secretsmanager":
        return [(action, _secret(response, region, account, p.get("SecretId")))]
    return [(action, None if given == "*" else given)]


PATCHES = (
    Patch(MIXIN, "_authenticate_and_authorize_action", authorize,
          "a function's calls are checked against its execution role's policies [ROLE]", "f8cfc0296ca0"),
)


# -- AWS's managed policies -------------------------------------------------------------------------
def load_aws_managed_policy(arn: str, account: str) -> bool:
    """Put one of AWS's managed policies (``arn:aws:iam::aws:policy/...``) into moto's IAM, from moto's
    own copy, so a role can attach it: moto loads none of them by default (all 1,500 would cost
    about a second). False when moto's copy has no such policy."""
    from moto.iam.models import AWSManagedPolicy, iam_backends

    from lambdalab.dataplane.patches.dispatch import MOTO_LOCK

    name = arn.rpartition("/")[2]
    data = _aws_managed_data(name)
    if data is None:
        return False
    with MOTO_LOCK.held():
        backend = iam_backends[account]["aws"]
        if arn not in backend.managed_policies:
            policy = AWSManagedPolicy.from_data(name, account, backend.region_name, data)
            if policy.arn != arn:
                return False
            backend.managed_policies[arn] = policy
    return True


def _aws_managed_data(name: str) -> dict[str, Any] | None:
    """One policy of moto's data, decoded alone (the whole text is 4.7 MB of JSON)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data as text

    start = text.find(f'\n "{name}":')
    if start < 0:
        return None
    value, _ = json.JSONDecoder().raw_decode(text, text.index(":", start + 3) + 1)
    return value if isinstance(value, dict) else None


def role_documents(role_arn: str, account: str) -> list[str] | None:
    """The policy documents (JSON text) of a role in moto's IAM, inline then attached; None when
    the role does not exist there."""
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    from lambdalab.dataplane.patches.dispatch import MOTO_LOCK

    with MOTO_LOCK.held():
        try:
            role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        except NotFoundException:
            return None
        documents = [str(d) for d in role.policies.values()]
        for policy in role.managed_policies.values():
            documents += [str(v.document) for v in policy.versions if v.is_default]
    return documents
