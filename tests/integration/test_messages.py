"""Messages against AWS: send/receive/delete, the MD5 digests the SDKs
verify, message attributes (binary, custom subtypes, validation), the body
character rule, sizes, delays, visibility, receipt handles, system
attributes and the attribute-name filters of ReceiveMessage."""
import os
import re
import shutil
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

from sluice_harness import PROTOCOL, Sluice
from sqs_truth import SqsTestCase, attrs_md5, md5, queue_arn, raw_json, raw_query, recorded

MAX = 1048576
TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def s(v):
    return {"DataType": "String", "StringValue": v}


class SendReceiveDelete(SqsTestCase):
    def test_round_trip_with_digests(self):
        url = self.queue("rt")
        body = "héllo wörld ✓ \U0001F600"
        sent = self.sqs.send_message(QueueUrl=url, MessageBody=body)
        self.assertEqual(sent["MD5OfMessageBody"], md5(body))
        self.assertEqual(str(uuid.UUID(sent["MessageId"])), sent["MessageId"])
        self.assertEqual(uuid.UUID(sent["MessageId"]).version, 4)
        for k in ("MD5OfMessageAttributes", "MD5OfMessageSystemAttributes", "SequenceNumber"):
            self.assertNotIn(k, sent)
        got = self.receive(url)
        self.assertEqual(len(got), 1)
        m = got[0]
        self.assertEqual((m["MessageId"], m["Body"], m["MD5OfBody"]), (sent["MessageId"], body, md5(body)))
        for k in ("Attributes", "MessageAttributes", "MD5OfMessageAttributes"):
            self.assertNotIn(k, m)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_md5_of_plain_body_as_recorded(self):
        url = self.queue("md5body")
        rec = recorded("test_send_receive_wait_time_seconds", "empty_short_poll_by_default_resp")["Messages"][0]
        sent = self.sqs.send_message(QueueUrl=url, MessageBody=rec["Body"])
        self.assertEqual(sent["MD5OfMessageBody"], rec["MD5OfBody"])

    def test_empty_queue_has_no_messages_key(self):
        url = self.queue("empty")
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url))
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1))
        self.assertNotIn("Messages", self.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1))

    def test_receive_up_to_max(self):
        url = self.queue("max")
        for i in range(12):
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        got = self.receive(url, n=10)
        self.assertGreaterEqual(len(got), 1)
        self.assertLessEqual(len(got), 10)
        bodies = [m["Body"] for m in got] + [m["Body"] for m in self.drain(url)]
        self.assertEqual(sorted(bodies), sorted("m%d" % i for i in range(12)))

    def test_max_number_of_messages_bounds(self):
        url = self.queue("maxbounds")
        self.assertRecordedError("test_send_receive_max_number_of_messages", "send_max_number_of_messages",
                                 self.sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
        self.assertError("InvalidParameterValue",
                         "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, "
                         "if provided.", 400, self.sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=0)

    def test_empty_body_is_missing(self):
        url = self.queue("emptybody")
        self.assertRecordedError("test_send_empty_message", "send_empty_message", self.sqs.send_message,
                                 QueueUrl=url, MessageBody="")

    def test_approximate_counters(self):
        url = self.queue("counters")
        for i in range(6):
            self.sqs.send_message(QueueUrl=url, MessageBody="c%d" % i)
        self.sqs.send_message(QueueUrl=url, MessageBody="late", DelaySeconds=60)
        self.assertEqual(self.counts(url), (6, 0, 1))
        self.assertEqual(len(self.receive(url, n=1, VisibilityTimeout=60)), 1)
        self.assertEqual(self.counts(url), (5, 1, 1))


class Digests(SqsTestCase):
    def send_and_receive(self, url, attrs, **kw):
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attrs, **kw)
        got = self.receive(url, MessageAttributeNames=["All"], AttributeNames=["All"], VisibilityTimeout=0)
        self.assertEqual(len(got), 1)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        return sent, got[0]

    def test_recorded_vectors(self):
        url = self.queue("vectors")
        vectors = [
            ({"Foo": s("Bar")}, "ae7155c6026991b6d54b11589678bf9c"),
            ({"General": s("Kenobi"), "Hello": s("There"), "Help.Me": s("Me")}, "4c360f3fdafd970e05fae2f149d997f5"),
            ({"k": s("x")}, "a45daa70926828a2f0a1db3418e6feb4"),
            ({"timestamp": {"DataType": "Number", "StringValue": "1493147359900"}},
             "235c5c510d26fb653d073faed50ae77c"),
            ({"MyAttribute": s("foobar")}, "adb59cd4678ea5a855436b949cd07ab6"),
            ({"attr1": {"DataType": "Binary", "BinaryValue":
                        b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"}},
             "8cbe4db156db8a94db8b801b7addb984"),
        ]
        for attrs, digest in vectors:
            sent, got = self.send_and_receive(url, attrs)
            self.assertEqual(sent["MD5OfMessageAttributes"], digest, attrs)
            self.assertEqual(got["MD5OfMessageAttributes"], digest, attrs)
            self.assertEqual(got["MessageAttributes"], attrs)

    def test_binary_attribute_as_recorded(self):
        url = self.queue("binary")
        value = b"traceparent\x1e00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01"
        self.sqs.send_message(QueueUrl=url, MessageBody="test",
                              MessageAttributes={"attr1": {"DataType": "Binary", "BinaryValue": value}})
        m = self.receive(url, MessageAttributeNames=["All"])[0]
        rec = recorded("test_send_message_with_binary_attributes", "binary-attrs-msg")["Messages"][0]
        self.assertEqual(m["MD5OfBody"], rec["MD5OfBody"])
        self.assertEqual(m["MD5OfMessageAttributes"], rec["MD5OfMessageAttributes"])
        self.assertEqual(m["MessageAttributes"]["attr1"], {"DataType": "Binary", "BinaryValue": value})

    def test_binary_with_every_byte(self):
        url = self.queue("allbytes")
        value = bytes(range(256))
        attrs = {"blob": {"DataType": "Binary", "BinaryValue": value}}
        sent, got = self.send_and_receive(url, attrs)
        self.assertEqual(got["MessageAttributes"], attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], attrs_md5(attrs))

    def test_custom_subtypes(self):
        url = self.queue("custom")
        attrs = {"s": {"DataType": "String.json", "StringValue": '{"a":1}'},
                 "n": {"DataType": "Number.float", "StringValue": "-1.5e3"},
                 "b": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x00\x01"}}
        sent, got = self.send_and_receive(url, attrs)
        self.assertEqual(got["MessageAttributes"], attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], attrs_md5(attrs))
        self.assertEqual(got["MD5OfMessageAttributes"], attrs_md5(attrs))

    def test_system_attribute_digest(self):
        url = self.queue("sysmd5")
        attrs = {"MyAttribute": s("foobar")}
        sent, got = self.send_and_receive(url, attrs, MessageSystemAttributes={"AWSTraceHeader": s(TRACE)})
        # the trace header has its own digest and leaves the attributes' alone
        self.assertEqual(sent["MD5OfMessageSystemAttributes"], "5ae4d5d7636402d80f4eb6d213245a88")
        self.assertEqual(sent["MD5OfMessageAttributes"], "adb59cd4678ea5a855436b949cd07ab6")
        self.assertEqual(got["Attributes"]["AWSTraceHeader"], TRACE)


class AttributeValidation(SqsTestCase):
    def send(self, url, attrs):
        return self.sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=attrs)

    def test_empty_string_value_as_recorded(self):
        url = self.queue("emptyattr")
        self.assertRecordedError("test_send_message_with_empty_string_attribute", "empty-string-attr", self.send,
                                 url, {"ErrorDetails": s("")})

    def test_invalid_names(self):
        url = self.queue("badnames")
        for name in ("aWs.x", "AMAZON.x", "Amazon.y", ".lead", "trail.", "a..b", "a!b", 'q"t', "a§b", "a(b",
                     "a?b", "sp ace", "x" * 257):
            self.assertError("InvalidParameterValue", None, 400, self.send, url, {name: s("v")})
        self.send(url, {"attr.1øßä": s("ok"), "x" * 256: s("ok"), "A_b-c.d": s("ok")})

    def test_invalid_types(self):
        url = self.queue("badtypes")
        for t in ("Foo", "string", "Strings", "Number-x", "String." + "x" * 250):
            self.assertError("InvalidParameterValue", None, 400, self.send, url,
                             {"a": {"DataType": t, "StringValue": "1"}})

    def test_too_many_attributes(self):
        url = self.queue("toomany")
        self.send(url, {"a%d" % i: s("v") for i in range(10)})
        self.assertError("InvalidParameterValue", "Number of message attributes [11] exceeds the allowed maximum "
                         "[10].", 400, self.send, url, {"a%d" % i: s("v") for i in range(11)})

    def test_number_values(self):
        url = self.queue("numbers")
        for ok in ("0", "-12", "3.14", "1e10", "1493147359900"):
            self.send(url, {"n": {"DataType": "Number", "StringValue": ok}})
        for bad in ("abc", "1,5", "--1", "0x", " "):
            self.assertError("InvalidParameterValue", None, 400, self.send, url,
                             {"n": {"DataType": "Number", "StringValue": bad}})

    def test_invalid_characters_in_string_value(self):
        url = self.queue("attrchars")
        for bad in ("\x08", "a\x0bb", "\ufffe"):
            self.assertError("InvalidParameterValue", None, 400, self.send, url, {"a": s(bad)})

    def test_empty_binary_value(self):
        url = self.queue("emptybin")
        self.assertError("InvalidParameterValue", "Message (user) attribute 'b' must contain a non-empty value of "
                         "type 'Binary'.", 400, self.send, url, {"b": {"DataType": "Binary", "BinaryValue": b""}})


