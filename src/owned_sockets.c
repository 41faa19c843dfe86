#include "owned_sockets.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void mmc_owned_sockets_init(mmc_owned_sockets *owned, mmc_memory *memory) {
    owned->sockets = NULL;
    owned->count = 0;
    owned->capacity = 0;
    owned->memory = memory;
}

void mmc_owned_sockets_free(mmc_owned_sockets *owned) {
    mmc_memory_free(owned->memory, owned->sockets);
    mmc_owned_sockets_init(owned, owned->memory);
}

/* Makes room for one more socket before it is opened, so that a socket once open is always
 * on the list (owned_sockets.h). */
int mmc_owned_sockets_reserve(mmc_owned_sockets *owned) {
    if (owned->count < owned->capacity)
        return 0;
    size_t capacity = owned->capacity ? owned->capacity * 2 : 4;
    mmc_owned_socket *grown = mmc_memory_realloc(owned->memory, owned->sockets, capacity * sizeof *grown);
    if (grown == NULL)
        return -1;
    owned->sockets = grown;
    owned->capacity = capacity;
    return 0;
}

/* Opens the socket libcurl asks for, close-on-exec from the start: setting FD_CLOEXEC after
 * socket() would leave a moment in which another thread's fork and exec inherit it. Its
 * identity is noted (one fstat per connection, none per request), for a fork's child to tell
 * it from whatever later takes its number. */
curl_socket_t mmc_owned_sockets_open(void *data, curlsocktype purpose,
                                     struct curl_sockaddr *address) {
    mmc_owned_sockets *owned = data;
    (void)purpose;
    if (mmc_owned_sockets_reserve(owned) != 0)
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
    struct stat identity;
    if (fstat(socket_fd, &identity) != 0) {
        close(socket_fd);
        return CURL_SOCKET_BAD;
    }
    owned->sockets[owned->count++] =
        (mmc_owned_socket){socket_fd, identity.st_dev, identity.st_ino};
    return socket_fd;
}

int mmc_owned_sockets_close(void *data, curl_socket_t socket_fd) {
    mmc_owned_sockets *owned = data;
    for (size_t i = 0; i < owned->count; i++) {
        if (owned->sockets[i].fd == socket_fd) {
            owned->sockets[i] = owned->sockets[--owned->count];
            break;
        }
    }
    return close(socket_fd);
}

/* Closing the child's copy of a socket writes nothing on it: the connection stays open for as
 * long as the parent holds its own copy. A descriptor that is no longer the socket (the child
 * closed it, and its number went to a file, a pipe, another socket) is not the handle's to
 * touch. Between the fstat and the close another thread of the child could swap the
 * descriptor: a child that closes and reopens descriptors on one thread while another makes
 * mmc's first call after the fork is not supported. */
void mmc_owned_sockets_disown(mmc_owned_sockets *owned) {
    for (size_t i = 0; i < owned->count; i++) {
        struct stat now;
        if (fstat(owned->sockets[i].fd, &now) == 0 && S_ISSOCK(now.st_mode) &&
            now.st_dev == owned->sockets[i].device && now.st_ino == owned->sockets[i].inode)
            close(owned->sockets[i].fd);
    }
    owned->count = 0;
}
