/*
 * Statistics core: KPI windows, moments, empirical Bayes shrinkage, the
 * low/ok/high decision, quantiles, Welch intervals and the program effect.
 * See include/mentor/stats.h for the formulas; comments here say why.
 */
#include "mentor/stats.h"

#include <float.h>
#include <math.h>

/* Longest window of any kind: ten years is far beyond any QA practice. */
#define MAX_DAYS 3660

void mentor_stats_params_init(struct mentor_stats_params *p)
{
	*p = (struct mentor_stats_params){
		.shrink = {
			.window_days = 28,
			.k = 10.0,
			.estimate_k = false,
			.estimate_min_agents = 5,
			.confidence = 0.90,
		},
		.status = {
			.low_threshold = 0.60,
			.hysteresis = 0.05,
			.min_n = 8,
			.mentor_min_n = 20,
			.high_threshold = 0.85,
			.persist_x = 0,
			.persist_y = 0,
		},
		.kpi = {
			.before_days = 28,
			.after_days = 28,
			.washout_days = 0,
			.confidence = 0.95,
		},
	};
}

static bool is_unit(double x)
{
	return x >= 0.0 && x <= 1.0;  /* false for NaN */
}

static bool is_confidence(double c)
{
	return c > 0.0 && c < 1.0;
}

int mentor_stats_params_validate(const struct mentor_stats_params *p, struct mentor_error *err)
{
	const struct mentor_shrink_params *sp = &p->shrink;
	const struct mentor_status_rules *r = &p->status;
	const struct mentor_kpi_params *kp = &p->kpi;

	if (sp->window_days < 1 || sp->window_days > MAX_DAYS)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "window_days: %d is outside 1..%d",
					sp->window_days, MAX_DAYS);
	if (!(sp->k >= 0.0) || !isfinite(sp->k))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "prior k: %g must be a number >= 0", sp->k);
	if (!is_confidence(sp->confidence))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "status confidence: %g is outside (0, 1)",
					sp->confidence);
	if (!is_unit(r->low_threshold))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "low_threshold: %g is outside 0..1",
					r->low_threshold);
	if (!(r->hysteresis >= 0.0) || r->low_threshold + r->hysteresis > 1.0)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"hysteresis: %g must be >= 0 and low_threshold + hysteresis <= 1",
					r->hysteresis);
	if (!is_unit(r->high_threshold))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "high_threshold: %g is outside 0..1",
					r->high_threshold);
	if (r->min_n < 0 || r->mentor_min_n < 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "min_n and mentor_min_n must be >= 0");
	if (!(r->persist_x == 0 && r->persist_y == 0) &&
	    !(r->persist_x >= 1 && r->persist_x <= r->persist_y && r->persist_y <= MENTOR_PERSIST_MAX))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"persistence: %d of %d must be off (0 of 0) or 1 <= x <= y <= %d",
					r->persist_x, r->persist_y, MENTOR_PERSIST_MAX);
	if (kp->before_days < 1 || kp->before_days > MAX_DAYS ||
	    kp->after_days < 1 || kp->after_days > MAX_DAYS)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"KPI windows: before %d and after %d days must be in 1..%d",
					kp->before_days, kp->after_days, MAX_DAYS);
	if (kp->washout_days < 0 || kp->washout_days >= kp->after_days)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"washout: %d days must be >= 0 and shorter than the after window (%d)",
					kp->washout_days, kp->after_days);
	if (!is_confidence(kp->confidence))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "KPI confidence: %g is outside (0, 1)",
					kp->confidence);
	return MENTOR_OK;
}

/* ---- Windows ---- */

int64_t mentor_stats_day_of(int64_t us)
{
	int64_t d = us / MENTOR_US_PER_DAY;

	/* C division truncates toward zero; a day starts at its midnight. */
	if (us % MENTOR_US_PER_DAY < 0)
		d--;
	return d;
}

/*
 * Neumaier's compensated sum: a population adds up the sums of thousands of
 * agents, and a variance is a small difference of two large sums, so keep
 * the low bits.
 */
struct ksum {
	double s, c;
};

