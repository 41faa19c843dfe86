/* sink: a response body streamed to a file (renamed into place when complete) or a callback
 * (sink.h). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

static void sink_init(mmc_sink *sink, uint64_t max_size, mmc_memory *memory) {
    memset(sink, 0, sizeof *sink);
    sink->fd = -1;
    sink->max_size = max_size;
    sink->memory = memory;
    mmc_buffer_init_in(&sink->problem, memory);
}

/* The folder part of `path` ("." when it has none, "/" for a file at the root), allocated on
 * `memory`. */
static char *folder_of(mmc_memory *memory, const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return mmc_memory_strdup(memory, ".");
    size_t length = slash == path ? 1 : (size_t)(slash - path);
    char *folder = mmc_memory_alloc(memory, length + 1);
    if (folder != NULL) {
        memcpy(folder, path, length);
        folder[length] = '\0';
    }
    return folder;
}

int mmc_sink_check_path(const char *path, mmc_buffer *problem) {
    size_t length = strlen(path);
    if (length == 0) {
        mmc_buffer_append_string(problem, "output '': the path is empty");
        return -1;
    }
    if (path[length - 1] == '/') {
        mmc_buffer_append_format(problem, "output '%s': the path names a folder, not a file",
                                 path);
        return -1;
    }
    char *folder = folder_of(problem->memory, path);
    if (folder == NULL) {
        mmc_buffer_append_string(problem, "out of memory");
        return -1;
    }
    struct stat info;
    const char *reason = NULL;
    if (stat(folder, &info) != 0)
        reason = strerror(errno);
    else if (!S_ISDIR(info.st_mode))
        reason = "not a folder";
    else if (access(folder, W_OK | X_OK) != 0)
        reason = strerror(errno);
    if (reason != NULL) {
        mmc_buffer_append_format(problem, "output '%s': its folder '%s' cannot be written: %s",
                                 path, folder, reason);
        mmc_memory_free(problem->memory, folder);
        return -1;
    }
    mmc_memory_free(problem->memory, folder);
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        mmc_buffer_append_format(problem, "output '%s': the path is a folder", path);
        return -1;
    }
    return 0;
}

/* "<folder>/.<name>.mmc-<12 hex digits>" beside `path`, allocated on
 * `memory`, or NULL. */
static char *temp_path_for(mmc_memory *memory, const char *path) {
    const char *slash = strrchr(path, '/');
    size_t folder_length = slash == NULL ? 0 : (size_t)(slash - path) + 1;
    char random[13];
    if (mmc_random_hex(6, random, sizeof random) != 0)
        return NULL;
    size_t size = strlen(path) + 2 + 5 + sizeof random;
    char *temp = mmc_memory_alloc(memory, size);
    if (temp != NULL)
        snprintf(temp, size, "%.*s.%s.mmc-%s", (int)folder_length, path, path + folder_length,
                 random);
    return temp;
}

int mmc_sink_open_path(mmc_sink *sink, const char *path, uint64_t max_size, mmc_buffer *problem) {
    sink_init(sink, max_size, problem->memory);
    if (mmc_sink_check_path(path, problem) != 0)
        return -1;
    sink->path = mmc_memory_strdup(sink->memory, path);
    if (sink->path == NULL) {
        mmc_buffer_append_string(problem, "out of memory");
        return -1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        mmc_memory_free(sink->memory, sink->temp_path);
        sink->temp_path = temp_path_for(sink->memory, path);
        if (sink->temp_path == NULL) {
            mmc_buffer_append_string(problem, "out of memory or no randomness");
            return -1;
        }
        sink->fd = open(sink->temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (sink->fd >= 0)
            return 0;
        if (errno != EEXIST)
            break;
    }
    mmc_buffer_append_format(problem, "output '%s': cannot create a file beside it: %s", path,
                             strerror(errno));
    mmc_memory_free(sink->memory, sink->temp_path);
    sink->temp_path = NULL;
    return -1;
}

void mmc_sink_open_callback(mmc_sink *sink, mmc_sink_write_fn write, void *ctx,
                            uint64_t max_size, mmc_memory *memory) {
    sink_init(sink, max_size, memory);
    sink->write = write;
    sink->ctx = ctx;
}

void mmc_sink_fail(mmc_sink *sink, const char *reason) {
    sink->failed = 1;
    if (sink->problem.length == 0)
        mmc_buffer_append_string(&sink->problem, reason);
}

static void fail_errno(mmc_sink *sink, const char *what, int error) {
    sink->failed = 1;
    if (sink->problem.length == 0)
        mmc_buffer_append_format(&sink->problem, "%s '%s': %s", what, sink->path,
                                 strerror(error));
}

int mmc_sink_write(mmc_sink *sink, const char *data, size_t length) {
    if (sink->failed)
        return -1;
    if (sink->max_size > 0 && (uint64_t)length > sink->max_size - sink->bytes) {
        sink->failed = 1;
        mmc_buffer_append_format(&sink->problem, "output exceeds max_size of %llu bytes",
                                 (unsigned long long)sink->max_size);
        return -1;
    }
    if (sink->write != NULL) {
        if (sink->write(sink->ctx, data, length) != 0) {
            mmc_sink_fail(sink, "the output function stopped the transfer");
            return -1;
        }
        sink->bytes += length;
        return 0;
    }
    if (sink->fd < 0) {
        mmc_sink_fail(sink, "the output file is closed");
        return -1;
    }
    size_t done = 0;
    while (done < length) {
        ssize_t wrote = write(sink->fd, data + done, length - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0) {
            fail_errno(sink, "writing", wrote < 0 ? errno : ENOSPC);
            return -1;
        }
        done += (size_t)wrote;
    }
    sink->bytes += length;
    return 0;
}

int mmc_sink_rewind(mmc_sink *sink) {
    if (sink->failed)
        return -1;
    if (sink->write != NULL)
        return sink->bytes == 0 ? 0 : -1;
    if (sink->fd < 0 || ftruncate(sink->fd, 0) != 0 || lseek(sink->fd, 0, SEEK_SET) != 0)
        return -1;
    sink->bytes = 0;
    return 0;
}

int mmc_sink_finish(mmc_sink *sink, mmc_buffer *problem) {
    if (sink->failed) {
        mmc_buffer_append(problem, sink->problem.data, sink->problem.length);
        mmc_sink_abandon(sink);
        return -1;
    }
    if (sink->write != NULL)
        return 0;
    if (sink->fd < 0 || sink->temp_path == NULL) {
        mmc_buffer_append_string(problem, "the output file is closed");
        return -1;
    }
    int fd = sink->fd;
    sink->fd = -1;
    if (sink->sync && fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        fail_errno(sink, "writing", errno);
        close(fd);
    } else if (close(fd) != 0) {
        fail_errno(sink, "writing", errno);
    } else if (rename(sink->temp_path, sink->path) != 0) {
        fail_errno(sink, "renaming the output onto", errno);
    } else {
        mmc_memory_free(sink->memory, sink->temp_path);
        sink->temp_path = NULL;
        return 0;
    }
    mmc_buffer_append(problem, sink->problem.data, sink->problem.length);
    mmc_sink_abandon(sink);
    return -1;
}

void mmc_sink_abandon(mmc_sink *sink) {
    if (sink->fd >= 0) {
        close(sink->fd);
        sink->fd = -1;
    }
    if (sink->temp_path != NULL) {
        unlink(sink->temp_path);
        mmc_memory_free(sink->memory, sink->temp_path);
        sink->temp_path = NULL;
    }
    mmc_memory_free(sink->memory, sink->path);
    sink->path = NULL;
    mmc_buffer_free(&sink->problem);
}
