/* The transport across fork() and exec, with no interpreter, against the local mock: its
 * sockets are close-on-exec; a child that inherited it makes its own connection, and neither
 * a child's request nor a child's close touches the parent's connection, which the parent
 * goes on using. A child that closed the inherited descriptors (the connection, libcurl's
 * socketpair) and opened files on their numbers keeps those files, open, with every line. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/transport.h"
#include "check.h"

static char url[512];

static void open_transport(mmc_transport *transport) {
    mmc_transport_options options = {
        .connect_timeout_ms = 5000,
        .max_body = 1 << 20,
        .ssl_verify = 1,
        .ca_file = getenv("MMC_TEST_CA"),
        .user_agent = "mmc-test-fork",
    };
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    CHECK(mmc_transport_open(transport, &options, &problem) == 0);
    mmc_buffer_free(&problem);
}

/* One request (unauthorised: any HTTP answer will do). Returns its status, or -1. */
static long request(mmc_transport *transport) {
    mmc_request request = {.method = "PUT", .url = url, .timeout_ms = 5000};
    mmc_response response;
    mmc_buffer problem;
    mmc_buffer_init(&problem);
    int outcome = mmc_transport_perform(transport, &request, &response, &problem);
    if (outcome != 0)
        fprintf(stderr, "request failed: %.*s\n", (int)problem.length, problem.data);
    mmc_buffer_free(&problem);
    return outcome == 0 ? response.status : -1;
}

/* The local port of the transport's one connection, or -1. */
static int connection_port(const mmc_transport *transport) {
    if (transport->sockets.count != 1)
        return -1;
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    if (getsockname(transport->sockets.sockets[0].fd, (struct sockaddr *)&address, &length) != 0)
        return -1;
    return ntohs(address.sin_port);
}

/* Runs `body` in a child process; whether it exited 0. */
static int in_child(int (*body)(mmc_transport *, int), mmc_transport *transport, int port) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(body(transport, port)); /* no atexit handlers: they are the parent's business */
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0;
}

/* The child's own request, on a connection of its own. */
static int child_requests(mmc_transport *transport, int parent_port) {
    int ok = request(transport) == 401;
    int port = connection_port(transport);
    ok = ok && port > 0 && port != parent_port;
    mmc_transport_close(transport);
    if (!ok)
        fprintf(stderr, "child_requests: port %d (parent's %d)\n", port, parent_port);
    return ok ? 0 : 1;
}

/* The child only closes what it inherited. */
static int child_closes(mmc_transport *transport, int parent_port) {
    (void)parent_port;
    mmc_transport_close(transport);
    return 0;
}

/* Notes which of the descriptors below `limit` are sockets: is_socket[fd] = 1. */
static void list_sockets(char *is_socket, int limit) {
    for (int fd = 0; fd < limit; fd++) {
        struct stat info;
        is_socket[fd] = fstat(fd, &info) == 0 && S_ISSOCK(info.st_mode);
    }
}

#define FD_LIMIT 256
static char sockets_before[FD_LIMIT]; /* the sockets open before the transport's first request */
static char file_path[FD_LIMIT][256];

/* Closes `fd` and opens a file for appending on its number, as a child may. 0 or -1. */
static int reopen_as_file(int fd) {
    snprintf(file_path[fd], sizeof file_path[fd], "%s/mmc-test-fork-%d-%d.log",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid(), fd);
    close(fd);
    int opened = open(file_path[fd], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
    if (opened < 0)
        return -1;
    if (opened != fd) {
        if (dup2(opened, fd) != fd)
            return -1;
        close(opened);
    }
    return 0;
}

static int write_line(int fd, const char *line) {
    size_t length = strlen(line);
    return write(fd, line, length) == (ssize_t)length && fcntl(fd, F_GETFD) != -1 ? 0 : -1;
}

/* The child closes the descriptors in reused[] (the parent's connection, libcurl's
 * socketpair), opens files on their numbers, then requests, requests again and closes the
 * transport, writing a line to each file around each step; then checks each file's lines. */
static char reused[FD_LIMIT];
static int child_reuses_numbers(mmc_transport *transport, int parent_port) {
    (void)parent_port;
    int failed = 0, count = 0;
    for (int fd = 0; fd < FD_LIMIT; fd++)
        if (reused[fd] && (count++, reopen_as_file(fd) != 0))
            failed = 1;
    static const char *const lines[] = {"before\n", "first\n", "second\n", "closed\n"};
    for (int step = 0; step < 4; step++) {
        if (step == 1 || step == 2)
            failed |= request(transport) != 401;
        if (step == 3)
            mmc_transport_close(transport);
        for (int fd = 0; fd < FD_LIMIT; fd++)
            if (reused[fd])
                failed |= write_line(fd, lines[step]) != 0;
    }
    for (int fd = 0; fd < FD_LIMIT; fd++) {
        if (!reused[fd])
            continue;
        char text[64] = {0};
        FILE *file = fopen(file_path[fd], "r");
        size_t length = file ? fread(text, 1, sizeof text - 1, file) : 0;
        if (file)
            fclose(file);
        unlink(file_path[fd]);
        if (length != strlen("before\nfirst\nsecond\nclosed\n") ||
            strcmp(text, "before\nfirst\nsecond\nclosed\n") != 0) {
            fprintf(stderr, "child_reuses_numbers: descriptor %d's file holds \"%s\"\n", fd, text);
            failed = 1;
        }
    }
    if (count == 0)
        failed = 1;
    return failed;
}

int main(void) {
    snprintf(url, sizeof url, "%s/v1/mmc/management/webhook/change-status?id=fork&status=1",
             getenv("MMC_TEST_ENDPOINT"));
    mmc_transport transport;
    open_transport(&transport);
    list_sockets(sockets_before, FD_LIMIT);
    CHECK(request(&transport) == 401);
    int port = connection_port(&transport);
    CHECK(port > 0);
    CHECK((fcntl(transport.sockets.sockets[0].fd, F_GETFD) & FD_CLOEXEC) != 0);

    CHECK(in_child(child_requests, &transport, port));
    CHECK(in_child(child_closes, &transport, port));
    CHECK(in_child(child_requests, &transport, port));

    /* The connection's number, then libcurl's socketpair's (the other sockets the first
     * request opened), reused for files by the child. */
    memset(reused, 0, sizeof reused);
    reused[transport.sockets.sockets[0].fd] = 1;
    CHECK(in_child(child_reuses_numbers, &transport, port));
    char sockets_now[FD_LIMIT];
    list_sockets(sockets_now, FD_LIMIT);
    memset(reused, 0, sizeof reused);
    int pair = 0;
    for (int fd = 0; fd < FD_LIMIT; fd++)
        if (sockets_now[fd] && !sockets_before[fd] && fd != transport.sockets.sockets[0].fd) {
            reused[fd] = 1;
            pair++;
        }
    CHECK(pair == 2);
    CHECK(in_child(child_reuses_numbers, &transport, port));

    /* The parent's connection is still there and still works: no child wrote on it (a
     * close_notify would have made the server close it, and libcurl would connect again). */
    CHECK(request(&transport) == 401);
    CHECK(connection_port(&transport) == port);
    mmc_transport_close(&transport);
    return check_report("fork");
}
