/* mentord: command line, signals and configuration; the work is in ingest.c and libmentor. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "sender.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,       /* a fault it could not get past */
	EXIT_USAGE = 2,         /* bad command line */
	EXIT_CONFIG_IO = 3,     /* configuration file unreadable */
	EXIT_CONFIG_INVALID = 4 /* configuration read but wrong */
};

static struct mentord_flags flags;

static void on_stop_signal(int sig)
{
	(void)sig;
	flags.stop = 1;
}

static void on_reload_signal(int sig)
{
	(void)sig;
	flags.reload = 1;
}

static void install_signal_handlers(void)
{
	struct sigaction stop = { .sa_handler = on_stop_signal };
	struct sigaction reload = { .sa_handler = on_reload_signal };
	struct sigaction ignore = { .sa_handler = SIG_IGN };

	sigemptyset(&stop.sa_mask);
	sigemptyset(&reload.sa_mask);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGHUP, &reload, NULL);
	sigaction(SIGPIPE, &ignore, NULL);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: mentord [OPTIONS]\n"
		"Pairs contact-center agents who score low in a behavior with peers who score high.\n\n"
		"  -c, --config FILE    configuration file (default: none, built-in defaults)\n"
		"  -t, --check-config   read and validate the configuration, then exit:\n"
		"                       0 valid, 3 unreadable, 4 invalid\n"
		"  -e, --exit-at-end    stop once every assigned partition is consumed and stored\n"
		"      --http ADDR:PORT serve /healthz, /readyz and /metrics on this numeric\n"
		"                       address (\"127.0.0.1:9464\", \"[::1]:9464\"), or \"off\";\n"
		"                       default " HTTP_DEFAULT_LISTEN ", skipped with a warning if busy,\n"
		"                       while a named address that cannot be bound is fatal\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n\n"
		"Signals: SIGHUP reloads the validation rules and log level from the file;\n"
		"SIGTERM and SIGINT stop cleanly.\n"
		"Environment: MENTORD_PG (libpq conninfo) and MENTORD_KAFKA (bootstrap servers)\n"
		"override the configuration file. NOTIFY_SOCKET and WATCHDOG_USEC (set by\n"
		"systemd) turn on readiness, reload, stop and watchdog notifications.\n"
		"Exit status: 0 stopped cleanly, 1 runtime fault, 2 bad command line,\n"
		"3 configuration unreadable, 4 configuration invalid.\n"
		"See mentord(8) and mentord.conf(5).\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "exit-at-end", no_argument, NULL, 'e' },
		{ "http", required_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	const char *http_spec = NULL;  /* NULL: the default address, best effort */
	struct http_listen http_addr;
	struct http_server *http = NULL;
	struct sender *sender = NULL;
	bool check_only = false, exit_at_end = false;
	struct mentor_config *cfg = NULL;
	struct mentor_error err = { 0 };
	int opt, code = EXIT_RUNTIME;

	while ((opt = getopt_long(argc, argv, "c:teVh", options, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 't': check_only = true; break;
		case 'e': exit_at_end = true; break;
		case 'H': http_spec = optarg; break;
		case 'V': printf("mentord %s\n", MENTORD_VERSION); return EXIT_OK;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (http_spec && strcmp(http_spec, "off") != 0 && http_parse_listen(http_spec, &http_addr) != 0) {
		log_err("--http %s: expected ADDR:PORT with a numeric address, or off", http_spec);
		return EXIT_USAGE;
	}
	if (mentord_config_read(config_path, &cfg, &err) != MENTOR_OK) {
		log_err("configuration: %s", err.msg);
		return err.code == MENTOR_ERR_IO ? EXIT_CONFIG_IO : EXIT_CONFIG_INVALID;
	}
	/* --http overrides [http] listen; both name an address that must work. */
	if (!http_spec && cfg->http_listen[0] != '\0') {
		http_spec = cfg->http_listen;
		if (strcmp(http_spec, "off") != 0 && http_parse_listen(http_spec, &http_addr) != 0) {
			log_err("configuration: [http] listen: '%s' is not ADDR:PORT with a numeric address, or off",
				http_spec);
			code = EXIT_CONFIG_INVALID;
			goto out;
		}
	}
	if (check_only) {
		printf("configuration ok\n");
		code = EXIT_OK;
		goto out;
	}
	log_set_level(cfg->log_level);
	log_notice("mentord %s starting", MENTORD_VERSION);
	install_signal_handlers();
	notify_init();
	/*
	 * The default address is best effort, so that several instances on one
	 * host (a second consumer of the group, test runs) need no flag; an
	 * address the operator named must work, or mentord does not start.
	 */
	if (!http_spec) {
		if (http_parse_listen(HTTP_DEFAULT_LISTEN, &http_addr) == 0 && http_start(&http_addr, &http) != 0)
			log_warning("HTTP: running without /healthz, /readyz and /metrics; name a free address with --http");
	} else if (strcmp(http_spec, "off") != 0 && http_start(&http_addr, &http) != 0) {
		goto out;
	}
	/* Alerts go out from their own thread and connection: a slow receiver never holds up consumption. */
	if (sender_start(cfg, &flags.stop, &sender) != 0)
		goto out;
	metrics_set_alert_sender(sender);
	code = mentord_ingest_run(cfg, config_path, exit_at_end, &flags);
out:
	/* HTTP first: /metrics reads the sender's counters until it stops. */
	http_stop(http);
	metrics_set_alert_sender(NULL);
	sender_stop(sender);
	mentor_config_free(cfg);
	return code;
}
