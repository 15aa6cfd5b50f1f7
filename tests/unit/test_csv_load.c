/*
 * The CSV loader's header check, without a server: a header it refuses
 * fails with MENTOR_ERR_INVALID before any connection, one it accepts gets
 * as far as connecting to an unreachable PostgreSQL. The load itself runs
 * against the real one in tests/integration/roster_csv.sh.
 */
#include <stdio.h>
#include <string.h>

#include "mentor/csv_load.h"
#include "test_util.h"

/* A socket directory that does not exist: libpq fails at once, with no server to wait for. */
#define UNREACHABLE "host=/nonexistent/mentord-test port=1 connect_timeout=1"

/* Loads `text` as a CSV file into table against the unreachable server; returns the code, err filled. */
static int load(enum mentor_csv_table table, const char *text, struct mentor_error *err)
{
	FILE *file = tmpfile();
	long long rows = -1;
	int rc;

	assert_non_null(file);
	assert_int_equal(fwrite(text, 1, strlen(text), file), strlen(text));
	rewind(file);
	*err = (struct mentor_error){ 0 };
	rc = mentor_csv_load(UNREACHABLE, "mentor", "test_csv_load", table, file, &rows, err);
	fclose(file);
	assert_int_equal(err->code, rc);
	assert_null(strchr(err->msg, '\n'));
	/* No load reaches the end here: the count stays untouched. */
	assert_int_equal(rows, -1);
	return rc;
}

/* The header passed: the loader went on to connect. */
static void assert_accepted(enum mentor_csv_table table, const char *text)
{
	struct mentor_error err;

	if (load(table, text, &err) != MENTOR_ERR_DB || strncmp(err.msg, "connect to PostgreSQL: ", 23) != 0)
		fail_msg("header of \"%s\" refused: %s", text, err.msg);
}

static void assert_refused(enum mentor_csv_table table, const char *text, const char *msg)
{
	struct mentor_error err;

	assert_int_equal(load(table, text, &err), MENTOR_ERR_INVALID);
	assert_string_equal(err.msg, msg);
}

static void test_table_names(void **state)
{
	enum mentor_csv_table table = MENTOR_CSV_TEAM_LEADS;
	struct mentor_error err = { 0 };

	(void)state;
	assert_int_equal(mentor_csv_table_from_name("agents", &table, &err), MENTOR_OK);
	assert_int_equal(table, MENTOR_CSV_AGENTS);
	assert_int_equal(mentor_csv_table_from_name("team_leads", &table, &err), MENTOR_OK);
	assert_int_equal(table, MENTOR_CSV_TEAM_LEADS);
	assert_int_equal(mentor_csv_table_from_name("Agents", &table, &err), MENTOR_ERR_INVALID);
	assert_string_equal(err.msg, "no table Agents to load from CSV");
	assert_int_equal(mentor_csv_table_from_name("score_events", &table, NULL), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_csv_table_from_name("", &table, NULL), MENTOR_ERR_INVALID);
	assert_int_equal(table, MENTOR_CSV_TEAM_LEADS);
}

static void test_headers_accepted(void **state)
{
	(void)state;
	assert_accepted(MENTOR_CSV_AGENTS, "agent_id,name,team_id,team_lead_id,site,language,active\nA1,x,T,L,S,en,t\n");
	/* Any order, the key alone, no data rows, no end of line. */
	assert_accepted(MENTOR_CSV_AGENTS, "site,agent_id,active\nWPG,A1,true\n");
	assert_accepted(MENTOR_CSV_AGENTS, "agent_id,programs\nA1,acme|tech\n");
	assert_accepted(MENTOR_CSV_AGENTS, "agent_id");
	/* A CRLF file, blanks around names. */
	assert_accepted(MENTOR_CSV_TEAM_LEADS, "team_lead_id,webhook_url\r\nL1,https://hooks.example/l1\r\n");
	assert_accepted(MENTOR_CSV_TEAM_LEADS, " team_lead_id , name,\tsecret_ref\n");
	assert_accepted(MENTOR_CSV_TEAM_LEADS, "secret_ref,body_format,webhook_url,name,team_lead_id\n");
}

static void test_unknown_columns_refused(void **state)
{
	(void)state;
	assert_refused(MENTOR_CSV_TEAM_LEADS, "team_lead_id,password\nL02,x\n", "unknown column 'password' for team_leads");
	/* Another table's column, a name in another case, a quoted one, one spliced into SQL. */
	assert_refused(MENTOR_CSV_AGENTS, "agent_id,webhook_url\n", "unknown column 'webhook_url' for agents");
	assert_refused(MENTOR_CSV_TEAM_LEADS, "team_lead_id,active\n", "unknown column 'active' for team_leads");
	assert_refused(MENTOR_CSV_AGENTS, "Agent_ID,name\n", "unknown column 'Agent_ID' for agents");
	assert_refused(MENTOR_CSV_AGENTS, "\"agent_id\",name\n", "unknown column '\"agent_id\"' for agents");
	assert_refused(MENTOR_CSV_AGENTS, "agent_id,name) FROM STDIN; DROP TABLE agents; --\n",
		       "unknown column 'name) FROM STDIN; DROP TABLE agents; --' for agents");
	/* Two names without a comma between them are one unknown name. */
	assert_refused(MENTOR_CSV_AGENTS, "agent_id name\n", "unknown column 'agent_id name' for agents");
	/* An empty name, between commas or after the last. */
	assert_refused(MENTOR_CSV_AGENTS, "agent_id,,name\n", "unknown column '' for agents");
	assert_refused(MENTOR_CSV_AGENTS, "agent_id,name,\n", "unknown column '' for agents");
	assert_refused(MENTOR_CSV_AGENTS, ",agent_id\n", "unknown column '' for agents");
	assert_refused(MENTOR_CSV_AGENTS, "agent_id,name,name\n", "column 'name' named twice for agents");
	assert_refused(MENTOR_CSV_AGENTS, "agent_id, agent_id\n", "column 'agent_id' named twice for agents");
}

static void test_key_required(void **state)
{
	(void)state;
	assert_refused(MENTOR_CSV_AGENTS, "name,team_id\nx,T\n", "the header must name agent_id");
	assert_refused(MENTOR_CSV_TEAM_LEADS, "name,webhook_url\n", "the header must name team_lead_id");
	/* The other table's key is not this one's. */
	assert_refused(MENTOR_CSV_TEAM_LEADS, "name\n", "the header must name team_lead_id");
	/* An empty file, an empty first line. */
	assert_refused(MENTOR_CSV_AGENTS, "", "the header must name agent_id");
	assert_refused(MENTOR_CSV_AGENTS, "\r\nagent_id\nA1\n", "the header must name agent_id");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_names),
		cmocka_unit_test(test_headers_accepted),
		cmocka_unit_test(test_unknown_columns_refused),
		cmocka_unit_test(test_key_required),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
