/*
 * mentord-report: the mentoring program report as one self-contained HTML
 * file, for people who will not open Grafana. A QA lead can email it.
 *
 * It reads the dashboard views of lib/sql/015_dashboards_programs.sql
 * (never the analytics tables behind them, so the report and the dashboard
 * cannot disagree) and draws every chart as inline SVG: no script, no style
 * sheet or font from the network, nothing to fetch when the file is opened.
 *
 * One part per program (a client program of the center), in name order,
 * each as of its own event time, with the same sections: whether mentoring
 * works (the difference in differences per behavior with its interval, the
 * naive before/after shown beside it and labelled as not the effect), the
 * trend of triggers awaiting a mentor over event time, each pairing's before
 * and after in its behavior, the mentors' own KPIs, and the active pairings.
 *
 * Its queries are lib/readback.c's (parameterized, like all of mentord's
 * SQL), every text from the database is HTML-escaped, and the file is
 * written under a temporary name and renamed, so a failed run never leaves
 * half a report in place of a good one.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/readback.h"

#define EXIT_USAGE 2
#define DEFAULT_MAX_PAIRINGS 30
#define DEFAULT_MAX_MENTORS 25
#define MAX_COLUMNS 24
#define CHART_WIDTH 760.0
#define LABEL_WIDTH 230.0
#define RIGHT_MARGIN 30.0
#define ROW_HEIGHT 24.0
#define AXIS_HEIGHT 36.0
#define LEGEND_HEIGHT 28.0
#define LABEL_BYTES 26   /* longest row label drawn; the whole text is its tooltip */
#define TREND_HEIGHT 260.0

/* Colours chosen to stay apart for the common colour-vision deficiencies. */
#define COLOR_EFFECT "#1f5fa8"
#define COLOR_NAIVE "#b05a00"
#define COLOR_BEFORE "#8a8a8a"
#define COLOR_BETTER "#1b7f3b"
#define COLOR_WORSE "#b3261e"
#define COLOR_WAITING "#b05a00"
#define COLOR_GRID "#dddddd"

struct options {
	const char *conninfo;
	const char *schema;
	const char *out_path;
	int max_pairings;   /* per behavior */
	int max_mentors;
};

/* One query's result with its columns looked up by name once, so a renamed
 * view column fails loudly instead of printing the wrong number. */
struct table {
	struct mentor_readback_table data;
	int col[MAX_COLUMNS];
	int rows;
};

struct report {
	struct mentor_readback *rb;
	FILE *out;
	const struct options *opt;
};

/* A linear map from data values to SVG x (or y) coordinates. */
struct scale {
	double lo, hi;      /* data domain */
	double from, to;    /* pixel range */
};

/* ---- command line ---- */

static void usage(FILE *to)
{
	fputs("usage: mentord-report --out FILE [options]\n"
	      "Writes the mentoring program report as one self-contained HTML file.\n"
	      "  --conninfo STR        libpq connection string (default: $MENTORD_PG, else libpq's PG* defaults)\n"
	      "  --schema NAME         mentord's schema (default: $MENTORD_SCHEMA, else mentor)\n"
	      "  --out FILE            where to write the HTML ('-' for standard output)\n"
	      "  --max-pairings N      pairings drawn per behavior, latest first (default 30)\n"
	      "  --max-mentors N       mentors drawn in the mentors' KPI charts (default 25)\n"
	      "  -h, --help            print this help\n",
	      to);
}

static bool parse_count(const char *name, const char *text, int *ret)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < 1 || value > 100000) {
		fprintf(stderr, "mentord-report: --%s must be an integer in 1..100000, not '%s'\n", name, text);
		return false;
	}
	*ret = (int)value;
	return true;
}

