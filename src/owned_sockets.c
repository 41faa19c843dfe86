#include "owned_sockets.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

void mmc_owned_sockets_init(mmc_owned_sockets *owned) {
    owned->sockets = NULL;
    owned->count = 0;
    owned->capacity = 0;
}

void mmc_owned_sockets_free(mmc_owned_sockets *owned) {
    free(owned->sockets);
    mmc_owned_sockets_init(owned);
}

/* Makes room for one more socket before it is opened, so that a socket once open is always
 * on the list. */
static int reserve_one(mmc_owned_sockets *owned) {
    if (owned->count < owned->capacity)
        return 0;
    size_t capacity = owned->capacity ? owned->capacity * 2 : 4;
    curl_socket_t *grown = realloc(owned->sockets, capacity * sizeof *grown);
    if (grown == NULL)
        return -1;
    owned->sockets = grown;
    owned->capacity = capacity;
    return 0;
}

/* Opens the socket libcurl asks for, close-on-exec from the start: setting FD_CLOEXEC after
 * socket() would leave a moment in which another thread's fork and exec inherit it. */
curl_socket_t mmc_owned_sockets_open(void *data, curlsocktype purpose,
                                     struct curl_sockaddr *address) {
    mmc_owned_sockets *owned = data;
    (void)purpose;
    if (reserve_one(owned) != 0)
        return CURL_SOCKET_BAD;
#ifdef SOCK_CLOEXEC
    curl_socket_t socket_fd =
        socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
#else
    curl_socket_t socket_fd = socket(address->family, address->socktype, address->protocol);
    if (socket_fd != CURL_SOCKET_BAD && fcntl(socket_fd, F_SETFD, FD_CLOEXEC) != 0) {
        close(socket_fd);
        socket_fd = CURL_SOCKET_BAD;
    }
#endif
    if (socket_fd == CURL_SOCKET_BAD)
        return CURL_SOCKET_BAD;
    owned->sockets[owned->count++] = socket_fd;
    return socket_fd;
}

int mmc_owned_sockets_close(void *data, curl_socket_t socket_fd) {
    mmc_owned_sockets *owned = data;
    for (size_t i = 0; i < owned->count; i++) {
        if (owned->sockets[i] == socket_fd) {
            owned->sockets[i] = owned->sockets[--owned->count];
            break;
        }
    }
    return close(socket_fd);
}

/* dup2 replaces each descriptor atomically: its number is never free, so nothing opened
 * meanwhile (by another thread) can take it and receive what libcurl writes later. Dropping
 * the child's copy of a socket writes nothing on it: the connection stays open for as long as
 * the parent holds its own copy. */
int mmc_owned_sockets_disown(mmc_owned_sockets *owned) {
    if (owned->count == 0)
        return 0;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        return -1;
    int failed = 0;
    for (size_t i = 0; i < owned->count; i++) {
        if (dup2(null_fd, owned->sockets[i]) < 0)
            failed = 1;
        else
            (void)fcntl(owned->sockets[i], F_SETFD, FD_CLOEXEC); /* dup2 clears it */
    }
    close(null_fd);
    return failed ? -1 : 0;
}