static void ksum_add(struct ksum *k, double x)
{
	double t = k->s + x;

	if (fabs(k->s) >= fabs(x))
		k->c += (k->s - t) + x;
	else
		k->c += (x - t) + k->s;
	k->s = t;
}

static double ksum_value(const struct ksum *k)
{
	return k->s + k->c;
}

void mentor_stats_kpi_windows_day(int64_t start_us, const struct mentor_kpi_params *kp,
				  struct mentor_day_window *ret_before, struct mentor_day_window *ret_after)
{
	int64_t d = mentor_stats_day_of(start_us);

	ret_before->from_day = d - kp->before_days;
	ret_before->to_day = d;
	ret_after->from_day = d + kp->washout_days;
	ret_after->to_day = d + kp->after_days;
}

/* ---- Moments ---- */

double mentor_stats_mean(const struct mentor_sums *s)
{
	if (s->n < 1)
		return NAN;
	return s->sum / (double)s->n;
}

/* Sum of squared deviations, with rounding residue taken to be 0. */
static double sum_sq_dev(const struct mentor_sums *s)
{
	double ss = s->sumsq - s->sum * (s->sum / (double)s->n);

	/*
	 * sumsq and sum^2/n are each rounded to ~1e-16 relative, and more when
	 * accumulated over many rows; real scores (1..5, 0..100 steps) never
	 * have a spread that small relative to their size.
	 */
	if (ss <= 1e-12 * s->sumsq)
		return 0.0;
	return ss;
}

double mentor_stats_variance(const struct mentor_sums *s)
{
	if (s->n < 2)
		return NAN;
	return sum_sq_dev(s) / (double)(s->n - 1);
}

/* ---- Quantiles ---- */

double mentor_stats_norm_quantile(double p)
{
	/* Acklam's rational approximations, |relative error| < 1.15e-9 before refinement. */
	static const double a[] = { -3.969683028665376e+01, 2.209460984245205e+02,
				    -2.759285104469687e+02, 1.383577518672690e+02,
				    -3.066479806614716e+01, 2.506628277459239e+00 };
	static const double b[] = { -5.447609879822406e+01, 1.615858368580409e+02,
				    -1.556989798598866e+02, 6.680131188771972e+01,
				    -1.328068155288572e+01 };
	static const double c[] = { -7.784894002430293e-03, -3.223964580411365e-01,
				    -2.400758277161838e+00, -2.549732539343734e+00,
				    4.374664141464968e+00, 2.938163982698783e+00 };
	static const double d[] = { 7.784695709041462e-03, 3.224671290700398e-01,
				    2.445134137142996e+00, 3.754408661907416e+00 };
	const double p_low = 0.02425;
	double q, r, x, e, u;

	if (!(p > 0.0 && p < 1.0))
		return NAN;
	if (p < p_low) {
		q = sqrt(-2.0 * log(p));
		x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	} else if (p <= 1.0 - p_low) {
		q = p - 0.5;
		r = q * q;
		x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
		    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
	} else {
		q = sqrt(-2.0 * log1p(-p));
		x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
	}

	/*
	 * One Halley step on Phi(x) = p brings it to full double precision.
	 * In the upper half compare upper tails: Phi(x) - p would cancel.
	 */
	if (p > 0.5)
		e = (1.0 - p) - 0.5 * erfc(x / M_SQRT2);
	else
		e = 0.5 * erfc(-x / M_SQRT2) - p;
	u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
	return x - u / (1.0 + x * u / 2.0);
}

/*
 * Continued fraction of the regularized incomplete beta (modified Lentz),
 * Numerical Recipes 6.4. It converges fast for x < (a + 1) / (a + b + 2);
 * the caller swaps to the complementary form otherwise.
 */
static double betacf(double a, double b, double x)
{
	const double tiny = 1e-300, eps = 1e-16;
	double qab = a + b, qap = a + 1.0, qam = a - 1.0;
	double c = 1.0, d = 1.0 - qab * x / qap, h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= 100000; m++) {
		double m2 = 2.0 * m, aa, del;

		aa = m * (b - m) * x / ((qam + m2) * (a + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
		d = 1.0 + aa * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < eps)
			break;
	}
	return h;
}

