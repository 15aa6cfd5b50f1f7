/*
 * The local HTTP endpoint (libmicrohttpd, in a thread of its own):
 *   /healthz  200 while the main loop makes progress, 503 when it has stalled
 *   /readyz   200 with a partition assigned and PostgreSQL usable, else 503
 *   /metrics  Prometheus text format 0.0.4
 * It only reads metrics.h; it never touches the consumer or the store.
 */
#ifndef MENTORD_HTTP_H
#define MENTORD_HTTP_H

#include <sys/socket.h>

#define HTTP_DEFAULT_LISTEN "127.0.0.1:9464"

struct http_listen {
	struct sockaddr_storage addr;
	socklen_t len;
};

/*
 * Parses "ADDR:PORT" with a numeric address: "127.0.0.1:9464", "[::1]:9464".
 * Returns 0 and *ret, or -EINVAL.
 */
int http_parse_listen(const char *spec, struct http_listen *ret);

struct http_server;

/* Starts serving on addr. Returns 0 and *ret_server, or -errno (logged). */
int http_start(const struct http_listen *addr, struct http_server **ret_server);

/* Stops the server and waits for its thread; safe on NULL. */
void http_stop(struct http_server *server);

#endif
