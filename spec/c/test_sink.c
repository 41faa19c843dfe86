/* The sink's rules (src/sink.h): a file appears at its path only when complete; after any
 * failure nothing is left, neither at the path nor beside it; callbacks, max_size, bad paths. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/sink.h"
#include "check.h"

/* How many entries the folder holds (besides . and ..). */
static int entries_in(const char *folder) {
    DIR *dir = opendir(folder);
    int count = 0;
    if (dir == NULL)
        return -1;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(dir);
    return count;
}

static long file_size(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 ? (long)info.st_size : -1;
}

static void test_complete_file(const char *folder) {
    char path[512];
    snprintf(path, sizeof path, "%s/whole.bin", folder);
    mmc_sink sink;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    mode_t old = umask(027);
    CHECK(mmc_sink_open_path(&sink, path, 0, &problem) == 0);
    umask(old);
    CHECK(file_size(path) == -1);    /* nothing at the path while it is written */
    CHECK(entries_in(folder) == 1);  /* the temporary file, beside it */
    CHECK(mmc_sink_write(&sink, "hello ", 6) == 0);
    CHECK(mmc_sink_write(&sink, "world", 5) == 0);
    CHECK(sink.bytes == 11);
    CHECK(mmc_sink_finish(&sink, &problem) == 0);
    mmc_sink_abandon(&sink);
    mmc_sink_abandon(&sink); /* safe twice */
    CHECK(file_size(path) == 11);
    CHECK(entries_in(folder) == 1);
    struct stat info;
    CHECK(stat(path, &info) == 0 && (info.st_mode & 0777) == 0640); /* 0666 & ~umask */
    /* A rewind before a retry starts again. */
    CHECK(mmc_sink_open_path(&sink, path, 0, &problem) == 0);
    CHECK(mmc_sink_write(&sink, "partial", 7) == 0);
    CHECK(mmc_sink_rewind(&sink) == 0 && sink.bytes == 0);
    CHECK(mmc_sink_write(&sink, "new", 3) == 0);
    CHECK(mmc_sink_finish(&sink, &problem) == 0);
    mmc_sink_abandon(&sink);
    CHECK(file_size(path) == 3); /* replaced */
    unlink(path);
    mmc_buffer_free(&problem);
}

static void test_abandoned_file(const char *folder) {
    char path[512];
    snprintf(path, sizeof path, "%s/abandoned.bin", folder);
    mmc_sink sink;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    CHECK(mmc_sink_open_path(&sink, path, 0, &problem) == 0);
    CHECK(mmc_sink_write(&sink, "some", 4) == 0);
    mmc_sink_abandon(&sink); /* the network failed */
    CHECK(file_size(path) == -1);
    CHECK(entries_in(folder) == 0);
    mmc_buffer_free(&problem);
}

static void test_max_size(const char *folder) {
    char path[512];
    snprintf(path, sizeof path, "%s/capped.bin", folder);
    mmc_sink sink;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    CHECK(mmc_sink_open_path(&sink, path, 10, &problem) == 0);
    CHECK(mmc_sink_write(&sink, "0123456789", 10) == 0); /* exactly the cap */
    CHECK(mmc_sink_write(&sink, "x", 1) == -1);
    CHECK(sink.failed);
    CHECK(strstr(mmc_buffer_text(&sink.problem), "max_size of 10 bytes") != NULL);
    CHECK(mmc_sink_finish(&sink, &problem) == -1);
    CHECK(strstr(mmc_buffer_text(&problem), "max_size") != NULL);
    mmc_sink_abandon(&sink);
    CHECK(file_size(path) == -1);
    CHECK(entries_in(folder) == 0);
    mmc_buffer_free(&problem);
}

static void test_bad_paths(const char *folder) {
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    mmc_sink sink;
    CHECK(mmc_sink_check_path("/no/such/folder/x.mp4", &problem) == -1);
    CHECK(strstr(mmc_buffer_text(&problem), "'/no/such/folder/x.mp4'") != NULL);
    CHECK(strstr(mmc_buffer_text(&problem), "No such file or directory") != NULL);
    mmc_buffer_clear(&problem);
    CHECK(mmc_sink_open_path(&sink, "/no/such/folder/x.mp4", 0, &problem) == -1);
    mmc_sink_abandon(&sink);
    mmc_buffer_clear(&problem);
    CHECK(mmc_sink_check_path(folder, &problem) == -1); /* a folder */
    CHECK(strstr(mmc_buffer_text(&problem), "is a folder") != NULL);
    mmc_buffer_clear(&problem);
    CHECK(mmc_sink_check_path("", &problem) == -1);
    mmc_buffer_clear(&problem);
    /* /proc takes no new files, even from root: refused when the file is made, before
     * anything could be sent. */
    CHECK(mmc_sink_open_path(&sink, "/proc/mmc-sink-test", 0, &problem) == -1);
    CHECK(strstr(mmc_buffer_text(&problem), "/proc/mmc-sink-test") != NULL);
    mmc_sink_abandon(&sink);
    mmc_buffer_clear(&problem);
    /* A file used as a folder. */
    char path[512];
    snprintf(path, sizeof path, "%s/plain", folder);
    FILE *plain = fopen(path, "w");
    CHECK(plain != NULL);
    if (plain != NULL)
        fclose(plain);
    char below[600];
    snprintf(below, sizeof below, "%s/x", path);
    CHECK(mmc_sink_check_path(below, &problem) == -1);
    CHECK(strstr(mmc_buffer_text(&problem), "not a folder") != NULL);
    unlink(path);
    mmc_buffer_free(&problem);
}