/*
 * log B(a, 1/2). For large a, lgamma(a) and lgamma(a + 1/2) are huge and
 * nearly equal; their difference comes from the series
 * lgamma(a + 1/2) - lgamma(a) = log(a)/2 - 1/(8a) + 1/(192a^3) + O(a^-5) instead.
 */
static double lbeta_half(double a)
{
	const double lgamma_half = 0.57236494292470008707;  /* log(sqrt(pi)) */

	if (a < 1e4)
		return lgamma(a) + lgamma_half - lgamma(a + 0.5);
	return lgamma_half - (0.5 * log(a) - 1.0 / (8.0 * a) + 1.0 / (192.0 * a * a * a));
}

/*
 * I_x(a, 1/2) for the t distribution, given x, y = 1 - x, their logs and
 * lb = lbeta_half(a), so that neither loses digits to 1 - x or to log(x)
 * with x near 1, and a caller evaluating many x for one a computes lb once.
 */
static double betai_half(double a, double x, double y, double lx, double ly, double lb)
{
	const double b = 0.5;
	double front;

	if (x <= 0.0)
		return 0.0;
	if (y <= 0.0)
		return 1.0;
	front = exp(a * lx + b * ly - lb);
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * betacf(a, b, x) / a;
	return 1.0 - front * betacf(b, a, y) / b;
}

/* P(T > t) for t >= 0: 0.5 * I_{df/(df+t^2)}(df/2, 1/2), without 1 - small; lb = lbeta_half(df / 2). */
static double t_upper_tail(double t, double df, double lb)
{
	double t2 = t * t, r = t2 / df;

	if (isinf(t2))
		return 0.0;
	if (t2 == 0.0)
		return 0.5;
	return 0.5 * betai_half(df / 2.0, df / (df + t2), t2 / (df + t2), -log1p(r), log(r) - log1p(r), lb);
}

/* The t density; lb = lbeta_half(df / 2), since B(df/2, 1/2) sqrt(df) is its normalizer. */
static double t_pdf(double t, double df, double lb)
{
	return exp(-lb - 0.5 * log(df) - (df + 1.0) / 2.0 * log1p(t * t / df));
}

/*
 * Cornish-Fisher expansion of the t quantile around the normal one
 * (Abramowitz and Stegun 26.7.5). Its error falls like df^-5: below 1e-15
 * for df >= 1e5, where the incomplete beta starts to lose digits in lgamma.
 */
static double t_quantile_expansion(double x, double df)
{
	double x2 = x * x, x3 = x2 * x, x5 = x3 * x2, x7 = x5 * x2, x9 = x7 * x2;
	double g1 = (x3 + x) / 4.0;
	double g2 = (5.0 * x5 + 16.0 * x3 + 3.0 * x) / 96.0;
	double g3 = (3.0 * x7 + 19.0 * x5 + 17.0 * x3 - 15.0 * x) / 384.0;
	double g4 = (79.0 * x9 + 776.0 * x7 + 1482.0 * x5 - 1920.0 * x3 - 945.0 * x) / 92160.0;

	return x + g1 / df + g2 / (df * df) + g3 / (df * df * df) + g4 / (df * df * df * df);
}

/* The t > 0 with P(T > t) = q, 0 < q < 0.5. */
static double t_upper_quantile(double q, double df)
{
	double z = -mentor_stats_norm_quantile(q);
	double t, lb, lo = 0.0, hi = INFINITY;

	if (isinf(df))
		return z;
	if (df >= 1e5)
		return t_quantile_expansion(z, df);
	if (df == 1.0)
		return 1.0 / tan(M_PI * q);
	if (df == 2.0)
		return (1.0 - 2.0 * q) / sqrt(2.0 * q * (1.0 - q));

	/*
	 * Newton on the tail, which is convex for t > 0: from either side the
	 * step after the first lands at or below the root and climbs to it, so
	 * iterates stay in (lo, hi) except for a first step from far right,
	 * which is bisected back. Newton doubles the digits per step: once a step
	 * is below 1e-7 of t, the next is below 1e-14, and the iterate after it
	 * is returned without evaluating the tail again.
	 */
	lb = lbeta_half(df / 2.0);
	t = df > 4.0 ? t_quantile_expansion(z, df) : z;
	if (!(t > 0.0))
		t = z;
	for (int i = 0; i < 400; i++) {
		double f = t_upper_tail(t, df, lb) - q, next;

		if (f == 0.0)
			return t;
		if (f > 0.0)
			lo = t;
		else
			hi = t;
		next = t + f / t_pdf(t, df, lb);
		if (!(next > lo && next < hi))
			next = isinf(hi) ? 2.0 * t : lo + (hi - lo) / 2.0;
		if (fabs(next - t) <= 1e-7 * next || (isfinite(hi) && hi - lo <= 4.0 * DBL_EPSILON * hi))
			return next;
		t = next;
	}
	return t;
}

