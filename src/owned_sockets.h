/*
 * owned_sockets: the sockets one libcurl easy handle opened, through its open- and
 * close-socket callbacks.
 *
 * Two promises rest on them. Every socket is made close-on-exec (SOCK_CLOEXEC, set atomically
 * with the socket), so a program started by os.execute or io.popen never inherits the
 * connection to the server. And after a fork, a child that inherited a handle can disown the
 * parent's connections without touching them: each socket is replaced by /dev/null (same
 * descriptor number), so when the old handle is cleaned up, its TLS close_notify and the
 * close go nowhere, and the parent's connection carries on untouched.
 */
#ifndef MMC_OWNED_SOCKETS_H
#define MMC_OWNED_SOCKETS_H

#include <stddef.h>

#include <curl/curl.h>

typedef struct mmc_owned_sockets {
    curl_socket_t *sockets; /* open now, in the order they were opened */
    size_t count;
    size_t capacity;
} mmc_owned_sockets;

void mmc_owned_sockets_init(mmc_owned_sockets *owned);

/* Forgets every socket (they must be closed or disowned already) and frees the list. */
void mmc_owned_sockets_free(mmc_owned_sockets *owned);

/* CURLOPT_OPENSOCKETFUNCTION, with the list as CURLOPT_OPENSOCKETDATA. */
curl_socket_t mmc_owned_sockets_open(void *owned, curlsocktype purpose,
                                     struct curl_sockaddr *address);

/* CURLOPT_CLOSESOCKETFUNCTION, with the list as CURLOPT_CLOSESOCKETDATA. */
int mmc_owned_sockets_close(void *owned, curl_socket_t socket);

/* In a process that inherited the sockets: puts /dev/null in place of each (the descriptor
 * number stays taken), so that nothing libcurl does with them later reaches the peer; the
 * handle can then be cleaned up, and closes them through mmc_owned_sockets_close. 0, or -1
 * when /dev/null could not be put in place of every socket (no descriptor left, say): then
 * the handle must be abandoned, never cleaned up. */
int mmc_owned_sockets_disown(mmc_owned_sockets *owned);

#endif