/* Returns 0 to go on, or the exit code (0 after --help). */
static int parse_options(int argc, char **argv, struct options *opt, bool *done)
{
	static const struct option longopts[] = {
		{"conninfo", required_argument, NULL, 'c'},
		{"schema", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"max-pairings", required_argument, NULL, 'p'},
		{"max-mentors", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *env_pg = getenv("MENTORD_PG");
	const char *env_schema = getenv("MENTORD_SCHEMA");
	int c;

	*done = false;
	opt->conninfo = env_pg ? env_pg : "";
	opt->schema = env_schema && *env_schema ? env_schema : "mentor";
	opt->out_path = NULL;
	opt->max_pairings = DEFAULT_MAX_PAIRINGS;
	opt->max_mentors = DEFAULT_MAX_MENTORS;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt->conninfo = optarg; break;
		case 's': opt->schema = optarg; break;
		case 'o': opt->out_path = optarg; break;
		case 'p':
			if (!parse_count("max-pairings", optarg, &opt->max_pairings))
				return EXIT_USAGE;
			break;
		case 'm':
			if (!parse_count("max-mentors", optarg, &opt->max_mentors))
				return EXIT_USAGE;
			break;
		case 'h':
			usage(stdout);
			*done = true;
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !opt->out_path || !*opt->schema) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- database ---- */

/*
 * Takes the outcome of one readback query (rc, and t->data filled on
 * MENTOR_OK) and looks up the named columns. On failure prints what was
 * being read and why, and returns false with nothing held.
 */
static bool take_table(struct table *t, const char *what, int rc, const struct mentor_error *err,
		       const char *const *columns)
{
	if (rc != MENTOR_OK) {
		fprintf(stderr, "mentord-report: reading %s: %s\n", what, err->msg);
		*t = (struct table){0};
		return false;
	}
	for (int i = 0; columns && columns[i]; i++) {
		if (i >= MAX_COLUMNS) {
			fprintf(stderr, "mentord-report: reading %s: too many columns\n", what);
			goto fail;
		}
		t->col[i] = mentor_readback_column(&t->data, columns[i]);
		if (t->col[i] < 0) {
			fprintf(stderr, "mentord-report: reading %s: no column %s\n", what, columns[i]);
			goto fail;
		}
	}
	t->rows = t->data.rows;
	return true;
fail:
	mentor_readback_table_free(&t->data);
	t->rows = 0;
	return false;
}

static bool is_null(const struct table *t, int row, int c)
{
	return mentor_readback_cell(&t->data, row, t->col[c]) == NULL;
}

static const char *text_at(const struct table *t, int row, int c)
{
	return is_null(t, row, c) ? "" : mentor_readback_cell(&t->data, row, t->col[c]);
}

/* NaN for NULL, so that one test (isfinite) covers a missing number. */
static double number_at(const struct table *t, int row, int c)
{
	return is_null(t, row, c) ? NAN : strtod(mentor_readback_cell(&t->data, row, t->col[c]), NULL);
}

/* ---- HTML output ---- */

static void put(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct report *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
}

/* Every text that came from the database or the command line goes through
 * here: agent names and ids are data, never markup. */
static void put_escaped(struct report *r, const char *text)
{
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", r->out); break;
		case '<': fputs("&lt;", r->out); break;
		case '>': fputs("&gt;", r->out); break;
		case '"': fputs("&quot;", r->out); break;
		case '\'': fputs("&#39;", r->out); break;
		default: fputc(*p, r->out); break;
		}
	}
}

/* Decimals that suit a scale: a share (0..1) needs 3, CSAT (1..5) 2, AQM (0..100) 1. */
static int decimals_for(double width)
{
	if (!isfinite(width) || width <= 1.0)
		return 3;
	return width <= 10.0 ? 2 : 1;
}

/* A number, or an en dash for a missing one. */
static void put_number(struct report *r, double value, int decimals)
{
	if (isfinite(value))
		put(r, "%.*f", decimals, value);
	else
		fputs("&#8211;", r->out);
}

/* A signed difference: "+0.12", "-3.4". */
static void put_signed(struct report *r, double value, int decimals)
{
	if (isfinite(value))
		put(r, "%+.*f", decimals, value);
	else
		fputs("&#8211;", r->out);
}

static void put_interval(struct report *r, double lo, double hi, int decimals)
{
	if (!isfinite(lo) || !isfinite(hi)) {
		fputs("no interval", r->out);
		return;
	}
	put(r, "[%+.*f, %+.*f]", decimals, lo, decimals, hi);
}

/* The first 10 characters of a timestamp: its UTC date (mentord's session is UTC). */
static void put_date(struct report *r, const char *timestamp)
{
	char day[11];

	snprintf(day, sizeof day, "%s", timestamp);
	put_escaped(r, day);
}

enum { G_PROGRAM, G_NOW };

static const char *const PROGRAM_COLUMNS[] = {"program", "now_at", NULL};

/* The page's head and the list of programs, each linked to its part (by number: a program's name is data). */
static void write_head(struct report *r, const struct table *programs)
{
	put(r, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	       "<title>mentord program report</title>\n<style>\n"
	       "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;max-width:820px;"
	       "margin:24px auto;padding:0 16px;line-height:1.4}\n"
	       "h1{font-size:1.6em;margin-bottom:0}h2{margin-top:2.5em;border-bottom:2px solid " COLOR_EFFECT "}"
	       "h3{margin-top:2em;border-bottom:1px solid #ccc}\n"
	       "table{border-collapse:collapse;font-size:.8em;margin:.5em 0;width:100%%}"
	       "td,th{border-bottom:1px solid #e4e4e4;padding:3px 6px;text-align:left;vertical-align:bottom}"
	       "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.n{white-space:nowrap}\n"
	       ".note{color:#555;font-size:.9em}.naive{color:" COLOR_NAIVE "}.effect{color:" COLOR_EFFECT "}\n"
	       "svg{display:block;margin:.5em 0;font-size:12px}svg text{fill:#222}\n"
	       "</style>\n</head>\n<body>\n<h1>Mentoring program report</h1>\n<p class=\"note\">Schema <b>");
	put_escaped(r, r->opt->schema);
	put(r, "</b>. One part per program, in name order, each as of its own event time: the newest event the "
	       "analytics evaluated in it, not the time this file was written. Scores are on each metric's native "
	       "scale (AQM 0&#8211;100, CSAT and survey items 1&#8211;5, CSAT top-2 as a share).</p>\n");
	if (programs->rows == 0) {
		put(r, "<p><i>The analytics have not run: no program to report yet.</i></p>\n");
		return;
	}
	put(r, "<ul>\n");
	for (int i = 0; i < programs->rows; i++) {
		put(r, "<li><a href=\"#program-%d\">", i + 1);
		put_escaped(r, text_at(programs, i, G_PROGRAM));
		put(r, "</a></li>\n");
	}
	put(r, "</ul>\n");
}