double mentor_stats_t_quantile(double p, double df)
{
	if (!(p > 0.0 && p < 1.0) || !(df > 0.0))
		return NAN;
	if (p == 0.5)
		return 0.0;
	if (p < 0.5)
		return -t_upper_quantile(p, df);
	return t_upper_quantile(1.0 - p, df);
}

/* ---- Shrinkage ---- */

/* The (1 + c) / 2 quantile. */
double mentor_stats_two_sided_z(double confidence)
{
	return mentor_stats_norm_quantile((1.0 + confidence) / 2.0);
}

int mentor_stats_population(const struct mentor_sums *agents, size_t n_agents,
			    const struct mentor_shrink_params *sp,
			    struct mentor_population *ret_pop, struct mentor_error *err)
{
	struct ksum sum = { 0 }, ss = { 0 }, inv_n = { 0 }, means = { 0 }, dev2 = { 0 };
	int64_t n_obs = 0, df = 0;
	size_t m = 0, min_agents;
	double mean_of_means;
	struct mentor_population pop = {
		.mean = NAN, .sigma2_within = NAN, .tau2_between = NAN, .k = sp->k,
	};

	if (!agents && n_agents > 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "population: no agents array");
	for (size_t i = 0; i < n_agents; i++) {
		const struct mentor_sums *a = &agents[i];

		if (a->n < 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"population: agent %zu has n = %lld", i, (long long)a->n);
		if (a->n == 0)
			continue;
		m++;
		n_obs += a->n;
		df += a->n - 1;
		ksum_add(&sum, a->sum);
		ksum_add(&ss, sum_sq_dev(a));
		ksum_add(&inv_n, 1.0 / (double)a->n);
		ksum_add(&means, a->sum / (double)a->n);
	}
	pop.n_agents = m;
	pop.n_obs = n_obs;
	if (n_obs > 0)
		pop.mean = ksum_value(&sum) / (double)n_obs;
	if (df > 0)
		pop.sigma2_within = ksum_value(&ss) / (double)df;

	min_agents = sp->estimate_min_agents > 2 ? sp->estimate_min_agents : 2;
	if (!sp->estimate_k || m < min_agents || isnan(pop.sigma2_within)) {
		*ret_pop = pop;
		return MENTOR_OK;
	}

	/* Second pass: deviations of the agent means from their own mean. */
	mean_of_means = ksum_value(&means) / (double)m;
	for (size_t i = 0; i < n_agents; i++) {
		double dm;

		if (agents[i].n == 0)
			continue;
		dm = agents[i].sum / (double)agents[i].n - mean_of_means;
		ksum_add(&dev2, dm * dm);
	}
	pop.tau2_between = ksum_value(&dev2) / (double)(m - 1) -
			   pop.sigma2_within * ksum_value(&inv_n) / (double)m;
	if (!(pop.tau2_between >= MENTOR_STATS_TAU2_FLOOR))
		pop.tau2_between = MENTOR_STATS_TAU2_FLOOR;
	pop.k = pop.sigma2_within / pop.tau2_between;
	pop.k_estimated = true;
	*ret_pop = pop;
	return MENTOR_OK;
}

static double clamp_unit(double x)
{
	if (x < 0.0)
		return 0.0;
	if (x > 1.0)
		return 1.0;
	return x;  /* NaN stays NaN */
}

