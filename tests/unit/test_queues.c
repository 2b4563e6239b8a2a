/*
 * test_queues — the SQS engine's queues: creation and name rules,
 * QueueAlreadyExists and QueueDeletedRecently, listing, attributes (defaults,
 * validation, atomic updates, encryption, redrive policies), tags and
 * permissions. Messages on standard queues are in test_queues_messages.c,
 * FIFO, dead-letter and move-task behaviour in test_queues_fifo.c, recovery
 * in test_queues_recovery.c.
 *
 * The engine runs without a store on a fake clock (queues_fixture.h);
 * expected texts are AWS's (see the research notes quoted in the tests).
 */
#include "queues_fixture.h"

/* ==== creation ==== */

TEST(create_standard_defaults)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q1", NULL, 0);
    CHECK(q != NULL);
    CHECK_STR(queue_name(q), "q1");
    CHECK_INT(queue_is_fifo(q), 0);
    CHECK(queues_find(qs, "q1") == q);
    CHECK(queues_find_arn(qs, QT_ARN("q1")) == q);
    CHECK(queues_find_arn(qs, "arn:aws:sqs:eu-west-1:" QT_ACCOUNT ":q1") == NULL);

    kvv_t all = {0};
    err_t err;
    CHECK_ST(queue_get_attributes(q, STRS("All"), &all, &err), ST_OK);
    CHECK_INT(all.n, 12);
    CHECK_STR(kvv_get(&all, "ApproximateNumberOfMessages"), "0");
    CHECK_STR(kvv_get(&all, "ApproximateNumberOfMessagesNotVisible"), "0");
    CHECK_STR(kvv_get(&all, "ApproximateNumberOfMessagesDelayed"), "0");
    CHECK_STR(kvv_get(&all, "CreatedTimestamp"), "1700000000");
    CHECK_STR(kvv_get(&all, "LastModifiedTimestamp"), "1700000000");
    CHECK_STR(kvv_get(&all, "DelaySeconds"), "0");
    CHECK_STR(kvv_get(&all, "MaximumMessageSize"), "1048576");
    CHECK_STR(kvv_get(&all, "MessageRetentionPeriod"), "345600");
    CHECK_STR(kvv_get(&all, "QueueArn"), QT_ARN("q1"));
    CHECK_STR(kvv_get(&all, "ReceiveMessageWaitTimeSeconds"), "0");
    CHECK_STR(kvv_get(&all, "SqsManagedSseEnabled"), "true");
    CHECK_STR(kvv_get(&all, "VisibilityTimeout"), "30");
    CHECK(kvv_get(&all, "FifoQueue") == NULL);
    CHECK(kvv_get(&all, "Policy") == NULL);
    CHECK(kvv_get(&all, "KmsDataKeyReusePeriodSeconds") == NULL);
    kvv_free(&all);
    CHECK_INT(queue_default_wait(q), 0);
    queues_free(qs);
}

TEST(create_fifo_defaults)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "f1.fifo", KV({"FifoQueue", "true"}));
    CHECK(q != NULL);
    CHECK_INT(queue_is_fifo(q), 1);
    kvv_t all = {0};
    err_t err;
    CHECK_ST(queue_get_attributes(q, STRS("All"), &all, &err), ST_OK);
    CHECK_INT(all.n, 16);
    CHECK_STR(kvv_get(&all, "FifoQueue"), "true");
    CHECK_STR(kvv_get(&all, "ContentBasedDeduplication"), "false");
    CHECK_STR(kvv_get(&all, "DeduplicationScope"), "queue");
    CHECK_STR(kvv_get(&all, "FifoThroughputLimit"), "perQueue");
    kvv_free(&all);
    /* "True" is accepted and shown in lower case */
    queue_t *q2 = qt_create(qs, "f2.fifo", KV({"FifoQueue", "True"}, {"ContentBasedDeduplication", "True"}));
    CHECK(q2 != NULL);
    CHECK_STR(qt_attr(q2, "ContentBasedDeduplication"), "true");
    queues_free(qs);
}

#define STD_NAME_TEXT "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
#define FIFO_NAME_TEXT                                                                                       \
    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end " \
    "with .fifo suffix and be 1 to 80 in length."

