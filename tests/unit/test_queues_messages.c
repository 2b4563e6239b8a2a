/*
 * test_queues_messages — messages on standard queues: send validation and
 * AWS's MD5s, visibility and ChangeMessageVisibility, delays, retention,
 * receipt handles, purge, long-poll waiters and the Approximate* counters
 * through every state change. Same fake-clock engine as test_queues.c.
 */
#include "queues_fixture.h"

/* ==== send validation ==== */

TEST(send_requires_a_body)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    send_req_t r = qt_req("");
    CHECK_ERR(queue_send(q, &r, &(send_res_t){0}, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter MessageBody.");
    r = qt_req(NULL);
    CHECK_ERR(queue_send(q, &r, &(send_res_t){0}, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter MessageBody.");
    CHECK_STR(qt_counts(q), "0/0/0");
    queues_free(qs);
}

#define BAD_CHARS_TEXT                                                                                       \
    "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to " \
    "#xFFFD | #x10000 to #x10FFFF"

TEST(send_rejects_invalid_characters)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    static const char *const bad[] = {"a\x01z", "\x1f", "x\xef\xbf\xbe", "\xed\xa0\x80", "\xff", "a\xc3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        send_req_t r = qt_req(bad[i]);
        CHECK_ERR(queue_send(q, &r, &(send_res_t){0}, ERR), ST_INVALID_MESSAGE_CONTENTS, BAD_CHARS_TEXT);
    }
    send_req_t nul = qt_req("a");
    nul.body = "a\0b";
    nul.body_len = 3;
    CHECK_ERR(queue_send(q, &nul, &(send_res_t){0}, ERR), ST_INVALID_MESSAGE_CONTENTS, BAD_CHARS_TEXT);
    static const char *const good[] = {"\t\n\r ~", "\xc3\xa9t\xc3\xa9", "\xed\x9f\xbf", "\xee\x80\x80",
                                       "\xef\xbf\xbd", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_ST(qt_send(q, good[i], NULL, NULL, NULL), ST_OK);
    CHECK_STR(qt_counts(q), "7/0/0");
    queues_free(qs);
}

TEST(send_size_counts_body_and_attributes)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"MaximumMessageSize", "1024"}));
    char body[1100];
    memset(body, 'a', sizeof body);
    body[1024] = '\0';
    CHECK_ST(qt_send(q, body, NULL, NULL, NULL), ST_OK);
    body[1025 - 1] = 'a';
    body[1025] = '\0';
    CHECK_ERR(qt_send_req(q, &(send_req_t){.body = body, .body_len = 1025, .body_given = 1}, NULL, ERR),
              ST_INVALID_PARAMETER_VALUE,
              "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.");
    /* "k" + "String" + "x" = 8 bytes of attribute */
    msg_attr_t a = {"k", "String", "x", 1};
    send_req_t r = qt_req(NULL);
    r.body = body;
    r.body_given = 1;
    r.attrs = &a;
    r.nattrs = 1;
    r.body_len = 1016;
    CHECK_INT(send_req_size(&r), 1024);
    CHECK_ST(qt_send_req(q, &r, NULL, NULL), ST_OK);
    r.body_len = 1017;
    CHECK_INT(send_req_size(&r), 1025);
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.");
    /* system attributes do not count */
    msg_attr_t trace = {"AWSTraceHeader", "String", "Root=1-5759e988-bd862e3fe1be46a994272793", 40};
    r.body_len = 1016;
    r.sys_attrs = &trace;
    r.nsys = 1;
    CHECK_ST(qt_send_req(q, &r, NULL, NULL), ST_OK);
    CHECK_STR(qt_counts(q), "3/0/0");

    /* the default limit is 1 MiB */
    queue_t *big = qt_create(qs, "big", NULL, 0);
    char *mb = malloc(1048577);
    memset(mb, 'b', 1048577);
    send_req_t rb = {.body = mb, .body_len = 1048576, .body_given = 1};
    CHECK_ST(qt_send_req(big, &rb, NULL, NULL), ST_OK);
    rb.body_len = 1048577;
    err_t e1;
    status_t st = qt_send_req(big, &rb, NULL, &e1);
    free(mb);
    CHECK_ST(st, ST_INVALID_PARAMETER_VALUE);
    CHECK_STR(e1.msg, "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.");
    queues_free(qs);
}

static status_t send_attrs(queue_t *q, const msg_attr_t *a, size_t n, err_t *err)
{
    send_req_t r = qt_req("body");
    r.attrs = a;
    r.nattrs = n;
    return qt_send_req(q, &r, NULL, err);
}

#define ATTR(n, t, v) ((msg_attr_t){(n), (t), (v), strlen(v)})
#define NAME_TEXT(n)                                                                                           \
    "Message (user) attribute name '" n "' is invalid. Attribute name can contain A-Z, a-z, 0-9, underscore " \
    "(_), hyphen (-), and period (.) characters."
#define PREFIX_TEXT(n)                                                                                        \
    "Message (user) attribute name '" n "' is invalid. Attribute name cannot start with \"AWS.\" or \"Amazon.\" " \
    "prefixes."

