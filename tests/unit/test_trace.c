/* Unit tests for util/trace: the journal's keys, ring, lookup and bounds. */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "util/trace.h"

TEST(key_of_a_header)
{
    char k[TRACE_ID_MAX + 1];
    CHECK_STR(trace_key("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", k),
              "1-5759e988-bd862e3fe1be46a994272793");
    CHECK_STR(trace_key("Sampled=1; Root=1-abc;Parent=x", k), "1-abc");
    CHECK_STR(trace_key("0b5a5f9e-1c4d-4f6e-9a0b-3f3c2d1e0f00", k), "0b5a5f9e-1c4d-4f6e-9a0b-3f3c2d1e0f00");
    CHECK_STR(trace_key("NotRoot=zz", k), "NotRoot=zz"); /* not the Root field: the header is its own id */
    CHECK(trace_key(NULL, k) == NULL);
    CHECK(trace_key("", k) == NULL);
    CHECK(trace_key("Root=;Sampled=1", k) == NULL);
    char longer[300];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    CHECK_INT(strlen(trace_key(longer, k)), TRACE_ID_MAX);
}

TEST(lookup_in_time_order)
{
    trace_init(16);
    trace_hop_at("t1", TRACE_QUEUE_SENT, "q", "m1", 0, 3000);
    trace_hop_at("t2", TRACE_QUEUE_SENT, "q", "other", 0, 1000);
    trace_hop_at("t1", TRACE_GATEWAY_ACCEPTED, "POST /x", NULL, 0, 1000);
    trace_hop_at("t1", TRACE_FUNCTION_FINISHED, "fn", NULL, 250, 3000); /* same time: appending order */
    trace_hop(NULL, TRACE_QUEUE_SENT, "q", NULL, 0);                     /* untraced: nothing */
    trace_hop("", TRACE_QUEUE_SENT, "q", NULL, 0);
    trace_hop_header("Root=t1;Sampled=1", TRACE_QUEUE_DELETED, "q", NULL, 0);
    trace_hop_t h[8];
    CHECK_INT(trace_count(), 5);
    CHECK_INT(trace_lookup("t1", h, 8), 4);
    CHECK_INT(h[0].kind, TRACE_GATEWAY_ACCEPTED);
    CHECK_INT(h[1].kind, TRACE_QUEUE_SENT);
    CHECK_STR(h[1].detail, "m1");
    CHECK_INT(h[2].kind, TRACE_FUNCTION_FINISHED);
    CHECK_INT(h[2].dur_us, 250);
    CHECK_INT(h[3].kind, TRACE_QUEUE_DELETED);
    CHECK_STR(h[3].resource, "q");
    CHECK_INT(trace_lookup("Root=t2", h, 8), 1); /* looked up by a header as well */
    CHECK_INT(trace_lookup("t3", h, 8), 0);
    CHECK_INT(trace_lookup("t1", h, 2), 4); /* counts all, copies two */
    CHECK_INT(h[0].kind, TRACE_GATEWAY_ACCEPTED);
    trace_shutdown();
}

TEST(ring_wraps_and_forgets_the_oldest)
{
    trace_init(4);
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "t%d", i % 3);
        trace_hop_at(id, TRACE_QUEUE_SENT, "q", NULL, 0, (uint64_t)(100 + i));
    }
    /* the last four: t0 at 106 and 109, t1 at 107, t2 at 108 */
    trace_hop_t h[8];
    CHECK_INT(trace_count(), 4);
    CHECK_INT(trace_capacity(), 4);
    CHECK_INT(trace_lookup("t0", h, 8), 2);
    CHECK_INT(h[0].ts_us, 106);
    CHECK_INT(h[1].ts_us, 109);
    CHECK_INT(trace_lookup("t1", h, 8), 1);
    CHECK_INT(h[0].ts_us, 107);
    trace_shutdown();
}

