/*
 * owned_sockets: the sockets one libcurl easy handle opened, through its open- and
 * close-socket callbacks, each with its identity (st_dev, st_ino) noted when it was opened.
 *
 * Two promises rest on them. Every socket is made close-on-exec (SOCK_CLOEXEC, set atomically
 * with the socket), so a program started by os.execute or io.popen never inherits the
 * connection to the server. And after a fork, a child that inherited a handle lets go of the
 * parent's connections without touching them: it closes its copy of each descriptor that is
 * still the socket the handle opened (the same st_dev and st_ino), which writes nothing on the
 * connection; a descriptor the child closed itself and whose number now holds something else
 * (a file it opened, say) is left alone. The inherited handle is then abandoned, never cleaned
 * up (transport.h says why).
 */
#ifndef MMC_OWNED_SOCKETS_H
#define MMC_OWNED_SOCKETS_H

#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "memory.h"

typedef struct mmc_owned_socket {
    curl_socket_t fd;
    dev_t device; /* the socket's identity, as fstat saw it when it was opened */
    ino_t inode;
} mmc_owned_socket;

typedef struct mmc_owned_sockets {
    mmc_owned_socket *sockets; /* open now, in the order they were opened */
    size_t count;
    size_t capacity;
    mmc_memory *memory; /* the account the list is charged to (memory.h) */
} mmc_owned_sockets;

void mmc_owned_sockets_init(mmc_owned_sockets *owned, mmc_memory *memory);

/* Makes room for one more socket (the first 4 when the list is empty): before each socket is
 * opened, and once when the handle is made, since whether and when a handle opens a connection
 * of its own depends on which connections libcurl lends it, and a handle's memory should not
 * (a warm client's count stays the same). 0, or -1 when out of memory. */
int mmc_owned_sockets_reserve(mmc_owned_sockets *owned);

/* Forgets every socket (they must be closed or disowned already) and frees the list. */
void mmc_owned_sockets_free(mmc_owned_sockets *owned);

/* CURLOPT_OPENSOCKETFUNCTION, with the list as CURLOPT_OPENSOCKETDATA. */
curl_socket_t mmc_owned_sockets_open(void *owned, curlsocktype purpose,
                                     struct curl_sockaddr *address);

/* CURLOPT_CLOSESOCKETFUNCTION, with the list as CURLOPT_CLOSESOCKETDATA. */
int mmc_owned_sockets_close(void *owned, curl_socket_t socket);

/* In a process that inherited the sockets (a fork's child): closes each descriptor that is
 * still the socket noted when it was opened, leaves any other alone, and empties the list.
 * Nothing is written on any connection. The handle that opened them must never be used or
 * cleaned up afterwards. */
void mmc_owned_sockets_disown(mmc_owned_sockets *owned);

#endif