void mentor_stats_shrink(const struct mentor_sums *agent, const struct mentor_population *pop, double z,
			 struct mentor_shrunk *ret)
{
	double w = (double)agent->n + pop->k;
	double half;

	ret->n = agent->n;
	ret->mean = mentor_stats_mean(agent);
	if (!(w > 0.0)) {
		/* k = 0 and no data: nothing to say but the population mean. */
		ret->shrunk = pop->mean;
		ret->ci_low = ret->ci_high = NAN;
		return;
	}
	ret->shrunk = (agent->sum + pop->k * pop->mean) / w;
	half = z * sqrt(pop->sigma2_within / w);
	ret->ci_low = clamp_unit(ret->shrunk - half);
	ret->ci_high = clamp_unit(ret->shrunk + half);
}

/* ---- Status ---- */

static bool persistent(const struct mentor_status_rules *r, const struct mentor_status_input *in)
{
	size_t y, count = 0;

	if (r->persist_x <= 0)
		return true;
	y = (size_t)r->persist_y;
	if (y > in->n_weeks)
		y = in->n_weeks;
	for (size_t i = 0; i < y; i++)
		if (in->weekly_low[i])
			count++;
	return count >= (size_t)r->persist_x;
}

void mentor_stats_decide(const struct mentor_status_rules *r, const struct mentor_status_input *in,
			 struct mentor_status_decision *ret)
{
	bool was_low = in->prev == MENTOR_LEVEL_LOW;

	ret->below_now = in->n >= r->min_n && in->shrunk < r->low_threshold;
	ret->entered_low = false;

	/*
	 * Leaving low needs clear evidence: shrunk above the threshold plus the
	 * margin. A NaN shrunk is no evidence, so the agent stays low.
	 */
	if (was_low && !(in->shrunk > r->low_threshold + r->hysteresis)) {
		ret->level = MENTOR_LEVEL_LOW;
		ret->why = ret->below_now ? MENTOR_WHY_BELOW_THRESHOLD : MENTOR_WHY_HYSTERESIS;
		return;
	}
	if (!was_low && ret->below_now) {
		if (persistent(r, in)) {
			ret->level = MENTOR_LEVEL_LOW;
			ret->why = MENTOR_WHY_BELOW_THRESHOLD;
			ret->entered_low = true;
		} else {
			ret->level = MENTOR_LEVEL_OK;
			ret->why = MENTOR_WHY_NOT_PERSISTENT;
		}
		return;
	}

	ret->level = MENTOR_LEVEL_OK;
	if (in->ci_low >= r->high_threshold) {
		if (!in->active)
			ret->why = MENTOR_WHY_INACTIVE;
		else if (in->n < r->mentor_min_n)
			ret->why = MENTOR_WHY_TOO_FEW_FOR_MENTOR;
		else if (in->low_in_csat || in->low_in_aqm)
			ret->why = MENTOR_WHY_LOW_OVERALL;
		else {
			ret->level = MENTOR_LEVEL_HIGH;
			ret->why = MENTOR_WHY_CONFIDENT_HIGH;
		}
	} else if (was_low) {
		ret->why = MENTOR_WHY_RECOVERED;
	} else if (in->n < r->min_n) {
		ret->why = MENTOR_WHY_TOO_FEW;
	} else {
		ret->why = MENTOR_WHY_AVERAGE;
	}
}

const char *mentor_level_name(enum mentor_level level)
{
	switch (level) {
	case MENTOR_LEVEL_OK:
		return "ok";
	case MENTOR_LEVEL_LOW:
		return "low";
	case MENTOR_LEVEL_HIGH:
		return "high";
	}
	return "unknown";
}

const char *mentor_level_reason_name(enum mentor_level_reason why)
{
	static const char *const names[MENTOR_WHY_COUNT] = {
		[MENTOR_WHY_TOO_FEW] = "too_few",
		[MENTOR_WHY_BELOW_THRESHOLD] = "below_threshold",
		[MENTOR_WHY_HYSTERESIS] = "hysteresis",
		[MENTOR_WHY_NOT_PERSISTENT] = "not_persistent",
		[MENTOR_WHY_RECOVERED] = "recovered",
		[MENTOR_WHY_CONFIDENT_HIGH] = "confident_high",
		[MENTOR_WHY_INACTIVE] = "inactive",
		[MENTOR_WHY_TOO_FEW_FOR_MENTOR] = "too_few_for_mentor",
		[MENTOR_WHY_LOW_OVERALL] = "low_overall",
		[MENTOR_WHY_AVERAGE] = "average",
	};

	if ((unsigned)why >= MENTOR_WHY_COUNT)
		return "unknown";
	return names[why];
}

