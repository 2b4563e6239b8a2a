/*
 * fuzz_fault_rules — libFuzzer target for the daemon's fault-rules reader
 * (store/io_fault.c: the SLUICE_FAULTS file). Checks:
 *   - a refused text says why;
 *   - an accepted text has at most the rule limit and is accepted again
 *     with the same rule count (parsing does not depend on earlier state).
 * Nothing may crash, leak or hang; io_fault_clear frees every rule set.
 */
#include <string.h>

#include "fuzz.h"
#include "store/io_fault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8191)
        return 0; /* the file reader's bound */
    char text[8192], why[256];
    memcpy(text, data, size);
    text[size] = 0;
    why[0] = 0;
    int n = io_fault_set(text, why, sizeof why);
    if (n < 0) {
        FUZZ_CHECK(why[0] != 0);
    } else {
        FUZZ_CHECK(n <= 32);
        FUZZ_CHECK(io_fault_set(text, why, sizeof why) == n);
    }
    io_fault_clear();
    return 0;
}
