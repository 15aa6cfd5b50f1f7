#include "http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

/*
 * /healthz fails when the main loop has shown no progress for this long. The
 * loop iterates at least every 100 ms and outage waits report every step, so
 * only a call stuck for good (a PostgreSQL or Kafka call that never returns)
 * gets here; a large batch commit stays well under it.
 */
#define LOOP_STALL_US (30 * 1000000LL)

struct http_server {
	struct MHD_Daemon *daemon;
};

int http_parse_listen(const char *spec, struct http_listen *ret)
{
	const struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	char host[64];
	const char *colon = strrchr(spec, ':');
	const char *port;
	size_t host_len;
	struct addrinfo *found;
	char *end;
	long port_num;

	if (!colon)
		return -EINVAL;
	port = colon + 1;
	host_len = (size_t)(colon - spec);
	/* An IPv6 address comes in brackets, as in a URL. */
	if (host_len >= 2 && spec[0] == '[' && spec[host_len - 1] == ']') {
		spec++;
		host_len -= 2;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, spec, host_len);
	host[host_len] = '\0';
	errno = 0;
	port_num = strtol(port, &end, 10);
	if (errno || end == port || *end || port_num < 1 || port_num > 65535)
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &found) != 0)
		return -EINVAL;
	memcpy(&ret->addr, found->ai_addr, found->ai_addrlen);
	ret->len = found->ai_addrlen;
	freeaddrinfo(found);
	return 0;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *content_type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *response = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (!response) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, status, response);
	MHD_destroy_response(response);
	return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return reply(conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn)
{
	char *text;
	size_t len;

	if (metrics_render(&text, &len) != 0)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result serve_ready(struct MHD_Connection *conn)
{
	char why[160], body[192];

	if (metrics_ready(why, sizeof(why)))
		return reply_text(conn, MHD_HTTP_OK, "ready\n");
	snprintf(body, sizeof(body), "not ready: %s\n", why);
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	/* Reads only, so a body is never needed: answer on the first call. (MHD answers HEAD without a body.) */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(conn);
	if (strcmp(url, "/healthz") == 0)
		return metrics_loop_alive_within(LOOP_STALL_US) ?
			       reply_text(conn, MHD_HTTP_OK, "ok\n") :
			       reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "main loop stalled\n");
	if (strcmp(url, "/readyz") == 0)
		return serve_ready(conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /healthz, /readyz, /metrics\n");
}

/* The port of addr; MHD takes it from MHD_OPTION_SOCK_ADDR but names it in its messages. */
static uint16_t listen_port(const struct http_listen *addr)
{
	if (addr->addr.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&addr->addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&addr->addr)->sin_port);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(MENTOR_LOG_WARNING, fmt, ap);
}

int http_start(const struct http_listen *addr, struct http_server **ret_server)
{
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	struct http_server *server = calloc(1, sizeof(*server));
	sigset_t block, old;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	int saved_errno;

	if (!server)
		return -ENOMEM;
	if (addr->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The server thread inherits this mask: SIGTERM and SIGHUP must reach the main thread only. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	errno = 0;
	/* The logger comes first so that MHD logs nothing of its own before it. */
	server->daemon = MHD_start_daemon(flags, listen_port(addr), NULL, NULL, handle, NULL,
					  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					  MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr->addr,
					  /* A scrape target for a few local clients, not a web server. */
					  MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
					  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
					  MHD_OPTION_END);
	saved_errno = errno ? errno : EADDRNOTAVAIL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (getnameinfo((const struct sockaddr *)&addr->addr, addr->len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		strcpy(host, "?");
		strcpy(port, "?");
	}
	if (!server->daemon) {
		free(server);
		log_err("HTTP: cannot listen on %s port %s: %s", host, port, strerror(saved_errno));
		return -saved_errno;
	}
	log_info("HTTP: /healthz, /readyz and /metrics on %s port %s", host, port);
	*ret_server = server;
	return 0;
}

void http_stop(struct http_server *server)
{
	if (!server)
		return;
	MHD_stop_daemon(server->daemon);
	free(server);
}
