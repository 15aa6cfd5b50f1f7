/*
 * produce-files: sends each file named on the command line as one Kafka
 * message, byte for byte, including empty ones (which kcat skips), so tests
 * can send exactly the hostile messages they mean to.
 *
 * Usage: produce-files BROKERS TOPIC KEY FILE...   ("-" as KEY: no key)
 * Exits 0 only if every message was delivered.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int delivery_failures;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (msg->err) {
		fprintf(stderr, "produce-files: delivery failed: %s\n", rd_kafka_err2str(msg->err));
		delivery_failures++;
	}
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)len + 1);
		if (data && fread(data, 1, (size_t)len, f) != (size_t)len) {
			free(data);
			data = NULL;
		}
		*ret_len = (size_t)len;
	}
	fclose(f);
	return data;
}

int main(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *key;
	char errstr[512];
	rd_kafka_t *rk;
	int rc = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: produce-files BROKERS TOPIC KEY FILE...\n");
		return 2;
	}
	key = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "message.max.bytes", "2000000", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    /* One record batch per file: a consumer with small fetches then gets them a few at a time. */
	    rd_kafka_conf_set(conf, "batch.num.messages", "1", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "produce-files: %s\n", errstr);
		return 1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "produce-files: %s\n", errstr);
		return 1;
	}
	for (int i = 4; i < argc && rc == 0; i++) {
		size_t len = 0;
		char *data = read_file(argv[i], &len);
		rd_kafka_resp_err_t err;

		if (!data) {
			fprintf(stderr, "produce-files: cannot read %s\n", argv[i]);
			rc = 1;
			break;
		}
		/* Partition 0: the files arrive in command-line order. */
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(0),
					RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
					RD_KAFKA_V_VALUE(len ? data : NULL, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_END);
		free(data);
		if (err) {
			fprintf(stderr, "produce-files: %s: %s\n", argv[i], rd_kafka_err2str(err));
			rc = 1;
		}
	}
	if (rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		rc = 1;
	rd_kafka_destroy(rk);
	return rc || delivery_failures ? 1 : 0;
}
