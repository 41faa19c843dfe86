#include "clock.h"

#include <errno.h>
#include <time.h>

double mmc_clock_monotonic(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

long long mmc_clock_unix(void) {
    return (long long)time(NULL);
}

double mmc_clock_unix_precise(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void mmc_clock_sleep(double seconds) {
    if (!(seconds > 0))
        return;
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}
