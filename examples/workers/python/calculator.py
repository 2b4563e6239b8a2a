"""Seed 000's division and multiplication workers as Lambda handlers in
Python, run by Sluice as `process` functions through the Lambda runtime API
(examples/runtimes/python/bootstrap). Same behaviour as the C plugin in
examples/workers/c/workers.c: each SQS record's body is a request
{"operation", "number", "divisor"|"factor" (default 2)}; a record that
cannot be computed (division by zero, a malformed request) is reported in
batchItemFailures, so it returns to its queue and, after maxReceiveCount
receives, reaches the dead-letter queue. Results travel back per record in
batchItemResults for the mapping's table destination."""
import json
import sys


def _calculate(body, operation, operand_key):
    number, operand = body.get("number"), body.get(operand_key, 2)
    given = body.get("operation", operation)
    if given != operation or isinstance(number, bool) or not isinstance(number, (int, float)) \
            or isinstance(operand, bool) or not isinstance(operand, (int, float)):
        raise ValueError("the request needs a numeric number (and operand) for this operation")
    if operation == "division":
        if operand == 0:
            raise ZeroDivisionError("division by zero")
        result = number / operand
    else:
        result = number * operand
    return {"operation": operation, "number": float(number), operand_key: float(operand), "result": float(result)}


def _batch(event, operation, operand_key):
    failures, results = [], {}
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            body = json.loads(record.get("body", ""))
            if not isinstance(body, dict):
                raise ValueError("the body is not a JSON object")
            results[message_id] = _calculate(body, operation, operand_key)
        except (ValueError, ZeroDivisionError) as e:
            print(f"record {message_id} failed: {e}", file=sys.stderr)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures, "batchItemResults": results}


def division(event, context):
    return _batch(event, "division", "divisor")


def multiplication(event, context):
    return _batch(event, "multiplication", "factor")