class BodyRules(SqsTestCase):
    INVALID = "InvalidMessageContents"

    def test_xml_character_rule(self):
        url = self.queue("chars")
        good = "\t\n\r !~\u00e9\ud7ff\ue000\ufffd\U00010000\U0010ffff"
        self.sqs.send_message(QueueUrl=url, MessageBody=good)
        self.assertEqual(self.receive(url)[0]["Body"], good)
        for bad in ("\x01", "a\x08b", "\x0b", "\x1f", "\ufffe", "\uffff"):
            resp = self.assertError(self.INVALID, None, 400, self.sqs.send_message, QueueUrl=url, MessageBody=bad)
            self.assertTrue(resp["Error"]["Message"].startswith("Invalid characters found."), resp["Error"])

    def test_size_limit_counts_attributes(self):
        url = self.queue("size")
        attrs = {"k": s("x")}  # 1 + 6 + 1 bytes
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="a" * (MAX - 8), MessageAttributes=attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], "a45daa70926828a2f0a1db3418e6feb4")
        self.assertRecordedError("test_send_oversized_message", "send_oversized_message", self.sqs.send_message,
                                 QueueUrl=url, MessageBody="a" * (MAX - 7), MessageAttributes=attrs)

    def test_size_counts_utf8_bytes(self):
        url = self.queue("utf8size")
        self.sqs.send_message(QueueUrl=url, MessageBody="é" * (MAX // 2))
        self.assertEqual(len(self.receive(url)[0]["Body"]), MAX // 2)
        self.assertError("InvalidParameterValue", None, 400, self.sqs.send_message, QueueUrl=url,
                         MessageBody="é" * (MAX // 2) + "a")

    def test_trace_header_does_not_count(self):
        url = self.queue("tracesize")
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="a" * MAX,
                                     MessageSystemAttributes={"AWSTraceHeader": s(TRACE)})
        self.assertEqual(sent["MD5OfMessageSystemAttributes"], "5ae4d5d7636402d80f4eb6d213245a88")

    def test_maximum_message_size_attribute(self):
        url = self.queue("size1024", MaximumMessageSize=1024)
        self.sqs.send_message(QueueUrl=url, MessageBody="a" * 1024)
        self.assertRecordedError("test_send_message_with_updated_maximum_message_size", "send_oversized_message",
                                 self.sqs.send_message, QueueUrl=url, MessageBody="a" * 1017,
                                 MessageAttributes={"k": s("x")})


class Delays(SqsTestCase):
    def test_queue_delay(self):
        url = self.queue("qdelay", DelaySeconds=1)
        t0 = time.time()
        self.sqs.send_message(QueueUrl=url, MessageBody="later")
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.counts(url), (0, 0, 1))
        got = self.receive(url, wait=3)
        self.assertEqual([m["Body"] for m in got], ["later"])
        self.assertGreaterEqual(time.time() - t0, 0.95)

    def test_message_delay_overrides_queue(self):
        url = self.queue("mdelay", DelaySeconds=60)
        self.sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
        self.sqs.send_message(QueueUrl=url, MessageBody="soon", DelaySeconds=1)
        self.assertEqual([m["Body"] for m in self.receive(url)], ["now"])
        self.assertEqual([m["Body"] for m in self.receive(url, wait=3)], ["soon"])

    def test_delay_bounds(self):
        url = self.queue("delaybounds")
        for bad in (901, -1):
            self.assertError("InvalidParameterValue", "Value %d for parameter DelaySeconds is invalid. Reason: "
                             "DelaySeconds must be >= 0 and <= 900." % bad, 400, self.sqs.send_message,
                             QueueUrl=url, MessageBody="x", DelaySeconds=bad)
        self.sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=900)
        self.assertEqual(self.counts(url), (0, 0, 1))


class Visibility(SqsTestCase):
    def test_queue_visibility_timeout(self):
        url = self.queue("qvis", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        first = self.receive(url, AttributeNames=["All"])
        self.assertEqual(len(first), 1)
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.counts(url), (0, 1, 0))
        again = self.receive(url, wait=3, AttributeNames=["All"])
        self.assertEqual(again[0]["MessageId"], first[0]["MessageId"])
        self.assertNotEqual(again[0]["ReceiptHandle"], first[0]["ReceiptHandle"])
        self.assertEqual(again[0]["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertEqual(again[0]["Attributes"]["ApproximateFirstReceiveTimestamp"],
                         first[0]["Attributes"]["ApproximateFirstReceiveTimestamp"])

    def test_receive_visibility_overrides_queue(self):
        url = self.queue("rvis", VisibilityTimeout=60)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        self.assertEqual(len(self.receive(url, VisibilityTimeout=1)), 1)
        self.assertEqual(len(self.receive(url, wait=3)), 1)
        # the queue default applies again: no redelivery within a short wait
        self.assertEqual(self.receive(url, wait=1), [])

    def test_receive_visibility_bounds(self):
        url = self.queue("rvisbounds")
        for bad in (-1, 43201):
            self.assertError("InvalidParameterValue", None, 400, self.sqs.receive_message, QueueUrl=url,
                             VisibilityTimeout=bad)

    def test_change_visibility_to_zero_and_back(self):
        url = self.queue("cmv")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
        m = self.receive(url)
        self.assertEqual(len(m), 1)
        # extending keeps it hidden past the queue default would not matter here: 1 s then visible
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m[0]["ReceiptHandle"], VisibilityTimeout=1)
        self.assertEqual(self.receive(url), [])
        self.assertEqual(len(self.receive(url, wait=3)), 1)

    def test_extend_visibility(self):
        url = self.queue("extend", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=3)
        self.assertEqual(self.receive(url, wait=2), [])
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_change_after_expiry_on_standard_is_ok(self):
        url = self.queue("cmvexpired", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        time.sleep(1.2)
        resp = self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=2)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], recorded(
            "test_change_message_visibility_after_visibility_timeout_expiration",
            "visibility_timeout_expired")["ResponseMetadata"]["HTTPStatusCode"])

    def test_change_visibility_errors(self):
        url = self.queue("cmverr")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        self.assertError("InvalidParameterValue", None, 400, self.sqs.change_message_visibility, QueueUrl=url,
                         ReceiptHandle=h, VisibilityTimeout=43201)
        self.assertError("InvalidParameterValue", "Value 43200 for parameter VisibilityTimeout is invalid. Reason: "
                         "Total VisibilityTimeout for the message is beyond the limit [43200 seconds].", 400,
                         self.sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=43200)
        self.assertError("ReceiptHandleIsInvalid", None, 404, self.sqs.change_message_visibility, QueueUrl=url,
                         ReceiptHandle="garbage", VisibilityTimeout=1)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        self.assertError("InvalidParameterValue", "Value %s for parameter ReceiptHandle is invalid. Reason: Message "
                         "does not exist or is not available for visibility timeout change." % h, 400,
                         self.sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=1)


