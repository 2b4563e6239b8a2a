"""Seed 002's ride recorder: rides arrive from a topic, either through a
queue (SQS records whose body is the ride, or its SNS envelope) or directly
from a function subscription (SNS records). Each ride {"RideId", ...} is
returned for the `items:rides` destination; a record without a RideId
fails."""
import json


def _ride_of(record):
    if "Sns" in record:
        return json.loads(record["Sns"]["Message"])
    body = json.loads(record.get("body", ""))
    if isinstance(body, dict) and isinstance(body.get("Message"), str) and "RideId" not in body:
        body = json.loads(body["Message"])
    return body


def handler(event, context):
    records = event.get("Records", [])
    if records and "Sns" in records[0]:
        # a topic invokes the function directly: the ride is the result, or
        # the invocation fails (and is retried, then sent to on_failure)
        ride = _ride_of(records[0])
        if not isinstance(ride, dict) or not isinstance(ride.get("RideId"), str):
            raise ValueError("a ride needs a RideId")
        return ride
    failures, results = [], {}
    for record in event.get("Records", []):
        message_id = record.get("messageId") or record.get("Sns", {}).get("MessageId", "")
        try:
            ride = _ride_of(record)
            if not isinstance(ride, dict) or not isinstance(ride.get("RideId"), str):
                raise ValueError("a ride needs a RideId")
        except ValueError:
            failures.append({"itemIdentifier": message_id})
            continue
        results[message_id] = ride
    return {"batchItemFailures": failures, "batchItemResults": results}
