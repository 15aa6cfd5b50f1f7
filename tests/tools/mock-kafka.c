/*
 * mock-kafka: a librdkafka mock cluster for fault injection, steered from
 * standard input. Prints its bootstrap servers on the first line of
 * standard output, then reads one command per line:
 *   topic NAME PARTITIONS   create a topic (replication 1)
 *   rtt BROKER MS           delay every request to BROKER
 *   down BROKER / up BROKER take BROKER away and back
 *   quit                    (or end of input) stop
 * and answers each with "ok" or "error: ..." on standard output.
 * It is a test double of the protocol: the main path is tested against a
 * real broker; this adds the faults a real one cannot easily be made to show.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

static const char *run_command(rd_kafka_mock_cluster_t *mc, const char *line)
{
	char name[256];
	int a, b;

	if (sscanf(line, "topic %255s %d", name, &a) == 2)
		return rd_kafka_mock_topic_create(mc, name, a, 1) ? "error: topic" : "ok";
	if (sscanf(line, "rtt %d %d", &a, &b) == 2)
		return rd_kafka_mock_broker_set_rtt(mc, a, b) ? "error: rtt" : "ok";
	if (sscanf(line, "down %d", &a) == 1)
		return rd_kafka_mock_broker_set_down(mc, a) ? "error: down" : "ok";
	if (sscanf(line, "up %d", &a) == 1)
		return rd_kafka_mock_broker_set_up(mc, a) ? "error: up" : "ok";
	return "error: unknown command";
}

int main(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	char errstr[512], line[512];
	rd_kafka_t *rk;

	/* The mock cluster lives inside an rd_kafka_t; a producer that sends nothing hosts it. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "mock-kafka: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc) {
		fprintf(stderr, "mock-kafka: cannot start a mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0) {
		printf("%s\n", run_command(mc, line));
		fflush(stdout);
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