class ReceiptHandles(SqsTestCase):
    def test_delete_after_visibility_expired(self):
        url = self.queue("staledel", VisibilityTimeout=1)
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        time.sleep(1.2)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        self.assertEqual(self.receive(url), [])
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_old_handle_after_redelivery_still_accepted(self):
        url = self.queue("oldhandle")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        old = self.receive(url, VisibilityTimeout=0)[0]["ReceiptHandle"]
        new = self.receive(url, wait=2, VisibilityTimeout=30)[0]["ReceiptHandle"]
        self.assertNotEqual(old, new)
        resp = self.sqs.delete_message(QueueUrl=url, ReceiptHandle=old)
        self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], 200)

    def test_delete_twice_is_fine(self):
        url = self.queue("deltwice")
        self.sqs.send_message(QueueUrl=url, MessageBody="v")
        h = self.receive(url)[0]["ReceiptHandle"]
        for _ in range(3):
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=h)
        self.assertEqual(self.counts(url), (0, 0, 0))

    def test_malformed_handle(self):
        url = self.queue("garbage")
        self.assertError("ReceiptHandleIsInvalid", 'The input receipt handle "garbage" is not a valid receipt '
                         'handle.', 404, self.sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")

    def test_handle_of_another_queue(self):
        a, b = self.queue("hq-a"), self.queue("hq-b")
        self.sqs.send_message(QueueUrl=a, MessageBody="v")
        h = self.receive(a)[0]["ReceiptHandle"]
        self.assertError("ReceiptHandleIsInvalid", 'The receipt handle "%s" is not valid for this queue.' % h, 404,
                         self.sqs.delete_message, QueueUrl=b, ReceiptHandle=h)
        self.assertEqual(self.counts(a), (0, 1, 0))


class SystemAttributes(SqsTestCase):
    def test_all_on_standard(self):
        url = self.queue("sysall")
        t0 = int(time.time() * 1000)
        self.sqs.send_message(QueueUrl=url, MessageBody="msg")
        m = self.receive(url, AttributeNames=["All"], VisibilityTimeout=0)[0]
        rec = recorded("test_receive_message_attribute_names_filters", "all_attributes")["Messages"][0]
        self.assertEqual(set(m["Attributes"]), set(rec["Attributes"]))
        a = m["Attributes"]
        self.assertRegex(a["SenderId"], r"^[A-Z0-9]{21}$")
        self.assertEqual(a["ApproximateReceiveCount"], "1")
        for k in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
            self.assertTrue(a[k].isdigit(), a)
            self.assertLess(abs(int(a[k]) - t0), 5000, (k, a))  # milliseconds
        self.assertGreaterEqual(int(a["ApproximateFirstReceiveTimestamp"]), int(a["SentTimestamp"]))
        m2 = self.receive(url, wait=2, AttributeNames=["All"])[0]
        self.assertEqual(m2["Attributes"]["ApproximateReceiveCount"], "2")
        self.assertEqual(m2["Attributes"]["SenderId"], a["SenderId"])

    def test_attribute_name_filters_as_recorded(self):
        t = "test_receive_message_attribute_names_filters"
        url = self.queue("sysfilter")
        self.sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes={"Foo": s("Bar")})

        def shape(m):
            return {k: sorted(v) if k == "Attributes" else v for k, v in m.items()
                    if k in ("Attributes", "MD5OfMessageAttributes", "MessageAttributes")}

        def want(key):
            return shape(recorded(t, key)["Messages"][0])

        self.assertEqual(shape(self.receive(url, AttributeNames=["All"], VisibilityTimeout=0)[0]),
                         want("all_attributes"))
        self.assertEqual(shape(self.receive(url, wait=1, AttributeNames=["All"], MessageAttributeNames=["All"],
                                            VisibilityTimeout=0)[0]), want("all_system_and_message_attributes"))
        self.assertEqual(shape(self.receive(url, wait=1, AttributeNames=["SenderId"], VisibilityTimeout=0)[0]),
                         want("single_attribute"))
        self.assertEqual(shape(self.receive(url, wait=1, AttributeNames=["SenderId", "SequenceNumber"])[0]),
                         want("multiple_attributes"))

    @unittest.skipUnless(PROTOCOL == "json", "MessageSystemAttributeNames is newer than the query model")
    def test_system_attribute_names_win_over_attribute_names_on_json(self):
        url = self.queue("msanjson")
        self.sqs.send_message(QueueUrl=url, MessageBody="msg")
        m = self.receive(url, AttributeNames=["SenderId"], MessageSystemAttributeNames=["All"])[0]
        rec = recorded("test_message_system_attribute_names_with_attribute_names", "different_values")
        self.assertEqual(sorted(m["Attributes"]), sorted(rec["Messages"][0]["Attributes"]))

    def test_attribute_names_win_on_query(self):
        url = self.queue("msanquery")
        self.sqs.send_message(QueueUrl=url, MessageBody="msg")
        status, _, body = raw_query(self.sluice.endpoint, {
            "Action": "ReceiveMessage", "QueueUrl": url, "AttributeName.1": "SenderId",
            "MessageSystemAttributeName.1": "All"})
        self.assertEqual(status, 200, body)
        names = re.findall(r"<Attribute><Name>([^<]+)</Name>", body)
        rec = recorded("test_message_system_attribute_names_with_attribute_names", "different_values",
                       suffix="sqs_query")
        self.assertEqual(sorted(names), sorted(rec["Messages"][0]["Attributes"]))

    def test_trace_header_from_http_header(self):
        url = self.queue("xray")
        client = self.sluice.client()
        trace = "Root=1-3152b799-8954dae64eda91bc9a23a7e8;Parent=7fa8c0f79203be72;Sampled=1"

        def add_header(request, **kw):
            request.headers["X-Amzn-Trace-Id"] = trace

        client.meta.events.register("before-sign.sqs.SendMessage", add_header)
        client.send_message(QueueUrl=url, MessageBody="test", MessageAttributes={
            "timestamp": {"DataType": "Number", "StringValue": "1493147359900"}})
        m = self.receive(url, AttributeNames=["AWSTraceHeader", "SentTimestamp"], MessageAttributeNames=["All"])[0]
        rec = recorded("test_aws_trace_header_propagation", "xray-msg")
        self.assertEqual(m["Attributes"]["AWSTraceHeader"], rec["Attributes"]["AWSTraceHeader"])
        self.assertEqual(sorted(m["Attributes"]), sorted(rec["Attributes"]))
        self.assertEqual(m["MD5OfMessageAttributes"], rec["MD5OfMessageAttributes"])

    def test_system_attribute_validation(self):
        url = self.queue("sysbad")
        self.assertError("InvalidParameterValue", None, 400, self.sqs.send_message, QueueUrl=url, MessageBody="x",
                         MessageSystemAttributes={"Other": s("v")})
        self.assertError("InvalidParameterValue", None, 400, self.sqs.send_message, QueueUrl=url, MessageBody="x",
                         MessageSystemAttributes={"AWSTraceHeader": {"DataType": "Number", "StringValue": "1"}})

    def test_message_group_id_on_standard_queue(self):
        url = self.queue("fair")
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="message", MessageGroupId="test")
        rec = recorded("test_fair_queue_with_message_group_id", "send_message")
        self.assertEqual(sorted(k for k in sent if k != "ResponseMetadata"),
                         sorted(k for k in rec if k != "ResponseMetadata"))
        m = self.receive(url, AttributeNames=["All"])[0]
        want = recorded("test_fair_queue_with_message_group_id", "get-message-with-deduplication-id")["Messages"][0]
        self.assertEqual(sorted(m["Attributes"]), sorted(want["Attributes"]))
        self.assertEqual(m["Attributes"]["MessageGroupId"], "test")

    def test_invalid_message_group_id_on_standard(self):
        url = self.queue("badgroup")
        t = "test_send_message_to_standard_queue_with_invalid_message_group_id"
        for param, value in (("empty", ""), ("too_long", "a" * 129), ("spaces", "group 123")):
            self.assertRecordedError(t, "error-response", self.sqs.send_message, param=param, QueueUrl=url,
                                     MessageBody="x", MessageGroupId=value)

    def test_dedup_id_on_standard_rejected(self):
        url = self.queue("stddedup")
        self.assertError("InvalidParameterValue", None, 400, self.sqs.send_message, QueueUrl=url, MessageBody="x",
                         MessageDeduplicationId="d1")


