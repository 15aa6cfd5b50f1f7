#!/usr/bin/env python3
"""
Reference values for tests/unit/test_stats.c, computed with SciPy and NumPy.

Not run by the test suite: run it by hand (python3 tests/reference/stats_reference.py)
after changing the data below, and paste what it prints into the test. The values
in the test were produced with scipy 1.17.1 and numpy 2.4.6 on Python 3.
"""
import numpy as np
import scipy
from scipy import stats


def show(name, x):
    print(f"{name} = {float(x)!r}")


print(f"# scipy {scipy.__version__}, numpy {np.__version__}")

print("\n# stats.norm.ppf(p)")
for p in [0.5, 0.9, 0.95, 0.975, 0.995, 0.02425, 0.02, 1e-10, 1 - 1e-12, 0.3]:
    show(f"norm.ppf({p!r})", stats.norm.ppf(p))

print("\n# stats.t.ppf(p, df)")
for p, df in [(0.975, 1), (0.975, 2), (0.975, 3), (0.975, 3.5), (0.975, 5), (0.975, 10),
              (0.975, 29.7), (0.975, 100), (0.975, 12345.6), (0.975, 99999.0), (0.975, 1e5),
              (0.975, 1e7), (0.95, 7.25), (0.05, 7.25), (0.9999, 2.5), (0.6, 4), (0.999999, 1),
              (0.975, 0.5)]:
    show(f"t.ppf({p!r}, {df!r})", stats.t.ppf(p, df))

# test_stats.c reads these backwards: t_quantile(cdf, df) = t.
print("\n# stats.t.cdf(t, df)")
for t, df in [(2.0, 3.5), (-1.3, 12.0), (0.0, 4.0), (40.0, 2.2)]:
    show(f"t.cdf({t!r}, {df!r})", stats.t.cdf(t, df))

# KPI delta: CSAT on 1..5, normalized (x - 1) / 4.
before = np.array([3, 4, 2, 5, 3, 3, 4, 2, 3, 4, 3, 2], dtype=float)
after = np.array([4, 5, 4, 3, 5, 4, 4, 5, 3, 4], dtype=float)
print("\n# KPI delta: stats.ttest_ind(after, before, equal_var=False).confidence_interval(0.95)")
for label, b, a in [("norm", (before - 1) / 4, (after - 1) / 4), ("native", before, after)]:
    r = stats.ttest_ind(a, b, equal_var=False)
    ci = r.confidence_interval(confidence_level=0.95)
    show(f"{label} delta", a.mean() - b.mean())
    show(f"{label} df", r.df)
    show(f"{label} ci_low", ci.low)
    show(f"{label} ci_high", ci.high)

print("\n# KPI delta with a constant before: same call")
b = (np.array([4, 4, 4, 4, 4], dtype=float) - 1) / 4
a = (np.array([5, 3, 4, 5, 5, 4], dtype=float) - 1) / 4
r = stats.ttest_ind(a, b, equal_var=False)
ci = r.confidence_interval(confidence_level=0.95)
show("const df", r.df)
show("const ci_low", ci.low)
show("const ci_high", ci.high)

# Program effect: per-agent window means (normalized).
paired = np.array([(0.50, 0.66), (0.55, 0.70), (0.42, 0.61), (0.58, 0.69),
                   (0.47, 0.60), (0.52, 0.74), (0.40, 0.57), (0.56, 0.64)])
comparison = np.array([(0.48, 0.55), (0.53, 0.62), (0.44, 0.51), (0.57, 0.60),
                       (0.50, 0.58), (0.41, 0.54)])
print("\n# DiD: stats.ttest_ind(dp, dc, equal_var=False).confidence_interval(0.95)")
dp = paired[:, 1] - paired[:, 0]
dc = comparison[:, 1] - comparison[:, 0]
r = stats.ttest_ind(dp, dc, equal_var=False)
ci = r.confidence_interval(confidence_level=0.95)
show("naive", dp.mean())
show("did", dp.mean() - dc.mean())
show("did df", r.df)
show("did ci_low", ci.low)
show("did ci_high", ci.high)

print("\n# CUPED: within-group pooled slope; adjusted delta = after - theta*(before - B) - B")
def centered(g):
    return g[:, 0] - g[:, 0].mean(), g[:, 1] - g[:, 1].mean()
bp, ap = centered(paired)
bc, ac = centered(comparison)
theta = (np.sum(bp * ap) + np.sum(bc * ac)) / (np.sum(bp * bp) + np.sum(bc * bc))
B = np.concatenate([paired[:, 0], comparison[:, 0]]).mean()
adj_p = paired[:, 1] - theta * (paired[:, 0] - B) - B
adj_c = comparison[:, 1] - theta * (comparison[:, 0] - B) - B
r = stats.ttest_ind(adj_p, adj_c, equal_var=False)
ci = r.confidence_interval(confidence_level=0.95)
show("theta", theta)
show("cuped did", adj_p.mean() - adj_c.mean())
show("cuped df", r.df)
show("cuped ci_low", ci.low)
show("cuped ci_high", ci.high)
# Cross-check: the CUPED DiD is the ANCOVA coefficient of after ~ 1 + paired + before.
X = np.column_stack([np.ones(len(paired) + len(comparison)),
                     np.r_[np.ones(len(paired)), np.zeros(len(comparison))],
                     np.r_[paired[:, 0], comparison[:, 0]]])
y = np.r_[paired[:, 1], comparison[:, 1]]
coef = np.linalg.lstsq(X, y, rcond=None)[0]
assert abs(coef[1] - (adj_p.mean() - adj_c.mean())) < 1e-12, coef
assert abs(coef[2] - theta) < 1e-12, coef
print("# ANCOVA lstsq agrees: group coefficient", repr(coef[1]), "slope", repr(coef[2]))

print("\n# Population (method of moments) for the agents of test_population_estimate")
agents = [np.array(x, dtype=float) for x in [
    [0.9, 0.8, 1.0, 0.9],
    [0.5, 0.6, 0.4, 0.5, 0.6, 0.4],
    [0.7, 0.7, 0.8, 0.6, 0.7],
    [0.3, 0.5],
    [1.0, 0.9, 0.8, 0.9, 1.0, 0.8, 0.9],
    [0.6],
]]
n = np.array([len(x) for x in agents], dtype=float)
means = np.array([x.mean() for x in agents])
ss = sum(((x - x.mean()) ** 2).sum() for x in agents)
sigma2 = ss / (n - 1).sum()
tau2 = max(np.var(means, ddof=1) - sigma2 * np.mean(1 / n), 1e-6)
show("pop mean", np.concatenate(agents).mean())
show("sigma2_within", sigma2)
show("tau2_between", tau2)
show("k", sigma2 / tau2)
