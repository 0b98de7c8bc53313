"""The intensity engine: Plackett–Luce fits of utilities from pairs, rankings with ties and best–worst judgments,
their standard errors, and the monotone map onto the [−10, 10] intensity scale.

Typical use (a refit service adapts judgment rows to these calls)::

    data = ComparisonData.from_orderings(n_items, orderings, max_tie_size=2)
    result = fit(data, init=previous_result)          # warm start from the published fit
    scale = IntensityScale.from_quantiles(result.utilities)   # or .from_anchors(anchor_utilities, intensities)
    intensity = scale.intensity(result.utilities)
    ci_low, ci_high = scale.interval(result.utilities, result.se)

Modules: data.py (the judgment arrays and the stage model), templates.py (judgment shapes → choice stages),
likelihood.py (exact likelihood, gradient, information, prior), fitters.py (``fit`` and its choix / newman / lbfgs
backends), scale.py (``IntensityScale``), simulate.py (synthetic data for tests and benchmarks). README.md gives the
design and the measured speed.
"""

from .data import ComparisonData
from .fitters import BACKENDS, FitResult, choose_backend, fit, standard_errors
from .likelihood import evaluate, information_matrix, log_likelihood
from .scale import IntensityScale

__all__ = [
    "BACKENDS",
    "ComparisonData",
    "FitResult",
    "IntensityScale",
    "choose_backend",
    "evaluate",
    "fit",
    "information_matrix",
    "log_likelihood",
    "standard_errors",
]
