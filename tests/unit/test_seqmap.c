/* Unit tests for util/seqmap. */
#include <stdint.h>

#include "harness.h"
#include "util/seqmap.h"

static void *val(uint64_t k)
{
    return (void *)(uintptr_t)(k * 2 + 1);
}

TEST(put_get_del_in_order)
{
    seqmap_t m;
    seqmap_init(&m);
    for (uint64_t k = 1; k <= 5000; k++)
        CHECK(seqmap_put(&m, k, val(k)) == NULL);
    CHECK_INT(m.n, 5000);
    CHECK(seqmap_get(&m, 0) == NULL);
    CHECK(seqmap_get(&m, 4321) == val(4321));
    CHECK(seqmap_get(&m, 5001) == NULL);
    CHECK(seqmap_put(&m, 10, val(99)) == val(10)); /* replace keeps the count */
    CHECK_INT(m.n, 5000);
    for (uint64_t k = 1; k <= 4999; k++)
        CHECK(seqmap_del(&m, k) != NULL);
    CHECK(seqmap_del(&m, 3) == NULL);
    CHECK_INT(m.n, 1);
    CHECK_INT(m.len, 1); /* only the page of 5000 is left */
    CHECK(seqmap_get(&m, 5000) == val(5000));
    seqmap_del(&m, 5000);
    CHECK_INT(m.len, 0);
    seqmap_free(&m);
}

TEST(straggler_keeps_one_page_and_order)
{
    seqmap_t m;
    seqmap_init(&m);
    seqmap_put(&m, 7, val(7));
    for (uint64_t k = 100000; k < 100100; k++)
        seqmap_put(&m, k, val(k));
    uint64_t key = 0, n = 0, last = 0;
    void *v;
    while (seqmap_next(&m, &key, &v)) {
        CHECK(v == val(key));
        CHECK(key > last);
        last = key;
        n++;
    }
    CHECK_INT(n, 101);
    seqmap_del(&m, 7);
    CHECK_INT(m.first, 100000 / SEQMAP_PAGE); /* the directory moved past the gap */
    seqmap_free(&m);
}

TEST(keys_below_the_first_page_grow_the_front)
{
    seqmap_t m;
    seqmap_init(&m);
    seqmap_put(&m, 50000, val(50000));
    seqmap_put(&m, 3, val(3));
    seqmap_put(&m, 1025, val(1025));
    CHECK(seqmap_get(&m, 3) == val(3));
    CHECK(seqmap_get(&m, 1025) == val(1025));
    CHECK(seqmap_get(&m, 50000) == val(50000));
    uint64_t key = 0;
    void *v;
    CHECK(seqmap_next(&m, &key, &v) && key == 3);
    CHECK(seqmap_next(&m, &key, &v) && key == 1025);
    CHECK(seqmap_next(&m, &key, &v) && key == 50000);
    CHECK(!seqmap_next(&m, &key, &v));
    seqmap_free(&m);
}