TEST(send_attribute_rules)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    msg_attr_t a[11];
    char names[11][16];
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        a[i] = ATTR(names[i], "String", "v");
    }
    CHECK_ERR(send_attrs(q, a, 11, ERR), ST_INVALID_PARAMETER_VALUE,
              "Number of message attributes [11] exceeds the allowed maximum [10].");
    CHECK_ST(send_attrs(q, a, 10, NULL), ST_OK);

    CHECK_ERR(send_attrs(q, &ATTR("AWS.x", "String", "v"), 1, ERR), ST_INVALID_PARAMETER_VALUE, PREFIX_TEXT("AWS.x"));
    CHECK_ERR(send_attrs(q, &ATTR("aWs.x", "String", "v"), 1, ERR), ST_INVALID_PARAMETER_VALUE, PREFIX_TEXT("aWs.x"));
    CHECK_ERR(send_attrs(q, &ATTR("AMAZON.x", "String", "v"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              PREFIX_TEXT("AMAZON.x"));
    static const char *const bad_names[] = {".a", "a.", "a..b", "a!b", "a\"b", "a(b", "a?b", "a b", ""};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char want[256];
        snprintf(want, sizeof want,
                 "Message (user) attribute name '%s' is invalid. Attribute name can contain A-Z, a-z, 0-9, "
                 "underscore (_), hyphen (-), and period (.) characters.",
                 bad_names[i]);
        CHECK_ERR(send_attrs(q, &ATTR(bad_names[i], "String", "v"), 1, ERR), ST_INVALID_PARAMETER_VALUE, want);
    }
    char n256[257], n257[258];
    memset(n256, 'n', 256), n256[256] = '\0';
    memset(n257, 'n', 257), n257[257] = '\0';
    CHECK_ST(send_attrs(q, &ATTR(n256, "String", "v"), 1, NULL), ST_OK);
    err_t e1;
    CHECK_ST(send_attrs(q, &ATTR(n257, "String", "v"), 1, &e1), ST_INVALID_PARAMETER_VALUE);
    CHECK(strncmp(e1.msg, "Message (user) attribute name 'nnn", 34) == 0);
    CHECK_ST(send_attrs(q, &ATTR("attr.1\xc3\xb8\xc3\x9f\xc3\xa4", "String", "v"), 1, NULL), ST_OK);
    CHECK_ST(send_attrs(q, &ATTR("Amazonia", "String", "v"), 1, NULL), ST_OK); /* no "Amazon." prefix */

    /* types */
    CHECK_ERR(send_attrs(q, &ATTR("t", "", "v"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "The message (user) attribute 't' must contain a non-empty message attribute type.");
    CHECK_ERR(send_attrs(q, &ATTR("t", "Integer", "1"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "The type of message (user) attribute 't' is invalid. You must use only the following supported type "
              "prefixes: Binary, Number, String.");
    CHECK_ERR(send_attrs(q, &ATTR("t", "Strings", "1"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "The type of message (user) attribute 't' is invalid. You must use only the following supported type "
              "prefixes: Binary, Number, String.");
    char t257[270];
    memcpy(t257, "String.", 7);
    memset(t257 + 7, 'c', 250), t257[257] = '\0';
    CHECK_ERR(send_attrs(q, &ATTR("t", t257, "1"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "The type of message (user) attribute 't' is invalid. You must use only the following supported type "
              "prefixes: Binary, Number, String.");
    CHECK_ST(send_attrs(q, &ATTR("t", "String.custom", "v"), 1, NULL), ST_OK);
    CHECK_ST(send_attrs(q, &ATTR("t", "Number.int", "-1.5e3"), 1, NULL), ST_OK);

    /* values */
    CHECK_ERR(send_attrs(q, &ATTR("ErrorDetails", "String", ""), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'.");
    CHECK_ERR(send_attrs(q, &ATTR("n", "Number", ""), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message (user) attribute 'n' must contain a non-empty value of type 'Number'.");
    CHECK_ERR(send_attrs(q, &ATTR("b", "Binary.x", ""), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message (user) attribute 'b' must contain a non-empty value of type 'Binary'.");
    CHECK_ERR(send_attrs(q, &ATTR("n", "Number", "12abc"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Could not cast message (user) attribute 'n' to type Number.");
    CHECK_ERR(send_attrs(q, &ATTR("s", "String", "a\x02"), 1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message (user) attribute 's' contains invalid characters.");
    CHECK_ST(send_attrs(q, &((msg_attr_t){"b", "Binary", "\x00\x01\xff", 3}), 1, NULL), ST_OK);

    /* system attributes */
    send_req_t r = qt_req("body");
    msg_attr_t sys = ATTR("Other", "String", "v");
    r.sys_attrs = &sys;
    r.nsys = 1;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message system attribute name 'Other' is invalid.");
    sys = ATTR("AWSTraceHeader", "Number", "1");
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Message system attribute 'AWSTraceHeader' must be of type String.");
    CHECK_STR(qt_counts(q), "7/0/0");
    queues_free(qs);
}

TEST(send_delay_and_standard_queue_parameters)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    send_req_t r = qt_req("m");
    r.delay_given = 1;
    r.delay = 901;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 901 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.");
    r.delay = -1;
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value -1 for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.");
    r.delay = 900;
    CHECK_ST(qt_send_req(q, &r, NULL, NULL), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/1");

    r = qt_req("m");
    r.dedup_id = "d1";
    CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value d1 for parameter MessageDeduplicationId is invalid. Reason: The request includes a parameter "
              "that is not valid for this queue type.");
    /* MessageGroupId is allowed (fair queues) but checked */
    char g129[130];
    memset(g129, 'a', 129), g129[129] = '\0';
    const char *const bad_groups[] = {"", "group 123", g129};
    for (int i = 0; i < 3; i++) {
        char want[512];
        snprintf(want, sizeof want,
                 "Value %s for parameter MessageGroupId is invalid. Reason: MessageGroupId can only include "
                 "alphanumeric and punctuation characters. 1 to 128 in length.",
                 bad_groups[i]);
        r = qt_req("m");
        r.group_id = bad_groups[i];
        CHECK_ERR(qt_send_req(q, &r, NULL, ERR), ST_INVALID_PARAMETER_VALUE, want);
    }
    send_res_t res;
    CHECK_ST(qt_send(q, "fair", "tenant-1", NULL, &res), ST_OK);
    CHECK_INT(res.seq, 0);
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 10, -1, &rr), 1);
    CHECK_STR(rr.msgs[0]->group_id, "tenant-1");
    queues_free(qs);
}

/* ==== MD5s ==== */

static const char *md5_of(const msg_attr_t *a, size_t n)
{
    static char out[33];
    msg_attrs_md5(a, n, out);
    return out;
}

TEST(md5_of_message_attributes_matches_aws)
{
    CHECK_STR(md5_of(&ATTR("Foo", "String", "Bar"), 1), "ae7155c6026991b6d54b11589678bf9c");
    msg_attr_t three[] = {ATTR("Help.Me", "String", "Me"), ATTR("General", "String", "Kenobi"),
                          ATTR("Hello", "String", "There")};
    CHECK_STR(md5_of(three, 3), "4c360f3fdafd970e05fae2f149d997f5"); /* sorted by name first */
    CHECK_STR(md5_of(&ATTR("k", "String", "x"), 1), "a45daa70926828a2f0a1db3418e6feb4");
    CHECK_STR(md5_of(&ATTR("timestamp", "Number", "1493147359900"), 1), "235c5c510d26fb653d073faed50ae77c");
    static const char bin[] = "traceparent\x1e"
                              "00-774062d6c37081a5a0b9b5b88e30627c-2d2482211f6489da-01";
    CHECK_STR(md5_of(&((msg_attr_t){"attr1", "Binary", bin, sizeof bin - 1}), 1), "8cbe4db156db8a94db8b801b7addb984");
    CHECK_STR(md5_of(&ATTR("MyAttribute", "String", "foobar"), 1), "adb59cd4678ea5a855436b949cd07ab6");
    CHECK_STR(md5_of(NULL, 0), "");

    /* through SendMessage: body, attributes and system attributes */
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    send_req_t r = qt_req("message");
    send_res_t res;
    CHECK_ST(qt_send_req(q, &r, &res, NULL), ST_OK);
    CHECK_STR(res.md5_body, "78e731027d8fd50ed642340b7c9a63b3");
    CHECK_STR(res.md5_attrs, "");
    CHECK_STR(res.md5_sys, "");
    CHECK_INT(strlen(res.message_id), 36);
    msg_attr_t sys = ATTR("AWSTraceHeader", "String",
                          "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
    r.attrs = three;
    r.nattrs = 3;
    r.sys_attrs = &sys;
    r.nsys = 1;
    CHECK_ST(qt_send_req(q, &r, &res, NULL), ST_OK);
    CHECK_STR(res.md5_attrs, "4c360f3fdafd970e05fae2f149d997f5");
    CHECK_STR(res.md5_sys, "5ae4d5d7636402d80f4eb6d213245a88");
    /* the stored attributes read back in the order given */
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 10, -1, &rr), 2);
    message_t *m = rr.msgs[1];
    CHECK_STR(m->trace_header, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
    size_t off = 0;
    msg_attr_t got;
    CHECK(msg_attrs_next(m->attrs, m->attrs_len, &off, &got));
    CHECK_STR(got.name, "Help.Me");
    CHECK_STR(got.type, "String");
    CHECK_MEM(got.value, got.value_len, "Me", 2);
    CHECK(msg_attrs_next(m->attrs, m->attrs_len, &off, &got));
    CHECK(msg_attrs_next(m->attrs, m->attrs_len, &off, &got));
    CHECK_STR(got.name, "Hello");
    CHECK(!msg_attrs_next(m->attrs, m->attrs_len, &off, &got));
    queues_free(qs);
}

/* ==== visibility ==== */

TEST(receive_hides_for_the_visibility_timeout)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"VisibilityTimeout", "10"}));
    recv_res_t rr;
    CHECK_ST(qt_send(q, "m1", NULL, NULL, NULL), ST_OK);
    qt_advance(qs, 500);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    CHECK_STR(rr.msgs[0]->body, "m1");
    CHECK_INT(rr.msgs[0]->recv_count, 1);
    CHECK_INT(rr.msgs[0]->first_recv_ts, QT_T0 + 500);
    CHECK_INT(rr.msgs[0]->sent_ts, QT_T0);
    CHECK_STR(qt_counts(q), "0/1/0");
    CHECK_INT(qt_recv(q, 10, -1, &rr), 0);
    CHECK_INT(qt_advance(qs, 9999), QT_T0 + 10500); /* the next deadline is the message's */
    CHECK_INT(qt_recv(q, 10, -1, &rr), 0);
    qt_advance(qs, 1);
    CHECK_STR(qt_counts(q), "1/0/0");
    CHECK_INT(qt_recv(q, 10, -1, &rr), 1);
    CHECK_INT(rr.msgs[0]->recv_count, 2);
    CHECK_INT(rr.msgs[0]->first_recv_ts, QT_T0 + 500);

    /* a per-receive timeout overrides the queue's */
    CHECK_INT(qt_advance(qs, 10000), QT_T0 + 21500); /* nothing in flight: the next sweep */
    CHECK_INT(qt_recv(q, 1, 2, &rr), 1);
    qt_advance(qs, 1999);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 0);
    qt_advance(qs, 1);
    CHECK_INT(qt_recv(q, 1, 0, &rr), 1);
    /* a zero timeout makes it visible at the next tick, never twice in one receive */
    CHECK_INT(rr.msgs[0]->recv_count, 4);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 0);
    qt_advance(qs, 0);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    CHECK_INT(rr.msgs[0]->recv_count, 5);

    recv_req_t bad = {.max = 11};
    CHECK_ERR(queue_receive(q, &bad, &rr, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.");
    bad.max = 0;
    CHECK_ERR(queue_receive(q, &bad, &rr, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 0 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.");
    bad = (recv_req_t){.max = 1, .visibility = 43201, .visibility_given = 1};
    CHECK_ERR(queue_receive(q, &bad, &rr, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if "
              "provided.");
    queues_free(qs);
}

TEST(receive_takes_oldest_first_and_at_most_max)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    char body[16];
    for (int i = 0; i < 12; i++) {
        snprintf(body, sizeof body, "m%d", i);
        CHECK_ST(qt_send(q, body, NULL, NULL, NULL), ST_OK);
    }
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "m0");
    CHECK_INT(qt_recv(q, 2, 60, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "m1,m2");
    CHECK_INT(qt_recv(q, 10, 60, &rr), 9);
    CHECK_STR(qt_bodies(&rr), "m3,m4,m5,m6,m7,m8,m9,m10,m11");
    CHECK(strcmp(rr.receipts[0], rr.receipts[1]) != 0);
    qt_advance(qs, 5000);
    /* a redelivered message comes before newer ones */
    CHECK_ST(qt_send(q, "new", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 10, 60, &rr), 2);
    CHECK_STR(qt_bodies(&rr), "m0,new");
    queues_free(qs);
}

TEST(change_visibility)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"VisibilityTimeout", "30"}));
    queue_t *other = qt_create(qs, "other", NULL, 0);
    recv_res_t rr;
    err_t err;
    char h[RECEIPT_MAX];
    CHECK_ST(qt_send(q, "m", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    /* extend from now: 10 s after the call, not after the receive */
    qt_advance(qs, 20000);
    CHECK_ST(queue_change_visibility(q, h, 40, &err), ST_OK);
    qt_advance(qs, 39999);
    CHECK_STR(qt_counts(q), "0/1/0");
    CHECK_ST(queue_change_visibility(q, h, 0, &err), ST_OK); /* visible at once, no tick needed */
    CHECK_STR(qt_counts(q), "1/0/0");
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    CHECK_INT(rr.msgs[0]->recv_count, 2);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);

    char want[512];
    snprintf(want, sizeof want,
             "Value 43201 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if "
             "provided.");
    CHECK_ERR(queue_change_visibility(q, h, 43201, ERR), ST_INVALID_PARAMETER_VALUE, want);
    CHECK_ERR(queue_change_visibility(q, h, -1, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value -1 for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided.");
    /* the 12 hours count from the receive */
    CHECK_ST(queue_change_visibility(q, h, 43200, &err), ST_OK);
    qt_advance(qs, 1000);
    CHECK_ERR(queue_change_visibility(q, h, 43200, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the "
              "message is beyond the limit [43200 seconds].");
    CHECK_ST(queue_change_visibility(q, h, 43199, &err), ST_OK);
    /* ... of this receive, not the first one: 13 h later a new receive may extend again */
    qt_advance(qs, 13 * 3600 * 1000ull);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    CHECK_ST(queue_change_visibility(q, h, 43200, &err), ST_OK);
    CHECK_ST(queue_change_visibility(q, h, 600, &err), ST_OK);

    /* bad, foreign and dead handles */
    CHECK_ERR(queue_change_visibility(q, "garbage", 10, ERR), ST_RECEIPT_HANDLE_INVALID,
              "The input receipt handle \"garbage\" is not a valid receipt handle.");
    char fh[RECEIPT_MAX];
    CHECK_ST(qt_send(other, "o", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(other, 1, -1, &rr), 1);
    snprintf(fh, sizeof fh, "%s", rr.receipts[0]);
    snprintf(want, sizeof want, "The receipt handle \"%s\" is not valid for this queue.", fh);
    CHECK_ERR(queue_change_visibility(q, fh, 10, ERR), ST_RECEIPT_HANDLE_INVALID, want);
    CHECK_ERR(queue_delete_message(q, fh, ERR), ST_RECEIPT_HANDLE_INVALID, want);
    CHECK_ST(queue_delete_message(q, h, &err), ST_OK);
    snprintf(want, sizeof want,
             "Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available "
             "for visibility timeout change.",
             h);
    CHECK_ERR(queue_change_visibility(q, h, 10, ERR), ST_INVALID_PARAMETER_VALUE, want);
    queues_free(qs);
}

TEST(change_visibility_after_expiry_on_standard_queue)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"VisibilityTimeout", "1"}));
    recv_res_t rr;
    err_t err;
    char h[RECEIPT_MAX];
    CHECK_ST(qt_send(q, "m", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    qt_advance(qs, 2000);
    CHECK_STR(qt_counts(q), "1/0/0");
    CHECK_ST(queue_change_visibility(q, h, 2, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/1/0");
    qt_advance(qs, 2000);
    CHECK_STR(qt_counts(q), "1/0/0");
    queues_free(qs);
}

TEST(delays)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"DelaySeconds", "5"}));
    recv_res_t rr;
    CHECK_ST(qt_send(q, "queue-delay", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send_delay(q, "own-delay", 2), ST_OK);
    CHECK_ST(qt_send_delay(q, "no-delay", 0), ST_OK); /* a message's 0 overrides the queue's 5 */
    CHECK_STR(qt_counts(q), "1/0/2");
    CHECK_INT(qt_recv(q, 10, 60, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "no-delay");
    CHECK_INT(qt_advance(qs, 1999), QT_T0 + 2000);
    CHECK_INT(qt_recv(q, 10, 60, &rr), 0);
    qt_advance(qs, 1);
    CHECK_STR(qt_counts(q), "1/1/1");
    CHECK_INT(qt_recv(q, 10, 60, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "own-delay");
    CHECK_INT(rr.msgs[0]->recv_count, 1);
    qt_advance(qs, 2999);
    CHECK_INT(qt_recv(q, 10, 60, &rr), 0);
    qt_advance(qs, 1);
    CHECK_INT(qt_recv(q, 10, 60, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "queue-delay");
    CHECK_STR(qt_counts(q), "0/3/0");
    queues_free(qs);
}

TEST(retention_expires_messages_in_the_sweep)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"MessageRetentionPeriod", "60"}));
    recv_res_t rr;
    CHECK_ST(qt_send(q, "old", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(q, "inflight", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, 600, &rr), 1); /* "old" */
    qt_set_time(30000);
    CHECK_ST(qt_send(q, "young", NULL, NULL, NULL), ST_OK);
    /* a sweep at 59.9 s keeps everything and schedules the next one 1 s later */
    qt_set_time(59900);
    CHECK_INT(queues_tick(qs), QT_T0 + 60900);
    CHECK_STR(qt_counts(q), "2/1/0");
    qt_set_time(60000);
    queues_tick(qs); /* not a sweep yet */
    CHECK_STR(qt_counts(q), "2/1/0");
    qt_set_time(60900);
    CHECK_INT(queues_tick(qs), QT_T0 + 61900);
    CHECK_STR(qt_counts(q), "1/0/0");
    CHECK_INT(qt_recv(q, 10, 5, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "young");
    /* a receive never returns an expired message, swept or not */
    qt_set_time(89500);
    queues_tick(qs);
    CHECK_STR(qt_counts(q), "1/0/0");
    qt_set_time(90000); /* "young" is 60 s old: no sweep has run */
    CHECK_INT(qt_recv(q, 10, 5, &rr), 0);
    CHECK_STR(qt_counts(q), "0/0/0");
    queues_free(qs);
}

TEST(standard_delete_with_stale_receipt)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"VisibilityTimeout", "1"}));
    recv_res_t rr;
    err_t err;
    char h1[RECEIPT_MAX], h2[RECEIPT_MAX];
    /* after the timeout, the handle still deletes */
    CHECK_ST(qt_send(q, "a", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h1, sizeof h1, "%s", rr.receipts[0]);
    qt_advance(qs, 1500);
    CHECK_ST(queue_delete_message(q, h1, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    CHECK_ST(queue_delete_message(q, h1, &err), ST_OK); /* again: still fine */
    CHECK_ST(queue_delete_message(q, h1, &err), ST_OK);
    /* an older handle after a re-receive deletes too */
    CHECK_ST(qt_send(q, "b", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h1, sizeof h1, "%s", rr.receipts[0]);
    qt_advance(qs, 1000);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 1);
    snprintf(h2, sizeof h2, "%s", rr.receipts[0]);
    CHECK(strcmp(h1, h2) != 0);
    CHECK_ST(queue_delete_message(q, h1, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    qt_advance(qs, 1000);
    CHECK_INT(qt_recv(q, 1, -1, &rr), 0);
    CHECK_ST(queue_delete_message(q, h2, &err), ST_OK);
    CHECK_ERR(queue_delete_message(q, "AQEBnotreal", ERR), ST_RECEIPT_HANDLE_INVALID,
              "The input receipt handle \"AQEBnotreal\" is not a valid receipt handle.");
    CHECK_ERR(queue_delete_message(q, "", ERR), ST_RECEIPT_HANDLE_INVALID,
              "The input receipt handle \"\" is not a valid receipt handle.");
    queues_free(qs);
}

/* ==== purge ==== */

TEST(purge_removes_everything_once_a_minute)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q1", NULL, 0);
    recv_res_t rr;
    err_t err;
    CHECK_ST(qt_send(q, "visible", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send(q, "inflight", NULL, NULL, NULL), ST_OK);
    CHECK_ST(qt_send_delay(q, "delayed", 10), ST_OK);
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    CHECK_STR(qt_counts(q), "1/1/1");
    CHECK_ST(queue_purge(q, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    qt_advance(qs, 20000); /* neither the in-flight nor the delayed one comes back */
    CHECK_STR(qt_counts(q), "0/0/0");
    CHECK_INT(qt_recv(q, 10, 5, &rr), 0);
    CHECK_ST(qt_send(q, "after", NULL, NULL, NULL), ST_OK);
    CHECK_INT(qt_recv(q, 10, 60, &rr), 1);
    CHECK_STR(qt_bodies(&rr), "after");
    qt_advance(qs, 39999);
    CHECK_ERR(queue_purge(q, ERR), ST_PURGE_IN_PROGRESS,
              "Only one PurgeQueue operation on q1 is allowed every 60 seconds.");
    CHECK_STR(qt_counts(q), "0/1/0"); /* the refused purge did nothing */
    qt_advance(qs, 1);
    CHECK_ST(queue_purge(q, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/0/0");
    queues_free(qs);
}

/* ==== long polling ==== */

typedef struct poller {
    queue_waiter_t w;
    int woken, got, gone, stop;
    char body[32];
} poller_t;

/* What the protocol layer does: take a message if there is one, else wait again. */
static void poller_wake(queue_waiter_t *w)
{
    poller_t *p = (poller_t *)w;
    p->woken++;
    p->gone = w->q_gone;
    p->stop = w->stop;
    if (w->q_gone || w->stop)
        return;
    recv_res_t rr;
    if (qt_recv(w->q, 1, 30, &rr) == 1) {
        p->got++;
        snprintf(p->body, sizeof p->body, "%s", rr.msgs[0]->body);
    } else {
        queue_wait(w->q, w);
    }
}

static void poller_init(poller_t *p)
{
    memset(p, 0, sizeof *p);
    list_init(&p->w.link);
    p->w.wake = poller_wake;
}

TEST(waiters_one_wake_per_message)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    poller_t p[3];
    for (int i = 0; i < 3; i++) {
        poller_init(&p[i]);
        queue_wait(q, &p[i].w);
    }
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.waiters, 3);
    CHECK_ST(qt_send(q, "first", NULL, NULL, NULL), ST_OK);
    CHECK_INT(p[0].woken, 1);
    CHECK_INT(p[1].woken + p[2].woken, 0);
    CHECK_STR(p[0].body, "first");
    /* a delayed message wakes nobody until it is due */
    CHECK_ST(qt_send_delay(q, "later", 3), ST_OK);
    CHECK_INT(p[1].woken + p[2].woken, 0);
    qt_advance(qs, 3000);
    CHECK_INT(p[1].woken, 1);
    CHECK_INT(p[2].woken, 0);
    CHECK_STR(p[1].body, "later");
    /* the message coming back from flight wakes the last one */
    qt_advance(qs, 27000);
    CHECK_INT(p[2].woken, 1);
    CHECK_STR(p[2].body, "first");
    queues_get_stats(qs, &s);
    CHECK_INT(s.waiters, 0);

    /* a waiter that finds nothing (someone else took it) waits again */
    poller_t a, b;
    poller_init(&a);
    poller_init(&b);
    queue_wait(q, &a.w);
    queue_wait(q, &b.w);
    queue_unwait(&a.w); /* gave up: never woken */
    CHECK_ST(qt_send(q, "x", NULL, NULL, NULL), ST_OK);
    CHECK_INT(a.woken, 0);
    CHECK_INT(b.got, 1);
    queues_free(qs);
}

TEST(waiters_on_deleted_queue_and_shutdown)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0), *q2 = qt_create(qs, "q2", NULL, 0);
    poller_t a, b, c;
    err_t err;
    poller_init(&a);
    poller_init(&b);
    poller_init(&c);
    queue_wait(q, &a.w);
    queue_wait(q, &b.w);
    queue_wait(q2, &c.w);
    CHECK_ST(queues_delete(qs, q, &err), ST_OK);
    CHECK_INT(a.woken, 1);
    CHECK_INT(a.gone, 1);
    CHECK_INT(b.woken, 1);
    CHECK_INT(b.gone, 1);
    CHECK_INT(c.woken, 0);
    queues_wake_all(qs);
    CHECK_INT(c.woken, 1);
    CHECK_INT(c.stop, 1);
    CHECK_INT(c.gone, 0);
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.waiters, 0);
    CHECK_INT(s.queues, 1);
    queues_free(qs);
}

/* ==== counters ==== */

TEST(approximate_counters_follow_every_state_change)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    const char *redrive = "{\"deadLetterTargetArn\":\"" QT_ARN("dlq") "\",\"maxReceiveCount\":1}";
    queue_t *q = qt_create(qs, "q", KV({"RedrivePolicy", redrive}));
    recv_res_t rr;
    err_t err;
    char h[RECEIPT_MAX];
    for (int i = 0; i < 6; i++)
        CHECK_ST(qt_send(q, "m", NULL, NULL, NULL), ST_OK);
    CHECK_STR(qt_counts(q), "6/0/0");
    CHECK_INT(qt_recv(q, 1, 5, &rr), 1);
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    CHECK_STR(qt_counts(q), "5/1/0");
    CHECK_ST(qt_send_delay(q, "d", 2), ST_OK);
    CHECK_STR(qt_counts(q), "5/1/1");
    CHECK_ST(queue_change_visibility(q, h, 0, &err), ST_OK);
    CHECK_STR(qt_counts(q), "6/0/1");
    /* the one received before is first in line: this receive moves it to the DLQ */
    CHECK_INT(qt_recv(q, 2, 1, &rr), 2);
    CHECK_STR(qt_counts(q), "3/2/1");
    CHECK_STR(qt_counts(dlq), "1/0/0");
    qt_advance(qs, 2000); /* the delay ends, the two come back */
    CHECK_STR(qt_counts(q), "6/0/0");
    CHECK_INT(qt_recv(q, 10, 5, &rr), 4); /* the two received once move, four are received */
    CHECK_STR(qt_counts(q), "0/4/0");
    CHECK_STR(qt_counts(dlq), "3/0/0");
    snprintf(h, sizeof h, "%s", rr.receipts[0]);
    CHECK_ST(queue_delete_message(q, h, &err), ST_OK);
    CHECK_STR(qt_counts(q), "0/3/0");
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.messages, 6);
    CHECK_INT(s.inflight, 3);
    CHECK_INT(s.delayed, 0);
    CHECK_ST(queue_purge(dlq, &err), ST_OK);
    CHECK_STR(qt_counts(dlq), "0/0/0");
    CHECK_ST(queue_set_attributes(q, KV({"MessageRetentionPeriod", "60"}), &err), ST_OK);
    qt_advance(qs, 60000);
    CHECK_STR(qt_counts(q), "0/0/0");
    queues_get_stats(qs, &s);
    CHECK_INT(s.messages, 0);
    queues_free(qs);
}

/* ==== the deadline callback ==== */

static uint64_t asked[16];
static int nasked;

static void record_deadline(void *arg, uint64_t at)
{
    (void)arg;
    if (nasked < 16)
        asked[nasked++] = at;
}

TEST(deadline_callback_asks_only_for_earlier_wakeups)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    nasked = 0;
    queues_set_deadline_cb(qs, record_deadline, NULL);
    CHECK_ST(qt_send_delay(q, "d10", 10), ST_OK);
    CHECK_INT(nasked, 1);
    CHECK_INT(asked[0], QT_T0 + 10000);
    CHECK_ST(qt_send_delay(q, "d20", 20), ST_OK); /* later than the armed one: no call */
    CHECK_INT(nasked, 1);
    CHECK_ST(qt_send_delay(q, "d5", 5), ST_OK);
    CHECK_INT(nasked, 2);
    CHECK_INT(asked[1], QT_T0 + 5000);
    /* a tick re-arms at what it returns: the sweep, 1 s on */
    CHECK_INT(queues_tick(qs), QT_T0 + 1000);
    CHECK_ST(qt_send(q, "now", NULL, NULL, NULL), ST_OK);
    recv_res_t rr;
    CHECK_INT(qt_recv(q, 1, 0, &rr), 1); /* visible again at once: ask for now */
    CHECK_INT(nasked, 3);
    CHECK_INT(asked[2], QT_T0);
    CHECK_INT(queues_tick(qs), QT_T0 + 1000);
    CHECK_INT(qt_recv(q, 1, 600, &rr), 1);
    CHECK_INT(nasked, 3); /* 600 s is after the armed sweep */
    queues_free(qs);
}

/* The request id convention: the body half. A body that cannot hold the
 * name is not parsed; an escaped key still is. */
TEST(request_id_from_a_body)
{
    static const struct {
        const char *body, *want;
    } cases[] = {
        {"{\"requestId\":\"r-1\",\"x\":1}", "r-1"},
        {"{\"\\u0072equestId\":\"r-2\"}", "r-2"},
        {"{\"Type\":\"Notification\",\"Message\":\"m\",\"MessageAttributes\":"
         "{\"requestId\":{\"Type\":\"String\",\"Value\":\"r-3\"}}}", "r-3"},
        {"{\"Type\":\"Notification\",\"MessageAttributes\":{\"requestId\":{\"Type\":\"Number\",\"Value\":\"4\"}}}",
         NULL},
        {"{\"number\":3,\"factor\":5}", NULL},
        {"{\"requestId\":\"\"}", NULL},
        {"[\"requestId\"]", NULL},
        {"requestId", NULL},
        {"{\"requestId\":", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = msg_body_request_id(cases[i].body, strlen(cases[i].body));
        if (cases[i].want)
            CHECK_STR(got ? got : "(none)", cases[i].want);
        else
            CHECK(got == NULL);
        free(got);
    }
}

/* AWS bounds the messages in flight per queue: a standard queue at the bound
 * answers ReceiveMessage with OverLimit, a FIFO queue with nothing; a
 * receive never takes more than the room left, and a delete makes room. */
TEST(inflight_bound_standard_and_fifo)
{
    err_t err;
    qt_now_ms = QT_T0;
    queues_config_t cfg = {.region = QT_REGION, .account = QT_ACCOUNT, .max_inflight = 3};
    queues_t *qs = queues_new(&cfg, NULL);
    queues_set_clock(qs, qt_clock);
    queue_t *q = qt_create(qs, "q", NULL, 0);
    queue_t *f = qt_create(qs, "f.fifo", KV({"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}));
    for (int i = 0; i < 5; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        CHECK_ST(qt_send(q, body, NULL, NULL, NULL), ST_OK);
        char group[4] = {(char)('a' + i), 0};
        CHECK_ST(qt_send(f, body, group, NULL, NULL), ST_OK);
    }
    recv_res_t res, held;
    CHECK_INT(qt_recv(q, 2, 30, &res), 2);
    CHECK_INT(qt_recv(q, 10, 30, &held), 1); /* only the room left */
    recv_req_t r = {.max = 10, .visibility = 30, .visibility_given = 1};
    CHECK_ERR(queue_receive(q, &r, &res, ERR), ST_OVER_LIMIT,
              "The maximum number of in flight messages (3) has been reached for this queue.");
    CHECK_STR(qt_counts(q), "2/3/0");
    CHECK_ST(queue_delete_message(q, held.receipts[0], &err), ST_OK);
    CHECK_INT(qt_recv(q, 10, 30, &res), 1);

    CHECK_INT(qt_recv(f, 10, 30, &res), 3);
    CHECK_INT(qt_recv(f, 10, 30, &res), 0); /* FIFO: nothing, and no error */
    queues_free(qs);
}

/* Long polls at the in-flight bound: a waiter is not woken by sends it
 * could not take (a FIFO queue answered them with nothing and re-waited,
 * which re-notified the queue: the wake loop never ended), and is woken
 * once a delete makes room. */
TEST(waiters_at_the_inflight_bound)
{
    err_t err;
    qt_now_ms = QT_T0;
    queues_config_t cfg = {.region = QT_REGION, .account = QT_ACCOUNT, .max_inflight = 2};
    queues_t *qs = queues_new(&cfg, NULL);
    queues_set_clock(qs, qt_clock);
    queue_t *qv[2] = {qt_create(qs, "f.fifo", KV({"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"})),
                      qt_create(qs, "q", NULL, 0)};
    for (int k = 0; k < 2; k++) {
        queue_t *q = qv[k];
        CHECK_ST(qt_send(q, "a", k ? NULL : "ga", NULL, NULL), ST_OK);
        CHECK_ST(qt_send(q, "b", k ? NULL : "gb", NULL, NULL), ST_OK);
        recv_res_t held;
        CHECK_INT(qt_recv(q, 10, 60, &held), 2); /* at the bound */
        poller_t p;
        poller_init(&p);
        queue_wait(q, &p.w);
        CHECK_ST(qt_send(q, "c", k ? NULL : "gc", NULL, NULL), ST_OK); /* returns: no endless wake loop */
        CHECK_INT(p.woken, 0);
        CHECK_ST(queue_delete_message(q, held.receipts[0], &err), ST_OK);
        CHECK_INT(p.woken, 1);
        CHECK_INT(p.got, 1);
        CHECK_STR(p.body, "c");
    }
    queues_free(qs);
}