class MessageAttributeFilters(SqsTestCase):
    def test_filters_as_recorded(self):
        t = "test_receive_message_message_attribute_names_filters"
        url = self.queue("mafilter")
        attrs = {"General": s("Kenobi"), "Hello": s("There"), "Help.Me": s("Me")}
        sent = self.sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attrs)
        self.assertEqual(sent["MD5OfMessageAttributes"], recorded(t, "send_message_response")["MD5OfMessageAttributes"])

        def shape(m):
            return {k: v for k, v in m.items() if k in ("MD5OfMessageAttributes", "MessageAttributes")}

        def rec(key):
            r = recorded(t, key)
            return shape(r["Messages"][0] if "Messages" in r else r)

        cases = [([], "empty_filter"), (["All"], "all_name"), ([".*"], "all_wildcard"),
                 (["*"], "all_wildcard_asterisk"), (["Foo", "Help"], "only_non_existing_names"),
                 (["Hello", "General"], "only_existing"), (["Hello", "Foo"], "existing_and_non_existing"),
                 (["Hel.*"], "prefix_filter"), (["AWS."], "illegal_name_1"), (["..foo"], "illegal_name_2")]
        for names, key in cases:
            m = self.receive(url, wait=2, MessageAttributeNames=names, VisibilityTimeout=0)
            self.assertEqual(len(m), 1, key)
            self.assertEqual(shape(m[0]), rec(key), (names, key))


