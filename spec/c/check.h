/*
 * check: the smallest test harness that reads well. CHECK records a failure with its line
 * and goes on; check_report prints "N passed, N failed" and gives the exit status.
 */
#ifndef MMC_SPEC_CHECK_H
#define MMC_SPEC_CHECK_H

#include <stdio.h>
#include <string.h>

typedef struct check_counts {
    int passed;
    int failed;
} check_counts;

static check_counts check_totals;

#define CHECK(condition)                                                                           \
    do {                                                                                           \
        if (condition) {                                                                           \
            check_totals.passed++;                                                                 \
        } else {                                                                                   \
            check_totals.failed++;                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);          \
        }                                                                                          \
    } while (0)

#define CHECK_STR(actual, expected)                                                                \
    do {                                                                                           \
        const char *check_a = (actual), *check_e = (expected);                                     \
        if (check_a != NULL && strcmp(check_a, check_e) == 0) {                                    \
            check_totals.passed++;                                                                 \
        } else {                                                                                   \
            check_totals.failed++;                                                                 \
            fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, check_e,   \
                    check_a ? check_a : "(null)");                                                 \
        }                                                                                          \
    } while (0)

static int check_report(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_totals.passed, check_totals.failed);
    return check_totals.failed == 0 && check_totals.passed > 0 ? 0 : 1;
}

#endif