/* A full disk: a child with a file-size limit (SIGXFSZ ignored, so write fails with EFBIG). */
static void test_disk_full(const char *folder) {
    char path[512];
    snprintf(path, sizeof path, "%s/full.bin", folder);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {4096, 4096};
        setrlimit(RLIMIT_FSIZE, &limit);
        mmc_sink sink;
        mmc_buffer problem;
        mmc_buffer_init(&problem);
        if (mmc_sink_open_path(&sink, path, 0, &problem) != 0)
            _exit(10);
        char block[1000];
        memset(block, 'x', sizeof block);
        int failed_at = -1;
        for (int i = 0; i < 10 && failed_at < 0; i++)
            if (mmc_sink_write(&sink, block, sizeof block) != 0)
                failed_at = i;
        if (failed_at != 4)
            _exit(11);
        if (strstr(mmc_buffer_text(&sink.problem), "File too large") == NULL ||
            strstr(mmc_buffer_text(&sink.problem), path) == NULL)
            _exit(12);
        if (mmc_sink_finish(&sink, &problem) != -1)
            _exit(13);
        mmc_sink_abandon(&sink);
        _exit(0);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "disk-full child: status %d\n", status);
    CHECK(file_size(path) == -1);
    CHECK(entries_in(folder) == 0);
}

typedef struct collected {
    char text[64];
    size_t length;
    int stop_after; /* calls */
    int calls;
} collected;

static int collect(void *ctx, const char *data, size_t length) {
    collected *into = ctx;
    if (++into->calls > into->stop_after)
        return -1;
    if (into->length + length > sizeof into->text)
        return -1;
    memcpy(into->text + into->length, data, length);
    into->length += length;
    return 0;
}

/* The callback kind writing to /dev/full: its failure stops the sink. */
static int to_dev_full(void *ctx, const char *data, size_t length) {
    FILE *full = ctx;
    if (fwrite(data, 1, length, full) != length || fflush(full) != 0)
        return -1;
    return 0;
}

static void test_callbacks(void) {
    mmc_sink sink;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    collected into = {.stop_after = 100};
    mmc_sink_open_callback(&sink, collect, &into, 0, NULL);
    CHECK(mmc_sink_write(&sink, "ab", 2) == 0);
    CHECK(mmc_sink_rewind(&sink) == -1); /* what reached a callback cannot be taken back */
    CHECK(mmc_sink_write(&sink, "cd", 2) == 0);
    CHECK(mmc_sink_finish(&sink, &problem) == 0);
    mmc_sink_abandon(&sink);
    CHECK(into.length == 4 && memcmp(into.text, "abcd", 4) == 0);

    collected stopping = {.stop_after = 1};
    mmc_sink_open_callback(&sink, collect, &stopping, 0, NULL);
    CHECK(mmc_sink_rewind(&sink) == 0); /* nothing written yet */
    CHECK(mmc_sink_write(&sink, "ab", 2) == 0);
    CHECK(mmc_sink_write(&sink, "cd", 2) == -1);
    CHECK(mmc_sink_write(&sink, "ef", 2) == -1); /* failed for good */
    CHECK(stopping.calls == 2 && sink.bytes == 2);
    CHECK(strstr(mmc_buffer_text(&sink.problem), "stopped") != NULL);
    CHECK(mmc_sink_finish(&sink, &problem) == -1);
    mmc_sink_abandon(&sink);

    mmc_buffer_clear(&problem);
    collected capped = {.stop_after = 100};
    mmc_sink_open_callback(&sink, collect, &capped, 3, NULL);
    CHECK(mmc_sink_write(&sink, "abcd", 4) == -1);
    CHECK(capped.calls == 0); /* refused before the callback saw it */
    mmc_sink_abandon(&sink);

    FILE *full = fopen("/dev/full", "w");
    CHECK(full != NULL);
    if (full != NULL) {
        mmc_sink_open_callback(&sink, to_dev_full, full, 0, NULL);
        CHECK(mmc_sink_write(&sink, "x", 1) == -1);
        CHECK(sink.failed && sink.bytes == 0);
        mmc_sink_abandon(&sink);
        fclose(full);
    }
    mmc_buffer_free(&problem);
}

int main(void) {
    char folder[] = "/tmp/mmc-sink-XXXXXX";
    if (mkdtemp(folder) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_complete_file(folder);
    test_abandoned_file(folder);
    test_max_size(folder);
    test_bad_paths(folder);
    test_disk_full(folder);
    test_callbacks();
    rmdir(folder);
    return check_report("sink");
}