TEST(create_name_rules)
{
    queues_t *qs = qt_engine();
    queue_t *q;
    char n80[81], n81[82], f80[81], f81[82];
    memset(n80, 'a', 80), n80[80] = '\0';
    memset(n81, 'b', 81), n81[81] = '\0';
    memset(f80, 'c', 75), memcpy(f80 + 75, ".fifo", 6);
    memset(f81, 'd', 76), memcpy(f81 + 76, ".fifo", 6);
    CHECK_ERR(queues_create(qs, "", NULL, 0, NULL, 0, &q, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter QueueName.");
    CHECK_ERR(queues_create(qs, n81, NULL, 0, NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE, STD_NAME_TEXT);
    CHECK_ERR(queues_create(qs, "bad name", NULL, 0, NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE, STD_NAME_TEXT);
    CHECK_ERR(queues_create(qs, "bad.name", NULL, 0, NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE, STD_NAME_TEXT);
    /* a standard queue cannot end in .fifo; FifoQueue needs the suffix */
    CHECK_ERR(queues_create(qs, "std.fifo", NULL, 0, NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE, STD_NAME_TEXT);
    CHECK_ERR(queues_create(qs, "nosuffix", KV({"FifoQueue", "true"}), NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE,
              FIFO_NAME_TEXT);
    CHECK_ERR(queues_create(qs, "bad name.fifo", KV({"FifoQueue", "true"}), NULL, 0, &q, ERR),
              ST_INVALID_PARAMETER_VALUE, FIFO_NAME_TEXT);
    CHECK_ERR(queues_create(qs, f81, KV({"FifoQueue", "true"}), NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE,
              FIFO_NAME_TEXT);
    CHECK_ERR(queues_create(qs, ".fifo", KV({"FifoQueue", "true"}), NULL, 0, &q, ERR), ST_INVALID_PARAMETER_VALUE,
              FIFO_NAME_TEXT);
    CHECK_ERR(queues_create(qs, "x", KV({"FifoQueue", "maybe"}), NULL, 0, &q, ERR), ST_INVALID_ATTRIBUTE_VALUE,
              "Invalid value for the parameter FifoQueue.");
    CHECK(qt_create(qs, n80, NULL, 0) != NULL);
    CHECK(qt_create(qs, f80, KV({"FifoQueue", "true"})) != NULL);
    CHECK(qt_create(qs, "A-z_0-9", NULL, 0) != NULL);
    /* names are case-sensitive */
    CHECK(qt_create(qs, "a-z_0-9", NULL, 0) != NULL);
    queues_stats_t s;
    queues_get_stats(qs, &s);
    CHECK_INT(s.queues, 4);
    queues_free(qs);
}

TEST(create_attribute_validation)
{
    queues_t *qs = qt_engine();
    queue_t *q;
    static const struct {
        const char *name, *bad1, *bad2, *good1, *good2;
    } cases[] = {
        {"DelaySeconds", "-1", "901", "0", "900"},
        {"MaximumMessageSize", "1023", "1048577", "1024", "1048576"},
        {"MessageRetentionPeriod", "59", "1209601", "60", "1209600"},
        {"ReceiveMessageWaitTimeSeconds", "-1", "21", "0", "20"},
        {"VisibilityTimeout", "-1", "43201", "0", "43200"},
        {"KmsDataKeyReusePeriodSeconds", "59", "86401", "60", "86400"},
        {"VisibilityTimeout", "abc", "1.5", "7", "8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128], qn[32];
        snprintf(text, sizeof text, "Invalid value for the parameter %s.", cases[i].name);
        CHECK_ERR(queues_create(qs, "v", KV({cases[i].name, cases[i].bad1}), NULL, 0, &q, ERR),
                  ST_INVALID_ATTRIBUTE_VALUE, text);
        CHECK_ERR(queues_create(qs, "v", KV({cases[i].name, cases[i].bad2}), NULL, 0, &q, ERR),
                  ST_INVALID_ATTRIBUTE_VALUE, text);
        CHECK(queues_find(qs, "v") == NULL);
        snprintf(qn, sizeof qn, "ok%zu", 2 * i);
        CHECK((q = qt_create(qs, qn, KV({cases[i].name, cases[i].good1}))) != NULL);
        if (strcmp(cases[i].name, "KmsDataKeyReusePeriodSeconds") != 0)
            CHECK_STR(qt_attr(q, cases[i].name), cases[i].good1);
        snprintf(qn, sizeof qn, "ok%zu", 2 * i + 1);
        CHECK((q = qt_create(qs, qn, KV({cases[i].name, cases[i].good2}))) != NULL);
        if (strcmp(cases[i].name, "KmsDataKeyReusePeriodSeconds") != 0)
            CHECK_STR(qt_attr(q, cases[i].name), cases[i].good2);
    }
    CHECK_ERR(queues_create(qs, "v", KV({"VisibilityTimeout", "5"}, {"Foo", "1"}), NULL, 0, &q, ERR),
              ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute Foo.");
    CHECK_ERR(queues_create(qs, "v", KV({"QueueArn", "x"}), NULL, 0, &q, ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute QueueArn.");
    /* FIFO-only attributes on a standard queue */
    CHECK_ERR(queues_create(qs, "v", KV({"FifoQueue", "false"}), NULL, 0, &q, ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute FifoQueue.");
    CHECK_ERR(queues_create(qs, "v", KV({"ContentBasedDeduplication", "true"}), NULL, 0, &q, ERR),
              ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute ContentBasedDeduplication.");
    CHECK_ERR(queues_create(qs, "v", KV({"DeduplicationScope", "queue"}), NULL, 0, &q, ERR),
              ST_INVALID_ATTRIBUTE_NAME, "You can specify the DeduplicationScope only when FifoQueue is set to true.");
    CHECK_ERR(queues_create(qs, "v", KV({"FifoThroughputLimit", "perQueue"}), NULL, 0, &q, ERR),
              ST_INVALID_ATTRIBUTE_NAME, "You can specify the FifoThroughputLimit only when FifoQueue is set to true.");
    CHECK_ERR(queues_create(qs, "v.fifo", KV({"FifoQueue", "true"}, {"DeduplicationScope", "group"}), NULL, 0, &q, ERR),
              ST_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter DeduplicationScope.");
    CHECK_ERR(queues_create(qs, "v", KV({"KmsMasterKeyId", "alias/k"}, {"SqsManagedSseEnabled", "true"}), NULL, 0, &q,
                            ERR),
              ST_INVALID_ATTRIBUTE_NAME,
              "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or "
              "SQS SSE.");
    CHECK(queues_find(qs, "v") == NULL);
    CHECK(queues_find(qs, "v.fifo") == NULL);
    /* DeduplicationScope=messageGroup is fine without FifoThroughputLimit */
    CHECK(qt_create(qs, "hp.fifo", KV({"FifoQueue", "true"}, {"DeduplicationScope", "messageGroup"})) != NULL);
    queues_free(qs);
}

TEST(create_existing_compares_given_attributes)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"DelaySeconds", "1"}, {"VisibilityTimeout", "10"})), *again = NULL;
    CHECK(q != NULL);
    CHECK(qt_create(qs, "q", NULL, 0) == q);
    CHECK(qt_create(qs, "q", KV({"VisibilityTimeout", "10"})) == q);
    CHECK(qt_create(qs, "q", KV({"MaximumMessageSize", "1048576"})) == q); /* a default that matches */
    CHECK_ERR(queues_create(qs, "q", KV({"VisibilityTimeout", "10"}, {"DelaySeconds", "2"}), NULL, 0, &again, ERR),
              ST_QUEUE_ALREADY_EXISTS,
              "A queue already exists with the same name and a different value for attribute DelaySeconds");
    /* an invalid attribute is reported as such, not as a match */
    CHECK_ERR(queues_create(qs, "q", KV({"DelaySeconds", "1"}, {"VisibilityTimeout", "abc"}), NULL, 0, &again, ERR),
              ST_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter VisibilityTimeout.");
    CHECK_ERR(queues_create(qs, "q", KV({"Foo", "1"}), NULL, 0, &again, ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute Foo.");
    CHECK(again == NULL);
    /* after SetQueueAttributes the new value matches and the old one differs */
    err_t err;
    CHECK_ST(queue_set_attributes(q, KV({"DelaySeconds", "2"}), &err), ST_OK);
    CHECK(qt_create(qs, "q", KV({"DelaySeconds", "2"})) == q);
    CHECK_ERR(queues_create(qs, "q", KV({"DelaySeconds", "1"}), NULL, 0, &again, ERR), ST_QUEUE_ALREADY_EXISTS,
              "A queue already exists with the same name and a different value for attribute DelaySeconds");

    queue_t *f = qt_create(qs, "f.fifo", KV({"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}));
    CHECK(f != NULL);
    CHECK(qt_create(qs, "f.fifo", KV({"FifoQueue", "true"})) == f);
    CHECK_ERR(queues_create(qs, "f.fifo", KV({"FifoQueue", "true"}, {"ContentBasedDeduplication", "false"}), NULL, 0,
                            &again, ERR),
              ST_QUEUE_ALREADY_EXISTS,
              "A queue already exists with the same name and a different value for attribute "
              "ContentBasedDeduplication");
    queues_free(qs);
}

TEST(create_after_delete_waits_60_seconds)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "gone", NULL, 0), *q2 = NULL;
    err_t err;
    CHECK(q != NULL);
    CHECK_ST(qt_send(q, "m", NULL, NULL, NULL), ST_OK);
    CHECK_ST(queues_delete(qs, q, &err), ST_OK);
    CHECK(queues_find(qs, "gone") == NULL);
    qt_advance(qs, 59999);
    CHECK_ERR(queues_create(qs, "gone", NULL, 0, NULL, 0, &q2, ERR), ST_QUEUE_DELETED_RECENTLY,
              "You must wait 60 seconds after deleting a queue before you can create another with the same name.");
    CHECK(qt_create(qs, "other", NULL, 0) != NULL);
    qt_advance(qs, 1);
    q2 = qt_create(qs, "gone", NULL, 0);
    CHECK(q2 != NULL);
    CHECK_STR(qt_counts(q2), "0/0/0"); /* nothing of the old queue survives */
    /* the sweep forgets old names; deleting again restarts the wait */
    qt_advance(qs, 1000);
    CHECK_ST(queues_delete(qs, q2, &err), ST_OK);
    CHECK_ERR(queues_create(qs, "gone", NULL, 0, NULL, 0, &q2, ERR), ST_QUEUE_DELETED_RECENTLY,
              "You must wait 60 seconds after deleting a queue before you can create another with the same name.");
    queues_free(qs);
}

TEST(list_queues_paging)
{
    queues_t *qs = qt_engine();
    char name[32];
    for (int i = 9; i >= 0; i--) {
        snprintf(name, sizeof name, "queue-%d", i);
        CHECK(qt_create(qs, name, NULL, 0) != NULL);
    }
    CHECK(qt_create(qs, "other", NULL, 0) != NULL);
    strv_t names = {0};
    char *next = NULL;
    err_t err;
    CHECK_ST(queues_list(qs, "queue-", 0, NULL, &names, &next, &err), ST_OK);
    CHECK_INT(names.n, 10);
    CHECK(next == NULL);
    strv_free(&names);
    CHECK_ST(queues_list(qs, "queue-", 2, NULL, &names, &next, &err), ST_OK);
    CHECK_INT(names.n, 2);
    CHECK_STR(names.v[0], "queue-0");
    CHECK_STR(names.v[1], "queue-1");
    CHECK(next != NULL);
    strv_free(&names);
    char *tok = next;
    CHECK_ST(queues_list(qs, "queue-", 10, tok, &names, &next, &err), ST_OK);
    free(tok);
    CHECK_INT(names.n, 8);
    CHECK_STR(names.v[0], "queue-2");
    CHECK_STR(names.v[7], "queue-9");
    CHECK(next == NULL);
    strv_free(&names);
    CHECK_ST(queues_list(qs, NULL, 0, NULL, &names, &next, &err), ST_OK);
    CHECK_INT(names.n, 11);
    strv_free(&names);
    CHECK_ERR(queues_list(qs, NULL, 1001, NULL, &names, &next, ERR), ST_INVALID_PARAMETER_VALUE,
              "Value 1001 for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and "
              "1000.");
    queues_free(qs);
}

/* ==== attributes ==== */

TEST(get_attributes_by_name)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", KV({"VisibilityTimeout", "20"}));
    kvv_t out = {0};
    err_t err;
    CHECK_ST(queue_get_attributes(q, STRS("VisibilityTimeout", "QueueArn"), &out, &err), ST_OK);
    CHECK_INT(out.n, 2);
    CHECK_STR(kvv_get(&out, "VisibilityTimeout"), "20");
    CHECK_STR(kvv_get(&out, "QueueArn"), QT_ARN("q"));
    kvv_free(&out);
    /* set but absent attributes are omitted */
    CHECK_ST(queue_get_attributes(q, STRS("Policy", "RedrivePolicy", "FifoQueue"), &out, &err), ST_OK);
    CHECK_INT(out.n, 0);
    CHECK_ST(queue_get_attributes(q, NULL, 0, &out, &err), ST_OK);
    CHECK_INT(out.n, 0);
    CHECK_ERR(queue_get_attributes(q, STRS("VisibilityTimeout", "Foobar"), &out, ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute Foobar.");
    CHECK_INT(out.n, 0);
    queues_free(qs);
}

TEST(set_attributes_updates_and_is_atomic)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    err_t err;
    qt_advance(qs, 5000);
    CHECK_ST(queue_set_attributes(q, KV({"MaximumMessageSize", "2048"}, {"VisibilityTimeout", "69"},
                                        {"DelaySeconds", "420"}),
                                  &err),
             ST_OK);
    CHECK_STR(qt_attr(q, "MaximumMessageSize"), "2048");
    CHECK_STR(qt_attr(q, "VisibilityTimeout"), "69");
    CHECK_STR(qt_attr(q, "DelaySeconds"), "420");
    CHECK_STR(qt_attr(q, "LastModifiedTimestamp"), "1700000005");
    CHECK_STR(qt_attr(q, "CreatedTimestamp"), "1700000000");
    /* a failing set changes nothing, whatever its position */
    qt_advance(qs, 5000);
    CHECK_ERR(queue_set_attributes(q, KV({"VisibilityTimeout", "60"}, {"DelaySeconds", "901"}), ERR),
              ST_INVALID_ATTRIBUTE_VALUE, "Invalid value for the parameter DelaySeconds.");
    CHECK_ERR(queue_set_attributes(q, KV({"VisibilityTimeout", "60"}, {"Nope", "1"}), ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute Nope.");
    CHECK_ERR(queue_set_attributes(q, KV({"VisibilityTimeout", "60"}, {"KmsMasterKeyId", "alias/x"},
                                         {"RedrivePolicy", "{\"deadLetterTargetArn\":\"" QT_ARN("none")
                                                           "\",\"maxReceiveCount\":3}"}),
                                   ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value {\"deadLetterTargetArn\":\"" QT_ARN("none") "\",\"maxReceiveCount\":3} for parameter "
              "RedrivePolicy is invalid. Reason: Dead letter target does not exist.");
    CHECK_ERR(queue_set_attributes(q, KV({"VisibilityTimeout", "60"}, {"ApproximateNumberOfMessages", "1"}), ERR),
              ST_INVALID_ATTRIBUTE_NAME, "Unknown Attribute ApproximateNumberOfMessages.");
    CHECK_STR(qt_attr(q, "VisibilityTimeout"), "69");
    CHECK_STR(qt_attr(q, "DelaySeconds"), "420");
    CHECK(qt_attr(q, "KmsMasterKeyId") == NULL);
    CHECK_STR(qt_attr(q, "SqsManagedSseEnabled"), "true");
    CHECK(qt_attr(q, "RedrivePolicy") == NULL);
    CHECK_STR(qt_attr(q, "LastModifiedTimestamp"), "1700000005");
    queues_free(qs);
}

TEST(set_fifo_queue_flag)
{
    queues_t *qs = qt_engine();
    queue_t *s = qt_create(qs, "s", NULL, 0);
    queue_t *f = qt_create(qs, "f.fifo", KV({"FifoQueue", "true"}));
    err_t err;
    CHECK_ERR(queue_set_attributes(s, KV({"FifoQueue", "true"}), ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute FifoQueue.");
    CHECK_ERR(queue_set_attributes(s, KV({"FifoQueue", "false"}), ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute FifoQueue.");
    CHECK_ST(queue_set_attributes(f, KV({"FifoQueue", "true"}), &err), ST_OK);
    CHECK_ERR(queue_set_attributes(f, KV({"FifoQueue", "false"}), ERR), ST_INVALID_ATTRIBUTE_VALUE,
              "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.");
    CHECK_STR(qt_attr(f, "FifoQueue"), "true");
    CHECK_ST(queue_set_attributes(f, KV({"ContentBasedDeduplication", "true"}), &err), ST_OK);
    CHECK_STR(qt_attr(f, "ContentBasedDeduplication"), "true");
    CHECK_ERR(queue_set_attributes(s, KV({"ContentBasedDeduplication", "true"}), ERR), ST_INVALID_ATTRIBUTE_NAME,
              "Unknown Attribute ContentBasedDeduplication.");
    queues_free(qs);
}

TEST(set_encryption_attributes)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    err_t err;
    CHECK_ST(queue_set_attributes(q, KV({"KmsMasterKeyId", "alias/aws/sqs"}), &err), ST_OK);
    CHECK_STR(qt_attr(q, "KmsMasterKeyId"), "alias/aws/sqs");
    CHECK_STR(qt_attr(q, "KmsDataKeyReusePeriodSeconds"), "300");
    CHECK_STR(qt_attr(q, "SqsManagedSseEnabled"), "false");
    CHECK_ERR(queue_set_attributes(q, KV({"KmsMasterKeyId", "alias/other"}, {"SqsManagedSseEnabled", "true"}), ERR),
              ST_INVALID_ATTRIBUTE_NAME,
              "You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or "
              "SQS SSE.");
    CHECK_STR(qt_attr(q, "KmsMasterKeyId"), "alias/aws/sqs");
    /* back to the defaults: the KMS attributes disappear */
    CHECK_ST(queue_set_attributes(q, KV({"KmsMasterKeyId", ""}, {"KmsDataKeyReusePeriodSeconds", "300"}), &err),
             ST_OK);
    CHECK(qt_attr(q, "KmsMasterKeyId") == NULL);
    CHECK(qt_attr(q, "KmsDataKeyReusePeriodSeconds") == NULL);
    CHECK_STR(qt_attr(q, "SqsManagedSseEnabled"), "false");
    CHECK_ST(queue_set_attributes(q, KV({"SqsManagedSseEnabled", "true"}), &err), ST_OK);
    CHECK_STR(qt_attr(q, "SqsManagedSseEnabled"), "true");
    queues_free(qs);
}

#define RP(arn, n) "{\"deadLetterTargetArn\":\"" arn "\",\"maxReceiveCount\":" n "}"

TEST(redrive_policy_rules)
{
    queues_t *qs = qt_engine();
    queue_t *dlq = qt_create(qs, "dlq", NULL, 0);
    queue_t *fdlq = qt_create(qs, "dlq.fifo", KV({"FifoQueue", "true"}));
    queue_t *q = qt_create(qs, "src", NULL, 0);
    err_t err;
    CHECK(dlq && fdlq && q);
    /* maxReceiveCount as a string, keys in another order, spaces */
    const char *client = "{\"maxReceiveCount\": \"5\", \"deadLetterTargetArn\": \"" QT_ARN("dlq") "\"}";
    CHECK_ST(queue_set_attributes(q, KV({"RedrivePolicy", client}), &err), ST_OK);
    CHECK_STR(qt_attr(q, "RedrivePolicy"), "{\"deadLetterTargetArn\":\"" QT_ARN("dlq") "\",\"maxReceiveCount\":5}");
    /* the stored (normalised) form and the client's form both match on CreateQueue */
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", client})) == q);
    CHECK(qt_create(qs, "src", KV({"RedrivePolicy", RP(QT_ARN("dlq"), "5")})) == q);
    strv_t names = {0};
    char *next = NULL;
    CHECK_ST(queues_dead_letter_sources(qs, dlq, 0, NULL, &names, &next, &err), ST_OK);
    CHECK_INT(names.n, 1);
    CHECK_STR(names.v[0], "src");
    strv_free(&names);
    CHECK_ST(queue_set_attributes(q, KV({"RedrivePolicy", ""}), &err), ST_OK);
    CHECK(qt_attr(q, "RedrivePolicy") == NULL);
    CHECK_ST(queue_set_attributes(q, KV({"RedrivePolicy", ""}), &err), ST_OK);
    CHECK_ST(queues_dead_letter_sources(qs, dlq, 0, NULL, &names, &next, &err), ST_OK);
    CHECK_INT(names.n, 0);

    queue_t *x;
    const char *dummy = "{\"deadLetterTargetArn\": \"dummy\", \"maxReceiveCount\": 42}";
    CHECK_ERR(queues_create(qs, "x", KV({"RedrivePolicy", dummy}), NULL, 0, &x, ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value {\"deadLetterTargetArn\": \"dummy\", \"maxReceiveCount\": 42} for parameter RedrivePolicy is "
              "invalid. Reason: Invalid value for deadLetterTargetArn.");
    CHECK_ERR(queue_set_attributes(q, KV({"RedrivePolicy", "{}"}), ERR), ST_INVALID_PARAMETER_VALUE,
              "Value {} for parameter RedrivePolicy is invalid. Reason: Redrive policy does not contain mandatory "
              "attribute: maxReceiveCount.");
    CHECK_ERR(queue_set_attributes(q, KV({"RedrivePolicy", RP(QT_ARN("dlq.fifo"), "1")}), ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value {\"deadLetterTargetArn\":\"" QT_ARN("dlq.fifo") "\",\"maxReceiveCount\":1} for parameter "
              "RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.");
    CHECK_ERR(queue_set_attributes(q, KV({"RedrivePolicy", RP(QT_ARN("dlq"), "0")}), ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value {\"deadLetterTargetArn\":\"" QT_ARN("dlq") "\",\"maxReceiveCount\":0} for parameter "
              "RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: 0, valid values are from 1 to "
              "1000 both inclusive.");
    CHECK(qt_attr(q, "RedrivePolicy") == NULL);
    queues_free(qs);
}

/* ==== tags ==== */

TEST(tags_and_limits)
{
    queues_t *qs = qt_engine();
    queue_t *q = NULL;
    err_t err;
    CHECK_ST(queues_create(qs, "q", NULL, 0, KV({"tag1", "v1"}, {"tag2", "v2"}), &q, &err), ST_OK);
    CHECK_ST(queue_tag(q, KV({"tag3", ""}, {"tag1", "new"}), &err), ST_OK);
    kvv_t t = {0};
    queue_list_tags(q, &t);
    CHECK_INT(t.n, 3);
    CHECK_STR(kvv_get(&t, "tag1"), "new");
    CHECK_STR(kvv_get(&t, "tag2"), "v2");
    CHECK_STR(kvv_get(&t, "tag3"), "");
    kvv_free(&t);
    CHECK_ST(queue_tag(q, KV({"TAG1", "upper"}), &err), ST_OK); /* case-sensitive */
    CHECK_ST(queue_untag(q, STRS("tag1", "tag3", "missing"), &err), ST_OK);
    queue_list_tags(q, &t);
    CHECK_INT(t.n, 2);
    CHECK_STR(kvv_get(&t, "tag2"), "v2");
    CHECK_STR(kvv_get(&t, "TAG1"), "upper");
    kvv_free(&t);
    CHECK_ERR(queue_tag(q, NULL, 0, ERR), ST_MISSING_PARAMETER, "The request must contain the parameter Tags.");
    CHECK_ERR(queue_untag(q, NULL, 0, ERR), ST_MISSING_PARAMETER, "The request must contain the parameter TagKeys.");

    /* 50 tags at most, counting the ones the queue has */
    kv_t many[49];
    char keys[49][16];
    for (int i = 0; i < 49; i++) {
        snprintf(keys[i], sizeof keys[i], "k%02d", i);
        many[i] = (kv_t){keys[i], "v"};
    }
    CHECK_ERR(queue_tag(q, many, 49, ERR), ST_INVALID_PARAMETER_VALUE, "Too many tags added for queue.");
    CHECK_ST(queue_tag(q, many, 48, &err), ST_OK);
    queue_list_tags(q, &t);
    CHECK_INT(t.n, 50);
    kvv_free(&t);
    CHECK_ERR(queue_tag(q, KV({"one-more", "v"}), ERR), ST_INVALID_PARAMETER_VALUE, "Too many tags added for queue.");
    CHECK_ST(queue_tag(q, KV({"k00", "changed"}), &err), ST_OK); /* overwriting adds nothing */

    char k129[130], v257[258], v256[257];
    memset(k129, 'k', 129), k129[129] = '\0';
    memset(v257, 'v', 257), v257[257] = '\0';
    memset(v256, 'v', 256), v256[256] = '\0';
    CHECK_ERR(queue_tag(q, KV({k129, "v"}), ERR), ST_INVALID_PARAMETER_VALUE,
              "Tag keys must be between 1 and 128 characters in length.");
    CHECK_ERR(queue_tag(q, KV({"", "v"}), ERR), ST_INVALID_PARAMETER_VALUE,
              "Tag keys must be between 1 and 128 characters in length.");
    /* values are checked on keys the queue already has, too */
    CHECK_ERR(queue_tag(q, KV({"k01", v257}), ERR), ST_INVALID_PARAMETER_VALUE,
              "Tag values must be between 0 and 256 characters in length.");
    CHECK_ERR(queue_tag(q, KV({"k02", "ok"}, {"aws:x", "v"}), ERR), ST_INVALID_PARAMETER_VALUE,
              "Tag keys cannot start with aws:.");
    CHECK_ST(queue_tag(q, KV({"k01", v256}), &err), ST_OK);
    queue_list_tags(q, &t);
    CHECK_INT(t.n, 50);
    CHECK_STR(kvv_get(&t, "k00"), "changed");
    CHECK_STR(kvv_get(&t, "k01"), v256);
    CHECK_STR(kvv_get(&t, "k02"), "v"); /* the refused call changed nothing */
    kvv_free(&t);
    queue_t *q2;
    CHECK_ERR(queues_create(qs, "q2", NULL, 0, KV({"aws:k", "v"}), &q2, ERR), ST_INVALID_PARAMETER_VALUE,
              "Tag keys cannot start with aws:.");
    CHECK(queues_find(qs, "q2") == NULL);
    queues_free(qs);
}

/* ==== permissions ==== */

#define POLICY_HEAD                                                                           \
    "{\"Version\":\"2008-10-17\",\"Id\":\"" QT_ARN("q") "/SQSDefaultPolicy\",\"Statement\":["
#define STMT1                                                                                  \
    "{\"Sid\":\"crossaccountpermission\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":"        \
    "\"arn:aws:iam::111111111111:root\"},\"Action\":\"SQS:ReceiveMessage\",\"Resource\":\"" \
    QT_ARN("q") "\"}"
#define STMT2                                                                                           \
    "{\"Sid\":\"second\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam::111111111111:root\"," \
    "\"arn:aws:iam::222222222222:root\"]},\"Action\":[\"SQS:SendMessage\",\"SQS:DeleteMessage\"],"       \
    "\"Resource\":\"" QT_ARN("q") "\"}"

TEST(permissions_edit_the_policy)
{
    queues_t *qs = qt_engine();
    queue_t *q = qt_create(qs, "q", NULL, 0);
    err_t err;
    CHECK_ST(queue_add_permission(q, "crossaccountpermission", STRS("111111111111"), STRS("ReceiveMessage"), &err),
             ST_OK);
    CHECK_STR(qt_attr(q, "Policy"), POLICY_HEAD STMT1 "]}");
    CHECK_ERR(queue_add_permission(q, "crossaccountpermission", STRS("222222222222"), STRS("SendMessage"), ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value crossaccountpermission for parameter Label is invalid. Reason: Already exists.");
    CHECK_ST(queue_add_permission(q, "second", STRS("111111111111", "222222222222"),
                                  STRS("SendMessage", "DeleteMessage"), &err),
             ST_OK);
    CHECK_STR(qt_attr(q, "Policy"), POLICY_HEAD STMT1 "," STMT2 "]}");
    CHECK_ERR(queue_remove_permission(q, "crossaccountpermission2", ERR), ST_INVALID_PARAMETER_VALUE,
              "Value crossaccountpermission2 for parameter Label is invalid. Reason: can't find label.");
    CHECK_ST(queue_remove_permission(q, "crossaccountpermission", &err), ST_OK);
    CHECK_STR(qt_attr(q, "Policy"), POLICY_HEAD STMT2 "]}");
    CHECK_ST(queue_remove_permission(q, "second", &err), ST_OK);
    CHECK(qt_attr(q, "Policy") == NULL);

    CHECK_ERR(queue_add_permission(q, "l", STRS("111111111111"), STRS("ChangeMessageVisibilityBatch"), ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value SQS:ChangeMessageVisibilityBatch for parameter ActionName is invalid. Reason: Please refer to the "
              "appropriate WSDL for a list of valid actions.");
    CHECK_ERR(queue_add_permission(q, "l", STRS("111111111111"),
                                   STRS("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                                        "GetQueueAttributes", "GetQueueUrl", "PurgeQueue", "*"),
                                   ERR),
              ST_OVER_LIMIT, "8 Actions were found, maximum allowed is 7.");
    CHECK_ERR(queue_add_permission(q, "l", STRS("*"), STRS("SendMessage"), ERR), ST_INVALID_PARAMETER_VALUE,
              "Value [*] for parameter PrincipalId is invalid. Reason: Unable to verify.");
    CHECK_ERR(queue_add_permission(q, NULL, STRS("111111111111"), STRS("SendMessage"), ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter Label.");
    CHECK_ERR(queue_add_permission(q, "bad label", STRS("111111111111"), STRS("SendMessage"), ERR),
              ST_INVALID_PARAMETER_VALUE,
              "Value bad label for parameter Label is invalid. Reason: Can only include alphanumeric characters, "
              "hyphens, or underscores. 1 to 80 in length.");
    CHECK_ERR(queue_add_permission(q, "l", NULL, 0, STRS("SendMessage"), ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter AWSAccountIds.");
    CHECK_ERR(queue_add_permission(q, "l", STRS("111111111111"), NULL, 0, ERR), ST_MISSING_PARAMETER,
              "The request must contain the parameter Actions.");
    CHECK(qt_attr(q, "Policy") == NULL);
    CHECK_ST(queue_add_permission(q, "l", STRS("111111111111"),
                                  STRS("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility",
                                       "GetQueueAttributes", "GetQueueUrl", "*"),
                                  &err),
             ST_OK);
    /* a Policy set directly is extended, and "" removes it */
    CHECK_ST(queue_set_attributes(q, KV({"Policy", ""}), &err), ST_OK);
    CHECK(qt_attr(q, "Policy") == NULL);
    queues_free(qs);
}
