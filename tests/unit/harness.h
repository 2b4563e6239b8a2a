/*
 * harness — the unit-test harness. A test file defines TEST(name) blocks;
 * each registers itself at load time and runs in a fresh temporary
 * directory (its cwd), which is removed when it passes. CHECK* macros record
 * a failure with file:line and return from the test.
 *   ./build/tests/test_x            run all tests in the file
 *   ./build/tests/test_x name ...   run only the named tests
 */
#ifndef SLUICE_HARNESS_H
#define SLUICE_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_fn)(void);
void harness_register(const char *name, test_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
extern int harness_failed;
/* <repo>/rel for a test binary at <repo>/<build>/tests/test_x (tests run in
 * a temporary directory); out (n bytes) is returned, "" when too long. */
const char *harness_repo_path(const char *rel, char *out, size_t n);

#define TEST(name)                                                              \
    static void test_##name(void);                                              \
    __attribute__((constructor)) static void register_##name(void)              \
    {                                                                           \
        harness_register(#name, test_##name);                                   \
    }                                                                           \
    static void test_##name(void)

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);               \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_INT(a, b)                                                         \
    do {                                                                        \
        long long va_ = (long long)(a), vb_ = (long long)(b);                   \
        if (va_ != vb_) {                                                       \
            harness_fail(__FILE__, __LINE__, "%s == %lld, want %s == %lld", #a, \
                         va_, #b, vb_);                                         \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_STR(a, b)                                                         \
    do {                                                                        \
        const char *sa_ = (a), *sb_ = (b);                                      \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                            \
            harness_fail(__FILE__, __LINE__, "%s == \"%s\", want \"%s\"", #a,   \
                         sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");           \
            return;                                                             \
        }                                                                       \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                             \
    do {                                                                        \
        size_t la_ = (alen), lb_ = (blen);                                      \
        if (la_ != lb_ || memcmp((a), (b), la_) != 0) {                         \
            harness_fail(__FILE__, __LINE__, "%s (%zu bytes) != %s (%zu bytes)", \
                         #a, la_, #b, lb_);                                     \
            return;                                                             \
        }                                                                       \
    } while (0)

#endif