/* A program's heading and its event time. */
static void write_program_head(struct report *r, int number, const char *program, const char *now_at)
{
	put(r, "<h2 id=\"program-%d\">Program ", number);
	put_escaped(r, program);
	put(r, "</h2>\n<p class=\"note\">Figures as of event time <b>");
	put_escaped(r, *now_at ? now_at : "(no event evaluated yet)");
	put(r, "</b>.</p>\n");
}

/* ---- SVG helpers ---- */

static double map(const struct scale *s, double v)
{
	if (s->hi <= s->lo)
		return (s->from + s->to) / 2.0;
	return s->from + (v - s->lo) / (s->hi - s->lo) * (s->to - s->from);
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks. */
static double tick_step(double lo, double hi, int count)
{
	const double raw = (hi - lo) / count;
	const double magnitude = pow(10.0, floor(log10(raw)));
	const double fraction = raw / magnitude;

	if (!isfinite(raw) || raw <= 0.0)
		return 1.0;
	if (fraction < 1.5)
		return magnitude;
	if (fraction < 3.5)
		return 2.0 * magnitude;
	if (fraction < 7.5)
		return 5.0 * magnitude;
	return 10.0 * magnitude;
}

/* Widens [lo, hi] to tick boundaries so the axis ends on labelled values. */
static void nice_domain(double *lo, double *hi, int count)
{
	double step;

	if (!(*hi > *lo)) {
		*lo -= 1.0;
		*hi += 1.0;
	}
	step = tick_step(*lo, *hi, count);
	*lo = floor(*lo / step) * step;
	*hi = ceil(*hi / step) * step;
}

/* Vertical grid lines and labels of a horizontal axis at y. */
static void svg_x_axis(struct report *r, const struct scale *x, double top, double y, const char *unit)
{
	const double step = tick_step(x->lo, x->hi, 6);
	const int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step));

	for (double v = ceil(x->lo / step) * step; v <= x->hi + step * 1e-9; v += step) {
		const double px = map(x, v);

		put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_GRID "\"/>\n", px, top,
		    px, y);
		put(r, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", px, y + 14.0, decimals,
		    fabs(v) < step * 1e-9 ? 0.0 : v);
	}
	put(r, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" class=\"note\">", (x->from + x->to) / 2.0,
	    y + 30.0);
	put_escaped(r, unit);
	put(r, "</text>\n");
}

static void svg_open(struct report *r, double height, const char *label)
{
	put(r, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	       "role=\"img\" aria-label=\"",
	    CHART_WIDTH, height, CHART_WIDTH, height);
	put_escaped(r, label);
	put(r, "\">\n<title>");
	put_escaped(r, label);
	put(r, "</title>\n");
}

/* Copies at most max bytes of src, never cutting a UTF-8 sequence, and
 * marks a cut with an ellipsis: a long name must not run into the chart. */
static void shorten(char *dst, size_t size, const char *src, size_t max)
{
	size_t n = strlen(src);

	if (max + 4 > size)
		max = size - 4;
	if (n <= max) {
		memcpy(dst, src, n + 1);
		return;
	}
	n = max;
	while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, src, n);
	memcpy(dst + n, "\xE2\x80\xA6", 4);  /* U+2026 and the terminating NUL */
}

static void svg_row_label(struct report *r, double y, const char *text, const char *small)
{
	char label[LABEL_BYTES + 4];

	shorten(label, sizeof label, text, LABEL_BYTES);
	put(r, "<text x=\"4\" y=\"%.1f\"><title>", y + 4.0);
	put_escaped(r, text);
	put(r, "</title>");
	put_escaped(r, label);
	if (small && *small) {
		put(r, " <tspan class=\"note\" fill=\"#666\">");
		put_escaped(r, small);
		put(r, "</tspan>");
	}
	put(r, "</text>\n");
}

/* A hollow diamond: the naive before/after delta, deliberately not a dot. */
static void svg_diamond(struct report *r, double x, double y, const char *title)
{
	put(r, "<path d=\"M%.1f %.1fl6 6l-6 6l-6 -6z\" fill=\"white\" stroke=\"" COLOR_NAIVE
	       "\" stroke-width=\"2\"><title>",
	    x, y - 6.0);
	put_escaped(r, title);
	put(r, "</title></path>\n");
}

/* ---- section: the effect per behavior ---- */

enum { E_BEHAVIOR, E_PAIRED, E_COMPARISON, E_DID, E_LO, E_HI, E_NAIVE, E_COMP_DELTA, E_VERDICT, E_MIN, E_MAX, E_CUPED };

static const char *const EFFECT_COLUMNS[] = {
	"behavior", "paired_n", "comparison_n", "did_effect", "did_ci_low", "did_ci_high",
	"naive_delta_not_effect", "comparison_delta", "verdict", "scale_min", "scale_max", "cuped", NULL,
};

/* Effects of behaviors on different scales share one axis in percent of
 * each behavior's scale width: 5 points of AQM's 0..100 and 0.2 of CSAT's
 * 1..5 are both 5%. */
static double percent_of_scale(const struct table *t, int row, double value)
{
	const double width = number_at(t, row, E_MAX) - number_at(t, row, E_MIN);

	return width > 0.0 ? value / width * 100.0 : NAN;
}