/* ---- Welch, KPI deltas, program effect ---- */

void mentor_stats_welch(double mean1, double var1, int64_t n1, double mean2, double var2, int64_t n2,
			double confidence, struct mentor_welch *ret)
{
	double a, b, t;

	ret->diff = mean1 - mean2;
	ret->se = ret->df = ret->ci_low = ret->ci_high = NAN;
	ret->has_ci = false;
	if (n1 < 2 || n2 < 2 || !(var1 >= 0.0) || !(var2 >= 0.0) || (var1 == 0.0 && var2 == 0.0))
		return;
	a = var1 / (double)n1;
	b = var2 / (double)n2;
	ret->se = sqrt(a + b);
	ret->df = (a + b) * (a + b) / (a * a / (double)(n1 - 1) + b * b / (double)(n2 - 1));
	t = mentor_stats_t_quantile((1.0 + confidence) / 2.0, ret->df);
	ret->ci_low = ret->diff - t * ret->se;
	ret->ci_high = ret->diff + t * ret->se;
	ret->has_ci = isfinite(ret->ci_low) && isfinite(ret->ci_high);
}

void mentor_stats_kpi_delta(const struct mentor_sums *before, const struct mentor_sums *after,
			    double confidence, struct mentor_kpi_delta *ret)
{
	struct mentor_welch w;

	ret->before_n = before->n;
	ret->after_n = after->n;
	ret->before_mean = mentor_stats_mean(before);
	ret->after_mean = mentor_stats_mean(after);
	ret->delta = ret->after_mean - ret->before_mean;
	mentor_stats_welch(ret->after_mean, mentor_stats_variance(after), after->n,
			   ret->before_mean, mentor_stats_variance(before), before->n, confidence, &w);
	ret->has_ci = w.has_ci;
	ret->ci_low = w.ci_low;
	ret->ci_high = w.ci_high;
	ret->df = w.df;
}

double mentor_stats_native(double norm, const struct mentor_scale *sc)
{
	return sc->min + norm * (sc->max - sc->min);
}

double mentor_stats_native_diff(double d, const struct mentor_scale *sc)
{
	return d * (sc->max - sc->min);
}

void mentor_stats_kpi_delta_to_native(struct mentor_kpi_delta *d, const struct mentor_scale *sc)
{
	d->before_mean = mentor_stats_native(d->before_mean, sc);
	d->after_mean = mentor_stats_native(d->after_mean, sc);
	d->delta = mentor_stats_native_diff(d->delta, sc);
	d->ci_low = mentor_stats_native_diff(d->ci_low, sc);
	d->ci_high = mentor_stats_native_diff(d->ci_high, sc);
}

/*
 * One agent's delta, adjusted: after - theta * (before - center) - center.
 * theta = 1 is the plain delta after - before, computed as such so that
 * the unadjusted DiD carries no rounding from the centering.
 */
static double adjusted_delta(const struct mentor_before_after *x, double theta, double center)
{
	if (theta == 1.0)
		return x->after - x->before;
	return x->after - theta * (x->before - center) - center;
}

/* Mean and sample variance of one group's adjusted deltas, two-pass. */
static void delta_moments(const struct mentor_before_after *g, size_t n, double theta, double center,
			  double *ret_mean, double *ret_var)
{
	struct ksum s = { 0 }, d2 = { 0 };
	double mean;

	for (size_t i = 0; i < n; i++)
		ksum_add(&s, adjusted_delta(&g[i], theta, center));
	mean = n > 0 ? ksum_value(&s) / (double)n : NAN;
	for (size_t i = 0; i < n; i++) {
		double d = adjusted_delta(&g[i], theta, center) - mean;

		ksum_add(&d2, d * d);
	}
	*ret_mean = mean;
	*ret_var = n > 1 ? ksum_value(&d2) / (double)(n - 1) : NAN;
}

