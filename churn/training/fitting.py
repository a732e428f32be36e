"""Fit the book's LogisticRegression (liblinear) to the optimum of its objective, the same on any CPU.

liblinear stops, with scikit-learn's default tol=1e-4, after about 25 iterations, short of the
optimum, at a point that depends on the BLAS kernel the CPU selects (the book's customer: 0.0596
with AVX-512, 0.0619 with AVX2). Measured on the Telco data, C from 0.001 to 100, on both kernels:
- tol=1e-10 takes at most 44 iterations (a tighter tol changes nothing); the cap leaves room for
  other data and C. For C=0.5 the kernels then agree to 6e-7 on every probability, but for some C
  (1 and 5) liblinear's own rule — stop when the objective no longer changes by 1e-12 of itself —
  ends up to 3e-4 apart: the objective is flat along the large-valued totalcharges.
- Newton's method on the same objective, started there, reaches the optimum in 2-3 steps: the
  gradient falls to ~1e-17 of its size at zero and the kernels agree to 2e-14 on every weight
  and 4e-16 on every probability.
So the model is liblinear's, with C, split and everything else as in the book, solved to the end.
Training-time only (numpy, scikit-learn); the service never imports it.
"""

import warnings

import numpy as np
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

TOL = 1e-10
MAX_ITER = 1000
MAX_NEWTON_STEPS = 10
SEED = 1  # liblinear's, as the book sets it; its primal solver, used here, draws nothing from it


class TrainingError(Exception):
    """Training did not produce a model that may be shipped; the message says why."""


def make_estimator(C):
    """The book's LogisticRegression(solver="liblinear", C=C), with the tolerance chosen above."""
    return LogisticRegression(solver="liblinear", C=C, tol=TOL, max_iter=MAX_ITER, random_state=SEED)


def fit(x, y, C):
    """Fit on (x, y) to the optimum; return the model and what its solving took, for the artifact."""
    model = make_estimator(C)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            model.fit(x, y)
        except ConvergenceWarning:
            raise TrainingError(f"liblinear did not converge in {MAX_ITER} iterations (C={C})") from None
    steps, relative_gradient = _finish_with_newton(model, np.asarray(x, dtype=float), np.asarray(y))
    report = {
        "name": "liblinear",
        "tol": TOL,
        "max_iter": MAX_ITER,
        "iterations": int(model.n_iter_[0]),
        "newton_steps": steps,
        "relative_gradient": relative_gradient,
    }
    return model, report


def _finish_with_newton(model, x, y):
    """Newton steps on liblinear's objective from where liblinear stopped, while they still shrink the
    gradient; the best weights are written back into `model`. Returns (steps, |∇f(w)| / |∇f(0)|).

    The objective: f(w) = ½|w|² + C Σ log(1 + exp(−sᵢ w·xᵢ)), sᵢ = ±1, where w ends with the
    intercept, the weight of a constant feature 1 (intercept_scaling=1) that liblinear regularises
    like the others."""
    features = np.hstack([x, np.ones((len(x), 1))])
    signs = 2.0 * y - 1.0
    weights = np.append(model.coef_[0], model.intercept_[0])
    gradient = _gradient(weights, features, signs, model.C)
    best, best_norm, steps = weights, np.linalg.norm(gradient), 0
    for _ in range(MAX_NEWTON_STEPS):
        weights = weights - np.linalg.solve(_hessian(weights, features, signs, model.C), gradient)
        gradient = _gradient(weights, features, signs, model.C)
        if not np.linalg.norm(gradient) < best_norm / 2:  # no longer converging: the limit of double precision
            break
        best, best_norm, steps = weights, np.linalg.norm(gradient), steps + 1
    model.coef_[0], model.intercept_[0] = best[:-1], best[-1]
    at_zero = np.linalg.norm(model.C * features.T @ (signs / 2))
    return steps, float(best_norm / at_zero)


def _gradient(weights, features, signs, C):
    miss = expit(-signs * (features @ weights))  # how far each row's fit is from its label
    return weights - C * features.T @ (signs * miss)


def _hessian(weights, features, signs, C):
    miss = expit(-signs * (features @ weights))
    return np.eye(len(weights)) + C * (features.T * (miss * (1 - miss))) @ features