TEST(bounds_cut_long_strings_and_no_journal_records_nothing)
{
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    trace_init(2);
    trace_hop("t", TRACE_TOPIC_PUBLISHED, big, big, 0);
    trace_hop_t h[2];
    CHECK_INT(trace_lookup("t", h, 2), 1);
    CHECK_INT(strlen(h[0].resource), TRACE_RESOURCE_MAX);
    CHECK_INT(strlen(h[0].detail), TRACE_DETAIL_MAX);
    trace_init(0);
    trace_hop("t", TRACE_QUEUE_SENT, "q", NULL, 0);
    CHECK_INT(trace_lookup("t", h, 2), 0);
    CHECK_INT(trace_count(), 0);
    trace_shutdown();
}

TEST(json_answer)
{
    trace_init(8);
    trace_hop_at("r\"1", TRACE_GATEWAY_ACCEPTED, "POST /calc", "route", 0, 1700000000123456ull);
    buf_t b = BUF_INIT;
    trace_write_json("r\"1", &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "\"traceId\":\"r\\\"1\"") != NULL);
    CHECK(strstr(b.data, "\"kind\":\"gateway.accepted\"") != NULL);
    CHECK(strstr(b.data, "\"timeUs\":1700000000123456") != NULL);
    CHECK(strstr(b.data, "\"timestamp\":\"2023-11-14T22:13:20.123Z\"") != NULL);
    CHECK(strstr(b.data, "\"journalEntries\":8") != NULL);
    buf_free(&b);
    trace_shutdown();
}

TEST(message_key_is_the_header_else_the_message_id)
{
    char k[TRACE_ID_MAX + 1];
    CHECK_STR(trace_msg_key("Root=1-abc;Sampled=1", "m-1", k), "1-abc");
    CHECK_STR(trace_msg_key(NULL, "m-1", k), "m-1");
    CHECK_STR(trace_msg_key("", "m-1", k), "m-1");
    CHECK_STR(trace_msg_key(NULL, NULL, k), "");
    trace_init(4);
    CHECK(trace_untraced());
    trace_set_untraced(0); /* trace.messages: traced */
    CHECK_STR(trace_msg_key(NULL, "m-1", k), "");
    CHECK_STR(trace_msg_key("Root=1-abc", "m-1", k), "1-abc");
    trace_hop_msg(NULL, "m-1", TRACE_QUEUE_SENT, "q", NULL, 0);
    CHECK_INT(trace_count(), 0);
    trace_init(4); /* a new journal starts with all */
    CHECK(trace_untraced());
    trace_shutdown();
}

/* A journey that moves to a new message is found from its first id: links
 * are followed transitively to the hops appended after them, a loop of
 * links ends, and a link set after the fact (trace_set_link) counts while
 * the ring holds that hop. */