/*
 * Adds one group's within-group cross products and squares of before to
 * sxy and sxx, and its befores and their squares to sum_b and sum_bb.
 */
static void within_products(const struct mentor_before_after *g, size_t n, struct ksum *sxy,
			    struct ksum *sxx, struct ksum *sum_b, struct ksum *sum_bb)
{
	struct ksum sa = { 0 }, sb = { 0 };
	double ma, mb;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		ksum_add(&sa, g[i].after);
		ksum_add(&sb, g[i].before);
		ksum_add(sum_b, g[i].before);
		ksum_add(sum_bb, g[i].before * g[i].before);
	}
	ma = ksum_value(&sa) / (double)n;
	mb = ksum_value(&sb) / (double)n;
	for (size_t i = 0; i < n; i++) {
		ksum_add(sxy, (g[i].before - mb) * (g[i].after - ma));
		ksum_add(sxx, (g[i].before - mb) * (g[i].before - mb));
	}
}

static int check_group(const struct mentor_before_after *g, size_t n, const char *name,
		       struct mentor_error *err)
{
	if (!g && n > 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "program effect: no %s array", name);
	for (size_t i = 0; i < n; i++)
		if (!isfinite(g[i].before) || !isfinite(g[i].after))
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"program effect: %s agent %zu has a non-finite score", name, i);
	return MENTOR_OK;
}

int mentor_stats_program_effect(const struct mentor_before_after *paired, size_t n_paired,
				const struct mentor_before_after *comparison, size_t n_comparison,
				bool cuped, double confidence,
				struct mentor_program_effect *ret, struct mentor_error *err)
{
	double theta = 1.0, center = 0.0, mp, vp, mc, vc, naive_var;
	struct mentor_welch w;
	int r;

	if ((r = check_group(paired, n_paired, "paired", err)) < 0 ||
	    (r = check_group(comparison, n_comparison, "comparison", err)) < 0)
		return r;
	if (!is_confidence(confidence))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"program effect: confidence %g is outside (0, 1)", confidence);

	ret->paired_n = n_paired;
	ret->comparison_n = n_comparison;
	ret->cuped = false;
	if (cuped && n_paired + n_comparison > 0) {
		struct ksum sxy = { 0 }, sxx = { 0 }, sum_b = { 0 }, sum_bb = { 0 };

		within_products(paired, n_paired, &sxy, &sxx, &sum_b, &sum_bb);
		within_products(comparison, n_comparison, &sxy, &sxx, &sum_b, &sum_bb);
		/* Same guard as the variance: a residue of rounding is no spread. */
		if (ksum_value(&sxx) > 1e-12 * ksum_value(&sum_bb)) {
			theta = ksum_value(&sxy) / ksum_value(&sxx);
			center = ksum_value(&sum_b) / (double)(n_paired + n_comparison);
			ret->cuped = true;
		}
	}
	ret->theta = theta;

	delta_moments(paired, n_paired, 1.0, 0.0, &ret->naive_delta, &naive_var);
	delta_moments(paired, n_paired, theta, center, &mp, &vp);
	delta_moments(comparison, n_comparison, theta, center, &mc, &vc);
	mentor_stats_welch(mp, vp, (int64_t)n_paired, mc, vc, (int64_t)n_comparison, confidence, &w);
	ret->did = mp - mc;
	ret->ci_low = w.ci_low;
	ret->ci_high = w.ci_high;
	ret->df = w.df;
	ret->has_ci = w.has_ci;
	return MENTOR_OK;
}

void mentor_stats_effect_to_native(struct mentor_program_effect *e, const struct mentor_scale *sc)
{
	e->naive_delta = mentor_stats_native_diff(e->naive_delta, sc);
	e->did = mentor_stats_native_diff(e->did, sc);
	e->ci_low = mentor_stats_native_diff(e->ci_low, sc);
	e->ci_high = mentor_stats_native_diff(e->ci_high, sc);
}
