"""Seed 001's user writer: each SQS record's body is a user {"name", ...};
the handler returns the user item with a new userId and the messageId it
came from, which the mapping's `items:users` destination stores (the table
indexes messageId, so GET /status/{messageId} can find the user)."""
import json
import uuid


def handler(event, context):
    failures, results = [], {}
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            user = json.loads(record.get("body", ""))
            if not isinstance(user, dict) or not isinstance(user.get("name"), str):
                raise ValueError("a user needs a name")
        except ValueError:
            failures.append({"itemIdentifier": message_id})
            continue
        results[message_id] = dict(user, userId=str(uuid.uuid4()), messageId=message_id)
    return {"batchItemFailures": failures, "batchItemResults": results}
