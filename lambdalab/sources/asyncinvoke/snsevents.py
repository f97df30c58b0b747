"""SNS notification records as Lambda receives them (pure functions) [L-SNS].

Note the capitalised keys: ``{EventSource: "aws:sns", EventVersion: "1.0", EventSubscriptionArn,
Sns{Type: "Notification", MessageId, TopicArn, Subject, Message, Timestamp, SignatureVersion,
Signature, SigningCertUrl, UnsubscribeUrl, MessageAttributes{name: {Type, Value}}}}``. The
signature is a stand-in: nothing is signed locally.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

REGION_ENDPOINT = "https://sns.{region}.amazonaws.com"


def sns_record(*, subscription_arn: str, topic_arn: str, message_id: str, message: str, subject: str | None,
               time: str, attributes: dict[str, dict[str, Any]], region: str) -> dict[str, Any]:
    endpoint = REGION_ENDPOINT.format(region=region)
    digest = hashlib.sha256(f"{message_id}\n{message}\n{time}".encode()).digest()
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": topic_arn,
            "Subject": subject,
            "Message": message,
            "Timestamp": time,
            "SignatureVersion": "1",
            "Signature": base64.b64encode(digest * 4).decode(),
            "SigningCertUrl": f"{endpoint}/SimpleNotificationService-lambdalab.pem",
            "UnsubscribeUrl": f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
            "MessageAttributes": {
                name: {"Type": str(value.get("Type")), "Value": value.get("Value")}
                for name, value in attributes.items()
            },
        },
    }


def sns_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}