TEST(lookup_follows_links)
{
    trace_init(32);
    trace_hop_at("pub", TRACE_TOPIC_PUBLISHED, "t", NULL, 0, 100);
    uint64_t seq = trace_hop_link("pub", TRACE_SUB_DELIVERED, "q1", "sqs", NULL);
    CHECK(seq != 0);
    trace_hop_at("m1", TRACE_QUEUE_SENT, "q1", NULL, 0, 50); /* an earlier time: listed first */
    trace_set_link(seq, "m1");
    trace_hop_link("m1", TRACE_DESTINATION_SENT, "q2", NULL, "m2");
    trace_hop_link("m2", TRACE_QUEUE_SENT, "q2", NULL, "pub"); /* a loop back: visited once */
    trace_hop_at("pub", TRACE_QUEUE_DELETED, "q1", NULL, 0, 0);
    trace_hop_at("other", TRACE_QUEUE_SENT, "q3", NULL, 0, 10);
    trace_hop_t h[16];
    CHECK_INT(trace_lookup("pub", h, 16), 6);
    CHECK_STR(h[0].id, "m1");
    CHECK_INT(h[0].ts_us, 50);
    CHECK_STR(h[1].id, "pub");
    CHECK_STR(h[2].link, "m1");
    /* from the middle: what came after, the loop's hop of pub included, not pub's start */
    CHECK_INT(trace_lookup("m1", h, 16), 4);
    CHECK_INT(trace_lookup("m2", h, 16), 2);
    CHECK_INT(trace_lookup("other", h, 16), 1);
    CHECK_INT(trace_lookup("pub", h, 2), 6); /* cut: the first two appended are kept */
    CHECK_INT(h[0].kind, TRACE_TOPIC_PUBLISHED);
    CHECK_INT(h[1].kind, TRACE_SUB_DELIVERED);
    buf_t b = BUF_INIT;
    trace_write_json("pub", &b);
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "\"traceId\":\"m1\",\"link\":\"m2\"") != NULL);
    CHECK(strstr(b.data, "\"truncated\":false") != NULL);
    buf_free(&b);
    trace_shutdown();
    trace_init(2); /* a link or an amendment once its hop was overwritten goes nowhere */
    seq = trace_hop_link("a", TRACE_SUB_DELIVERED, "q", NULL, NULL);
    trace_hop("b", TRACE_QUEUE_SENT, "q", NULL, 0);
    trace_hop("c", TRACE_QUEUE_SENT, "q", NULL, 0);
    trace_set_link(seq, "c");
    trace_amend(seq, TRACE_SUB_FAILED, "x");
    CHECK_INT(trace_lookup("b", h, 16), 1);
    CHECK_STR(h[0].link, "");
    CHECK_INT(trace_lookup("c", h, 16), 1);
    CHECK_STR(h[0].link, "");
    CHECK_INT(h[0].kind, TRACE_QUEUE_SENT);
    trace_shutdown();
}

TEST(amend_changes_a_held_hop)
{
    trace_init(8);
    uint64_t seq = trace_hop_link("a", TRACE_DESTINATION_SENT, "q", NULL, NULL);
    trace_amend(seq, TRACE_DESTINATION_FAILED, "no such queue");
    trace_hop_t h[2];
    CHECK_INT(trace_lookup("a", h, 2), 1);
    CHECK_INT(h[0].kind, TRACE_DESTINATION_FAILED);
    CHECK_STR(h[0].detail, "no such queue");
    CHECK_INT(h[0].seq, seq);
    trace_amend(0, TRACE_QUEUE_SENT, NULL); /* nothing recorded: nothing to amend */
    trace_shutdown();
}

TEST(links_followed_are_bounded)
{
    trace_init(512);
    char id[16], next[16];
    for (int i = 0; i < 200; i++) { /* a chain of 200 ids */
        snprintf(id, sizeof id, "c%d", i);
        snprintf(next, sizeof next, "c%d", i + 1);
        trace_hop_link(id, TRACE_QUEUE_SENT, "q", NULL, next);
    }
    trace_hop_t h[256];
    CHECK_INT(trace_lookup("c0", h, 256), TRACE_LINKS_FOLLOWED);
    buf_t b = BUF_INIT;
    trace_write_json("c0", &b); /* links left unfollowed: the answer says it is cut */
    buf_putc(&b, '\0');
    CHECK(strstr(b.data, "\"truncated\":true") != NULL);
    buf_free(&b);
    trace_shutdown();
}

TEST(hop_once_records_a_repeat_once)
{
    trace_init(16);
    for (int i = 0; i < 5; i++)
        trace_hop_once("r1", TRACE_GATEWAY_RESULT, "/x", "SUCCEEDED");
    trace_hop_once("r1", TRACE_GATEWAY_ACCEPTED, "/x", NULL); /* another kind */
    trace_hop_once("r2", TRACE_GATEWAY_RESULT, "/x", "FAILED");
    trace_hop_t h[8];
    CHECK_INT(trace_lookup("r1", h, 8), 2);
    CHECK_INT(trace_lookup("r2", h, 8), 1);
    trace_init(16); /* a new journal forgets what was recorded once */
    trace_hop_once("r1", TRACE_GATEWAY_RESULT, "/x", "SUCCEEDED");
    CHECK_INT(trace_lookup("r1", h, 8), 1);
    trace_shutdown();
}