class WireShapes(SqsTestCase):
    def test_json_post_to_queue_url_path(self):
        url = self.queue("jsonpath")
        self.sqs.send_message(QueueUrl=url, MessageBody="hi")
        path = url[len(self.sluice.endpoint):]
        status, headers, doc = raw_json(self.sluice.endpoint, "ReceiveMessage", {}, path)
        self.assertEqual(status, 200, doc)
        self.assertEqual(headers["Content-Type"], "application/x-amz-json-1.0")
        self.assertEqual(doc["Messages"][0]["Body"], "hi")

    def test_json_error_wire_shape(self):
        status, headers, doc = raw_json(self.sluice.endpoint, "GetQueueUrl", {"QueueName": "nope"})
        self.assertEqual(status, 400)
        self.assertEqual(doc, {"__type": "com.amazonaws.sqs#QueueDoesNotExist",
                               "message": "The specified queue does not exist."})
        self.assertEqual(headers["x-amzn-query-error"], "AWS.SimpleQueueService.NonExistentQueue;Sender")

    def test_query_error_wire_shape(self):
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "GetQueueUrl", "QueueName": "nope"})
        self.assertEqual(status, 400)
        self.assertRegex(body, r'^<\?xml version="1.0"\?><ErrorResponse xmlns="http://queue.amazonaws.com/doc/'
                         r'2012-11-05/"><Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue'
                         r'</Code><Message>The specified queue does not exist for this wsdl version.</Message>'
                         r'<Detail/></Error><RequestId>[0-9a-f-]{36}</RequestId></ErrorResponse>$')

    def test_query_on_queue_url(self):
        url = self.queue("querypath")
        path = url[len(self.sluice.endpoint):]
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "FooBar"}, path)
        self.assertEqual(status, 400)
        self.assertIn("<Code>InvalidAction</Code>", body)
        self.assertIn("<Message>The action FooBar is not valid for this endpoint.</Message>", body)
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "CreateQueue", "QueueName": "x"}, path)
        self.assertIn("<Message>The action CreateQueue is not valid for this endpoint.</Message>", body)
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "SendMessage"}, path)
        self.assertEqual(status, 400)
        self.assertIn("<Code>MissingParameter</Code>", body)
        self.assertIn("<Message>The request must contain the parameter MessageBody.</Message>", body)
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "ReceiveMessage"}, path)
        self.assertEqual(status, 200)
        self.assertIn("<ReceiveMessageResult/>", body)

    def test_query_get_and_queue_url_override(self):
        a, b = self.queue("get-a"), self.queue("get-b")
        with urllib.request.urlopen(self.sluice.endpoint + "/?Action=ListQueues&QueueNamePrefix=get-") as r:
            body = r.read().decode()
        self.assertEqual(re.findall(r"<QueueUrl>([^<]+)</QueueUrl>", body), [a, b])
        # a QueueUrl parameter wins over the queue addressed by the path
        path_a = a[len(self.sluice.endpoint):]
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "SendMessage", "QueueUrl": b,
                                                            "MessageBody": "to-b"}, path_a)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.counts(b), (1, 0, 0))
        self.assertEqual(self.counts(a), (0, 0, 0))
        # GetQueueUrl on one queue's path may name another
        status, _, body = raw_query(self.sluice.endpoint, {"Action": "GetQueueUrl",
                                                            "QueueName": b.rsplit("/", 1)[1]}, path_a)
        self.assertIn("<QueueUrl>%s</QueueUrl>" % b, body)
        # and DeleteQueue works as a GET on the queue's URL
        with urllib.request.urlopen(a + "?Action=DeleteQueue") as r:
            self.assertEqual(r.status, 200)
        self.assertNotIn(a, self.sqs.list_queues(QueueNamePrefix="get-").get("QueueUrls", []))

    def test_query_without_action_on_queue_url(self):
        url = self.queue("noaction")
        status, _, body = raw_query(self.sluice.endpoint, {}, url[len(self.sluice.endpoint):])
        self.assertEqual(status, 404)
        self.assertIn("UnknownOperationException", body)