static void effect_domain(const struct table *t, struct scale *x)
{
	static const int fields[] = {E_DID, E_LO, E_HI, E_NAIVE};

	x->lo = 0.0;
	x->hi = 0.0;
	for (int i = 0; i < t->rows; i++) {
		for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
			const double v = percent_of_scale(t, i, number_at(t, i, fields[f]));

			if (isfinite(v)) {
				x->lo = fmin(x->lo, v);
				x->hi = fmax(x->hi, v);
			}
		}
	}
	nice_domain(&x->lo, &x->hi, 6);
	x->from = LABEL_WIDTH;
	/* Room on the right for "no estimate". */
	x->to = CHART_WIDTH - RIGHT_MARGIN - 60.0;
}

static void effect_row(struct report *r, const struct table *t, int i, const struct scale *x, double y)
{
	const double did = percent_of_scale(t, i, number_at(t, i, E_DID));
	const double lo = percent_of_scale(t, i, number_at(t, i, E_LO));
	const double hi = percent_of_scale(t, i, number_at(t, i, E_HI));
	const double naive = percent_of_scale(t, i, number_at(t, i, E_NAIVE));
	char small[64];

	snprintf(small, sizeof small, "%s paired, %s comparison", text_at(t, i, E_PAIRED), text_at(t, i, E_COMPARISON));
	svg_row_label(r, y, text_at(t, i, E_BEHAVIOR), small);
	if (isfinite(lo) && isfinite(hi)) {
		put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_EFFECT
		       "\" stroke-width=\"2\"/>\n",
		    map(x, lo), y, map(x, hi), y);
		put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_EFFECT "\"/>\n",
		    map(x, lo), y - 5.0, map(x, lo), y + 5.0);
		put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_EFFECT "\"/>\n",
		    map(x, hi), y - 5.0, map(x, hi), y + 5.0);
	}
	if (isfinite(naive))
		svg_diamond(r, map(x, naive), y, "naive before/after (not the effect)");
	if (isfinite(did)) {
		put(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"" COLOR_EFFECT "\"><title>effect (DiD) ",
		    map(x, did), y);
		put_escaped(r, text_at(t, i, E_VERDICT));
		put(r, "</title></circle>\n");
	} else {
		/* Say so where the dot would be, so that a lone diamond is not read as the effect. */
		put(r, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#666\" "
		       "font-style=\"italic\">no estimate</text>\n",
		    x->to, y + 4.0);
	}
}

static void effect_chart(struct report *r, const struct table *t)
{
	const double top = LEGEND_HEIGHT;
	const double height = top + t->rows * ROW_HEIGHT + AXIS_HEIGHT + 8.0;
	struct scale x;

	effect_domain(t, &x);
	svg_open(r, height, "Effect of mentoring per behavior: difference in differences with 95% interval");
	put(r, "<circle cx=\"10\" cy=\"10\" r=\"5\" fill=\"" COLOR_EFFECT "\"/>"
	       "<text x=\"20\" y=\"14\">effect (difference in differences) with 95%% interval</text>\n");
	svg_diamond(r, 400.0, 10.0, "naive before/after (not the effect)");
	put(r, "<text x=\"412\" y=\"14\" fill=\"" COLOR_NAIVE "\">naive before/after (not the effect)</text>\n");
	svg_x_axis(r, &x, top - 6.0, top + t->rows * ROW_HEIGHT, "change, % of the behavior's scale");
	put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" stroke-dasharray=\"4 3\"/>\n",
	    map(&x, 0.0), top - 6.0, map(&x, 0.0), top + t->rows * ROW_HEIGHT);
	for (int i = 0; i < t->rows; i++)
		effect_row(r, t, i, &x, top + (i + 0.5) * ROW_HEIGHT);
	put(r, "</svg>\n");
}

static void effect_table(struct report *r, const struct table *t)
{
	put(r, "<table><tr><th>behavior</th><th class=\"n\">paired</th><th class=\"n\">comparison</th>"
	       "<th class=\"n effect\">effect (DiD)</th><th class=\"n effect\">95%% interval</th><th>verdict</th>"
	       "<th class=\"n\">comparison before/after</th>"
	       "<th class=\"n naive\">naive before/after (not the effect)</th></tr>\n");
	for (int i = 0; i < t->rows; i++) {
		const int d = decimals_for(number_at(t, i, E_MAX) - number_at(t, i, E_MIN));

		put(r, "<tr><td>");
		put_escaped(r, text_at(t, i, E_BEHAVIOR));
		put(r, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">", text_at(t, i, E_PAIRED),
		    text_at(t, i, E_COMPARISON));
		put_signed(r, number_at(t, i, E_DID), d);
		put(r, "</td><td class=\"n\">");
		put_interval(r, number_at(t, i, E_LO), number_at(t, i, E_HI), d);
		put(r, "</td><td>");
		put_escaped(r, text_at(t, i, E_VERDICT));
		if (isfinite(number_at(t, i, E_DID)) && strcmp(text_at(t, i, E_CUPED), "t") == 0)
			put(r, " (CUPED)");
		put(r, "</td><td class=\"n\">");
		put_signed(r, number_at(t, i, E_COMP_DELTA), d);
		put(r, "</td><td class=\"n naive\">");
		put_signed(r, number_at(t, i, E_NAIVE), d);
		put(r, "</td></tr>\n");
	}
	put(r, "</table>\n");
}

