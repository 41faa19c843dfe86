/* The transport across fork() and exec, with no interpreter, against the local mock: its
 * sockets are close-on-exec; a child that inherited it makes its own connection, and neither
 * a child's request nor a child's close touches the parent's connection, which the parent
 * goes on using. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    if (getsockname(transport->sockets.sockets[0], (struct sockaddr *)&address, &length) != 0)
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

int main(void) {
    snprintf(url, sizeof url, "%s/v1/mmc/management/webhook/change-status?id=fork&status=1",
             getenv("MMC_TEST_ENDPOINT"));
    mmc_transport transport;
    open_transport(&transport);
    CHECK(request(&transport) == 401);
    int port = connection_port(&transport);
    CHECK(port > 0);
    CHECK((fcntl(transport.sockets.sockets[0], F_GETFD) & FD_CLOEXEC) != 0);

    CHECK(in_child(child_requests, &transport, port));
    CHECK(in_child(child_closes, &transport, port));
    CHECK(in_child(child_requests, &transport, port));

    /* The parent's connection is still there and still works: no child wrote on it (a
     * close_notify would have made the server close it, and libcurl would connect again). */
    CHECK(request(&transport) == 401);
    CHECK(connection_port(&transport) == port);
    mmc_transport_close(&transport);
    return check_report("fork");
}