class InflightQuota(SqsTestCase):
    """limits.inflight_per_queue (AWS: 120,000) at 2: a standard queue's
    ReceiveMessage answers OverLimit at the bound, a FIFO queue's returns
    nothing; a delete makes room."""

    @classmethod
    def setUpClass(cls):
        cls.cfg_dir = tempfile.mkdtemp(prefix="sluice-it-cfg-")
        cfg = os.path.join(cls.cfg_dir, "sluice.yaml")
        with open(cfg, "w") as f:
            f.write("limits:\n  inflight_per_queue: 2\n")
        cls.sluice = Sluice(config=cfg).start()
        cls.sqs = cls.sluice.client()

    @classmethod
    def tearDownClass(cls):
        cls.sluice.stop_checked()
        shutil.rmtree(cls.cfg_dir, ignore_errors=True)

    def test_standard_over_limit_then_room_after_delete(self):
        url = self.queue("q")
        for i in range(3):
            self.sqs.send_message(QueueUrl=url, MessageBody="m%d" % i)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        self.assertEqual(len(got), 2)
        self.assertError("OverLimit", "The maximum number of in flight messages (2) has been reached for this queue.",
                         403, self.sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=1)
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        more = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual([m["Body"] for m in more], sorted({"m0", "m1", "m2"} - {m["Body"] for m in got}))

    def test_long_poll_at_the_bound_neither_spins_nor_blocks_others(self):
        url, other = self.queue("lp.fifo", ContentBasedDeduplication="true"), self.queue("other")
        for g in "abc":
            self.sqs.send_message(QueueUrl=url, MessageBody=g, MessageGroupId=g)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)["Messages"]
        self.assertEqual(len(got), 2)
        box = {}
        t = threading.Thread(target=lambda: box.update(r=self.sluice.client().receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=3)))
        t.start()
        time.sleep(0.5)
        self.sqs.send_message(QueueUrl=other, MessageBody="x")  # the daemon still answers
        self.sqs.send_message(QueueUrl=url, MessageBody="d", MessageGroupId="d")
        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])  # room: the poll gets one
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(box["r"].get("Messages", [])), 1)

    def test_fifo_returns_nothing_at_the_bound(self):
        url = self.queue("f.fifo", ContentBasedDeduplication="true")
        for g in "abc":
            self.sqs.send_message(QueueUrl=url, MessageBody=g, MessageGroupId=g)
        got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        self.assertEqual(len(got), 2)
        self.assertEqual(self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []), [])

if __name__ == "__main__":
    unittest.main()