static bool write_effect(struct report *r, const char *program)
{
	struct mentor_error err;
	struct table t = {0};

	if (!take_table(&t, "the program effect", mentor_readback_program_effect(r->rb, program, &t.data, &err),
			&err, EFFECT_COLUMNS))
		return false;
	put(r, "<h3>Does mentoring work?</h3>\n<p>For each behavior, the mentees' change in that behavior minus "
	       "the change of comparable low scorers who were not paired (the comparison group): the "
	       "<span class=\"effect\">difference in differences</span>, with its 95%% interval. Agents picked "
	       "for scoring low improve on average even without help (regression to the mean), so the mentees' "
	       "own <span class=\"naive\">naive before/after</span> change overstates the effect; it is shown "
	       "beside it only for reference. Only pairings whose after window has closed count.</p>\n");
	if (t.rows == 0)
		put(r, "<p><i>No behavior has final results yet.</i></p>\n");
	else {
		effect_chart(r, &t);
		effect_table(r, &t);
	}
	mentor_readback_table_free(&t.data);
	return true;
}

/* ---- section: the trend of triggers awaiting a mentor ---- */

enum { T_DAY, T_AWAITING, T_WAITING, T_FIRED };

static const char *const TREND_COLUMNS[] = {"day", "awaiting", "waiting", "fired", NULL};

static void trend_polyline(struct report *r, const struct table *t, int c, const struct scale *x,
			   const struct scale *y, const char *color)
{
	put(r, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
	for (int i = 0; i < t->rows; i++)
		put(r, "%.1f,%.1f ", map(x, i), map(y, number_at(t, i, c)));
	put(r, "\"/>\n");
}

/* About six date labels along the bottom, whatever the number of days. */
static void trend_dates(struct report *r, const struct table *t, const struct scale *x, double y)
{
	const int every = t->rows > 6 ? (t->rows + 5) / 6 : 1;

	for (int i = 0; i < t->rows; i += every) {
		put(r, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", map(x, i), y + 14.0);
		put_escaped(r, text_at(t, i, T_DAY));
		put(r, "</text>\n");
	}
}

static void trend_chart(struct report *r, const struct table *t)
{
	const double top = LEGEND_HEIGHT, bottom = TREND_HEIGHT - AXIS_HEIGHT;
	struct scale x = {0.0, t->rows > 1 ? t->rows - 1 : 1, 60.0, CHART_WIDTH - RIGHT_MARGIN};
	struct scale y = {0.0, 0.0, bottom, top};
	double step;

	for (int i = 0; i < t->rows; i++)
		y.hi = fmax(y.hi, number_at(t, i, T_AWAITING));
	nice_domain(&y.lo, &y.hi, 5);
	step = tick_step(y.lo, y.hi, 5);
	svg_open(r, TREND_HEIGHT, "Triggers awaiting a mentor at the end of each day, event time");
	put(r, "<line x1=\"20\" y1=\"10\" x2=\"40\" y2=\"10\" stroke=\"" COLOR_EFFECT "\" stroke-width=\"2\"/>"
	       "<text x=\"46\" y=\"14\">awaiting a mentor (open or waiting)</text>"
	       "<line x1=\"300\" y1=\"10\" x2=\"320\" y2=\"10\" stroke=\"" COLOR_WAITING "\" stroke-width=\"2\"/>"
	       "<text x=\"326\" y=\"14\">of which waiting (no possible mentor at a round)</text>\n");
	for (double v = y.lo; v <= y.hi + step * 1e-9; v += step) {
		put(r, "<line x1=\"60\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_GRID "\"/>", map(&y, v),
		    x.to, map(&y, v));
		put(r, "<text x=\"54\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", map(&y, v) + 4.0, v);
	}
	trend_polyline(r, t, T_AWAITING, &x, &y, COLOR_EFFECT);
	trend_polyline(r, t, T_WAITING, &x, &y, COLOR_WAITING);
	trend_dates(r, t, &x, bottom);
	put(r, "</svg>\n");
}

static bool write_trend(struct report *r, const char *program)
{
	struct mentor_error err;
	struct table t = {0};
	long fired = 0;

	if (!take_table(&t, "the trigger trend", mentor_readback_trigger_trend(r->rb, program, &t.data, &err),
			&err, TREND_COLUMNS))
		return false;
	for (int i = 0; i < t.rows; i++)
		fired += strtol(text_at(&t, i, T_FIRED), NULL, 10);
	put(r, "<h3>Triggers awaiting a mentor</h3>\n<p>How many triggers (low scores and fatal behaviors) "
	       "were waiting for a mentor at the end of each day of event time. A trigger awaits from the moment "
	       "it fires until it is paired or resolved.</p>\n");
	if (t.rows == 0)
		put(r, "<p><i>No trigger has fired yet.</i></p>\n");
	else {
		trend_chart(r, &t);
		put(r, "<p class=\"note\">%ld triggers fired from ", fired);
		put_escaped(r, text_at(&t, 0, T_DAY));
		put(r, " to ");
		put_escaped(r, text_at(&t, t.rows - 1, T_DAY));
		put(r, "; %s awaiting at the end.</p>\n", text_at(&t, t.rows - 1, T_AWAITING));
	}
	mentor_readback_table_free(&t.data);
	return true;
}

/* ---- dumbbells: one row per agent, a before dot and an after dot ---- */

struct dumbbell {
	const char *label, *small;
	double before, after;
	bool final;
};

static void dumbbell_row(struct report *r, const struct dumbbell *d, const struct scale *x, double y)
{
	const bool better = d->after >= d->before;

	svg_row_label(r, y, d->label, d->small);
	if (isfinite(d->before) && isfinite(d->after))
		put(r, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
		    map(x, d->before), y, map(x, d->after), y, better ? COLOR_BETTER : COLOR_WORSE,
		    d->final ? "" : " stroke-dasharray=\"3 2\"");
	if (isfinite(d->before))
		put(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"" COLOR_BEFORE "\"><title>before</title></circle>\n",
		    map(x, d->before), y);
	if (isfinite(d->after))
		put(r, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>after%s</title></circle>\n",
		    map(x, d->after), y, better ? COLOR_BETTER : COLOR_WORSE, d->final ? "" : " (provisional)");
}

static void dumbbell_legend(struct report *r)
{
	put(r, "<circle cx=\"10\" cy=\"10\" r=\"4\" fill=\"" COLOR_BEFORE "\"/><text x=\"18\" y=\"14\">before</text>"
	       "<circle cx=\"80\" cy=\"10\" r=\"4\" fill=\"" COLOR_BETTER "\"/>"
	       "<circle cx=\"92\" cy=\"10\" r=\"4\" fill=\"" COLOR_WORSE "\"/><text x=\"100\" y=\"14\">after "
	       "(up, down)</text>"
	       "<line x1=\"220\" y1=\"10\" x2=\"244\" y2=\"10\" stroke=\"#666\" stroke-width=\"2\" "
	       "stroke-dasharray=\"3 2\"/><text x=\"250\" y=\"14\">after window still open (provisional)</text>\n");
}

/* The axis spans the metric's whole native scale: honest about how big a
 * change is, and the same for every chart of that metric. */
static void dumbbell_chart(struct report *r, const struct dumbbell *rows, int n, double scale_min,
			   double scale_max, const char *label, const char *unit)
{
	const double top = LEGEND_HEIGHT;
	const double height = top + n * ROW_HEIGHT + AXIS_HEIGHT + 8.0;
	struct scale x = {scale_min, scale_max, LABEL_WIDTH, CHART_WIDTH - RIGHT_MARGIN};

	if (!(scale_max > scale_min)) {
		x.lo = 0.0;
		x.hi = 1.0;
	}
	svg_open(r, height, label);
	dumbbell_legend(r);
	svg_x_axis(r, &x, top - 6.0, top + n * ROW_HEIGHT, unit);
	for (int i = 0; i < n; i++)
		dumbbell_row(r, &rows[i], &x, top + (i + 0.5) * ROW_HEIGHT);
	put(r, "</svg>\n");
}

/* ---- section: each pairing's before and after ---- */

enum { P_BEHAVIOR, P_PAIRING, P_MENTEE, P_NAME, P_MENTOR, P_STARTED, P_BEFORE, P_AFTER, P_DELTA, P_LO, P_HI,
       P_FINAL, P_MIN, P_MAX, P_RANK, P_TOTAL, P_STATUS };

static const char *const PAIRING_COLUMNS[] = {
	"behavior", "pairing_id", "agent_id", "name", "partner_id", "started_at", "before_mean", "after_mean",
	"delta", "ci_low", "ci_high", "final", "scale_min", "scale_max", "rank", "total", "pairing_status", NULL,
};

/* Rows [from, to) of t are one behavior's pairings. */
static bool pairings_behavior(struct report *r, const struct table *t, int from, int to)
{
	struct dumbbell *rows = calloc((size_t)(to - from), sizeof *rows);
	char (*small)[96] = calloc((size_t)(to - from), sizeof *small);
	char title[160];
	bool ok = false;

	if (!rows || !small) {
		fprintf(stderr, "mentord-report: out of memory\n");
		goto out;
	}
	for (int i = from; i < to; i++) {
		struct dumbbell *d = &rows[i - from];

		/* The id beside the name: names repeat in a large center. */
		snprintf(small[i - from], sizeof small[i - from], "%.12s %.10s%s", text_at(t, i, P_MENTEE),
			 text_at(t, i, P_STARTED), strcmp(text_at(t, i, P_STATUS), "active") == 0 ? " active" : "");
		d->label = *text_at(t, i, P_NAME) ? text_at(t, i, P_NAME) : text_at(t, i, P_MENTEE);
		d->small = small[i - from];
		d->before = number_at(t, i, P_BEFORE);
		d->after = number_at(t, i, P_AFTER);
		d->final = strcmp(text_at(t, i, P_FINAL), "t") == 0;
	}
	put(r, "<h4>");
	put_escaped(r, text_at(t, from, P_BEHAVIOR));
	put(r, "</h4>\n<p class=\"note\">%d latest of %s pairings.</p>\n", to - from, text_at(t, from, P_TOTAL));
	snprintf(title, sizeof title, "Mentees' %s before and after their pairing", text_at(t, from, P_BEHAVIOR));
	dumbbell_chart(r, rows, to - from, number_at(t, from, P_MIN), number_at(t, from, P_MAX), title,
		       "mean in the behavior, native scale");
	ok = true;
out:
	free(rows);
	free(small);
	return ok;
}

static bool write_pairings(struct report *r, const char *program)
{
	struct mentor_error err;
	struct table t = {0};
	bool ok = true;
	int from = 0;

	if (!take_table(&t, "the pairings' KPIs",
			mentor_readback_pairing_kpis(r->rb, program, r->opt->max_pairings, &t.data, &err), &err,
			PAIRING_COLUMNS))
		return false;
	put(r, "<h3>Each pairing: the mentee before and after</h3>\n<p>The mentee's mean in the targeted "
	       "behavior in the window before the pairing started and in the window after. One agent's change "
	       "is not the program's effect (see above): many low scorers rise without help.</p>\n");
	if (t.rows == 0)
		put(r, "<p><i>No pairing yet.</i></p>\n");
	for (int i = 1; ok && i <= t.rows; i++) {
		if (i == t.rows || strcmp(text_at(&t, i, P_BEHAVIOR), text_at(&t, from, P_BEHAVIOR)) != 0) {
			ok = pairings_behavior(r, &t, from, i);
			from = i;
		}
	}
	mentor_readback_table_free(&t.data);
	return ok;
}

/* ---- section: the mentors' own KPIs ---- */

enum { M_MENTOR, M_NAME, M_PAIRINGS, M_BEFORE, M_AFTER, M_DELTA, M_MIN, M_MAX, M_FINAL };

static const char *const MENTOR_COLUMNS[] = {
	"mentor_id", "name", "pairings", "avg_before_mean", "avg_after_mean", "avg_delta", "scale_min", "scale_max",
	"final_pairings", NULL,
};

static bool mentors_metric(struct report *r, const char *program, const char *metric, const char *label)
{
	struct mentor_error err;
	struct dumbbell *rows = NULL;
	char (*small)[48] = NULL;
	struct table t = {0};
	bool ok = false;

	if (!take_table(&t, "the mentors' KPIs",
			mentor_readback_mentor_kpis(r->rb, program, metric, r->opt->max_mentors, &t.data, &err), &err,
			MENTOR_COLUMNS))
		return false;
	put(r, "<h4>");
	put_escaped(r, label);
	put(r, "</h4>\n");
	if (t.rows == 0) {
		put(r, "<p><i>No mentor data yet.</i></p>\n");
		ok = true;
		goto out;
	}
	rows = calloc((size_t)t.rows, sizeof *rows);
	small = calloc((size_t)t.rows, sizeof *small);
	if (!rows || !small) {
		fprintf(stderr, "mentord-report: out of memory\n");
		goto out;
	}
	for (int i = 0; i < t.rows; i++) {
		snprintf(small[i], sizeof small[i], "%.12s, %s pairing%s", text_at(&t, i, M_MENTOR),
			 text_at(&t, i, M_PAIRINGS), strcmp(text_at(&t, i, M_PAIRINGS), "1") == 0 ? "" : "s");
		rows[i].label = *text_at(&t, i, M_NAME) ? text_at(&t, i, M_NAME) : text_at(&t, i, M_MENTOR);
		rows[i].small = small[i];
		rows[i].before = number_at(&t, i, M_BEFORE);
		rows[i].after = number_at(&t, i, M_AFTER);
		rows[i].final = strcmp(text_at(&t, i, M_FINAL), text_at(&t, i, M_PAIRINGS)) == 0;
	}
	dumbbell_chart(r, rows, t.rows, number_at(&t, 0, M_MIN), number_at(&t, 0, M_MAX), label,
		       "mean over the mentor's pairings, native scale");
	ok = true;
out:
	free(rows);
	free(small);
	mentor_readback_table_free(&t.data);
	return ok;
}

static bool write_mentors(struct report *r, const char *program)
{
	put(r, "<h3>The mentors' own KPIs</h3>\n<p>Does mentoring cost the mentors? Each mentor's own mean "
	       "before and after, averaged over the pairings they mentored (the most active mentors first). "
	       "There is no comparison group for mentors: read it as a description, not an effect.</p>\n");
	return mentors_metric(r, program, "csat", "Mentors' CSAT (1-5)") &&
	       mentors_metric(r, program, "aqm", "Mentors' AQM overall (0-100)");
}

/* ---- section: active pairings ---- */

enum { A_BEHAVIOR, A_MENTEE, A_MENTEE_NAME, A_MENTOR, A_MENTOR_NAME, A_STARTED, A_REMAINING, A_DELTA, A_LO, A_HI,
       A_MIN, A_MAX };

static const char *const ACTIVE_COLUMNS[] = {
	"behavior", "mentee_id", "mentee_name", "mentor_id", "mentor_name", "started_at", "days_remaining",
	"target_delta", "target_ci_low", "target_ci_high", "target_scale_min", "target_scale_max", NULL,
};

static void put_agent(struct report *r, const char *name, const char *id)
{
	put_escaped(r, *name ? name : id);
	put(r, " <span class=\"note\">");
	put_escaped(r, id);
	put(r, "</span>");
}

static bool write_active(struct report *r, const char *program)
{
	struct mentor_error err;
	struct table t = {0};

	if (!take_table(&t, "the active pairings", mentor_readback_active_pairings(r->rb, program, &t.data, &err),
			&err, ACTIVE_COLUMNS))
		return false;
	put(r, "<h3>Active pairings (%d)</h3>\n<p>Days remaining count in event time. The mentee's change so "
	       "far is provisional: the after window is still open.</p>\n", t.rows);
	if (t.rows > 0)
		put(r, "<table><tr><th>behavior</th><th>mentee</th><th>mentor</th><th>started</th>"
		       "<th class=\"n\">days left</th><th class=\"n\">mentee change so far</th>"
		       "<th class=\"n\">95%% interval</th></tr>\n");
	for (int i = 0; i < t.rows; i++) {
		const int d = decimals_for(number_at(&t, i, A_MAX) - number_at(&t, i, A_MIN));

		put(r, "<tr><td>");
		put_escaped(r, text_at(&t, i, A_BEHAVIOR));
		put(r, "</td><td>");
		put_agent(r, text_at(&t, i, A_MENTEE_NAME), text_at(&t, i, A_MENTEE));
		put(r, "</td><td>");
		put_agent(r, text_at(&t, i, A_MENTOR_NAME), text_at(&t, i, A_MENTOR));
		put(r, "</td><td>");
		put_date(r, text_at(&t, i, A_STARTED));
		put(r, "</td><td class=\"n\">");
		put_number(r, number_at(&t, i, A_REMAINING), 1);
		put(r, "</td><td class=\"n\">");
		put_signed(r, number_at(&t, i, A_DELTA), d);
		put(r, "</td><td class=\"n\">");
		put_interval(r, number_at(&t, i, A_LO), number_at(&t, i, A_HI), d);
		put(r, "</td></tr>\n");
	}
	if (t.rows > 0)
		put(r, "</table>\n");
	mentor_readback_table_free(&t.data);
	return true;
}

/* ---- the whole report ---- */

static bool write_program(struct report *r, const char *program)
{
	return write_effect(r, program) && write_trend(r, program) && write_pairings(r, program) &&
	       write_mentors(r, program) && write_active(r, program);
}

static bool write_report(struct report *r)
{
	struct mentor_error err;
	struct table programs = {0};
	bool ok = true;

	if (!take_table(&programs, "the programs", mentor_readback_programs(r->rb, &programs.data, &err), &err,
			PROGRAM_COLUMNS))
		return false;
	write_head(r, &programs);
	for (int i = 0; ok && i < programs.rows; i++) {
		write_program_head(r, i + 1, text_at(&programs, i, G_PROGRAM), text_at(&programs, i, G_NOW));
		ok = write_program(r, text_at(&programs, i, G_PROGRAM));
	}
	if (ok)
		put(r, "<p class=\"note\">Written by mentord-report from the views of docs/dashboards.md, where the "
		       "SQL to recompute every figure from score_events is.</p>\n</body>\n</html>\n");
	mentor_readback_table_free(&programs.data);
	return ok;
}

/* Writes to PATH.tmp and renames it over PATH only once complete, so a reader
 * never sees half a report. "-" writes to standard output. */
static int run(const struct options *opt)
{
	struct report r = {.opt = opt};
	struct mentor_error err;
	char *tmp_path = NULL;
	int code = 1;

	if (mentor_readback_open(opt->conninfo, opt->schema, NULL, true, &r.rb, &err) != MENTOR_OK) {
		fprintf(stderr, "mentord-report: %s\n", err.msg);
		goto out;
	}
	if (strcmp(opt->out_path, "-") == 0)
		r.out = stdout;
	else {
		const size_t size = strlen(opt->out_path) + 5;

		tmp_path = malloc(size);
		if (!tmp_path) {
			fprintf(stderr, "mentord-report: out of memory\n");
			goto out;
		}
		snprintf(tmp_path, size, "%s.tmp", opt->out_path);
		r.out = fopen(tmp_path, "w");
		if (!r.out) {
			fprintf(stderr, "mentord-report: %s: %s\n", tmp_path, strerror(errno));
			goto out;
		}
	}
	if (!write_report(&r))
		goto out;
	/* Write errors are sticky in the stream and surface at the flush. */
	if (fflush(r.out) != 0 || ferror(r.out)) {
		fprintf(stderr, "mentord-report: %s: write failed: %s\n", opt->out_path, strerror(errno));
		goto out;
	}
	if (r.out != stdout) {
		const int closed = fclose(r.out);

		r.out = NULL;
		if (closed != 0 || rename(tmp_path, opt->out_path) != 0) {
			fprintf(stderr, "mentord-report: %s: %s\n", opt->out_path, strerror(errno));
			goto out;
		}
	}
	fprintf(stderr, "mentord-report: wrote %s\n", opt->out_path);
	code = 0;
out:
	if (r.out && r.out != stdout)
		fclose(r.out);
	if (code != 0 && tmp_path)
		remove(tmp_path);
	free(tmp_path);
	mentor_readback_close(r.rb);
	return code;
}

int main(int argc, char **argv)
{
	struct options opt;
	bool done;
	const int code = parse_options(argc, argv, &opt, &done);

	if (code != 0 || done)
		return code;
	return run(&opt);
}
