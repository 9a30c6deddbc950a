"""Batched closed-form ridge probes (docs/architecture.md §6.4).

One probe per target column, all sharing one Cholesky factorisation of the (standardised) representation,
so thousands of conjunction probes cost a few matrix products instead of thousands of fits.

Two penalty conventions: :func:`fit_ridge` matches scikit-learn ``Ridge(alpha, fit_intercept=True)`` on the
standardised features (``alpha`` absolute, not scaled by N; the intercept is not penalised). The probing API
(:class:`RidgeProbe`, :func:`probe_scores`, ``LRHSearch``) takes a *relative* ``alpha``: the penalty is
``lambda = alpha * trace(Zc'Zc) / m``, i.e. ``alpha`` times the mean eigenvalue of the centred Gram matrix
(= ``alpha * N`` for unit-variance columns), so one value means the same shrinkage whatever the number of
samples N, the width m and the scale of the representation (measured in benchmarks/RESULTS.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

_CONST_ATOL = 1e-9
"""A constant validation target counts as predicted exactly when every residual is within this."""

PROBE_ALPHA = 1e-3
"""Default relative ridge penalty of the probes (see the module docstring)."""

SCALE_FLOOR = 0.1
"""A column's standardising scale is at least this fraction of the RMS std of the non-constant columns."""

_CHUNK_BYTES = 64 * 2**20
"""Memory budget for one chunk of float64 target columns (per split)."""


@dataclass(frozen=True)
class RidgeFit:
    """Fitted ridge probes: ``predict(Phi) = ((Phi - mean) / scale) @ coef + intercept``.

    ``coef`` is in standardised units (shape ``[m]`` or ``[m, C]``, as ``Y`` was 1-D or 2-D), so its
    entries are comparable across embedding columns.
    """

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray | float

    def predict(self, Phi: np.ndarray) -> np.ndarray:
        Z = (np.asarray(Phi, dtype=np.float64) - self.mean) / self.scale
        return Z @ self.coef + self.intercept


def standardise_stats(Phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and floored population stds (ddof 0, as StandardScaler); constant columns get scale 1.

    A column counts as constant when all its values are equal or its std is below 1e-12 relative to its
    magnitude (rounding would otherwise turn a constant column into huge standardised noise). Every
    other column's scale is at least ``SCALE_FLOOR`` times the RMS std of the non-constant columns: a
    near-dead ReLU unit (active on a handful of training rows) would otherwise be blown up to unit
    variance and give validation values of |z| ~ 1e4 wherever it fires (issue 15; measured in
    benchmarks/RESULTS.md §7 against dropping such columns and a single global scale).
    """
    Phi = np.asarray(Phi, dtype=np.float64)
    mean = Phi.mean(axis=0)
    std = Phi.std(axis=0)
    const = (np.ptp(Phi, axis=0) == 0) | (std <= 1e-12 * np.maximum(1.0, np.abs(mean)))
    if const.all():
        return mean, np.ones_like(std)
    floor = SCALE_FLOOR * np.sqrt(np.mean(std[~const] ** 2))
    return mean, np.where(const, 1.0, np.maximum(std, floor))


def _check_alpha(alpha: float) -> None:
    if not alpha > 0:
        raise ValueError(f"ridge alpha must be > 0 (got {alpha}); the Cholesky solve needs it")


def _as_2d(Y: np.ndarray) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    return Y[:, None] if Y.ndim == 1 else Y


def fit_ridge(Phi_train: np.ndarray, Y_train: np.ndarray, alpha: float) -> RidgeFit:
    """Fit one ridge probe per column of ``Y_train`` with a single factorisation.

    Primal normal equations (m x m) when m <= N, the dual/kernel form (N x N) when m > N; both are solved
    in float64 by one Cholesky factorisation shared by all columns.
    """
    _check_alpha(alpha)
    Phi = np.asarray(Phi_train, dtype=np.float64)
    Y = _as_2d(Y_train)
    if Phi.ndim != 2 or Y.shape[0] != Phi.shape[0]:
        raise ValueError(f"shape mismatch: Phi {Phi.shape}, Y {np.shape(Y_train)}")
    mean, scale = standardise_stats(Phi)
    Z = (Phi - mean) / scale
    z_bar = Z.mean(axis=0)
    Zc = Z - z_bar
    y_bar = Y.mean(axis=0)
    Yc = Y - y_bar
    n, m = Zc.shape
    if m <= n:
        G = Zc.T @ Zc
        G[np.diag_indices_from(G)] += alpha
        coef = scipy.linalg.cho_solve(scipy.linalg.cho_factor(G, lower=True), Zc.T @ Yc)
    else:
        K = Zc @ Zc.T
        K[np.diag_indices_from(K)] += alpha
        coef = Zc.T @ scipy.linalg.cho_solve(scipy.linalg.cho_factor(K, lower=True), Yc)
    intercept = y_bar - z_bar @ coef
    if np.ndim(Y_train) == 1:
        return RidgeFit(mean, scale, coef[:, 0], float(intercept[0]))
    return RidgeFit(mean, scale, coef, intercept)


def relative_penalty(Zc: np.ndarray, alpha: float) -> float:
    """``alpha * trace(Zc'Zc) / m`` (m = non-constant columns): the relative ridge as an absolute penalty."""
    m = int(np.count_nonzero(np.any(Zc != 0, axis=0)))  # constant columns are all zero once centred
    return max(alpha * float(np.einsum("ij,ij->", Zc, Zc)) / max(1, m), 1e-300)


class RidgeProbe:
    """Held-out scorer for many ridge probes over one fixed (train, val) representation pair.

    Factorises once at construction; :meth:`score` can then be called repeatedly (e.g. once per search
    depth) with new target columns. Validation predictions are computed by whichever route is cheaper
    per column: a precomputed hat-like matrix ``H = Zv (Zc'Zc + aI)^-1 Zc'`` (``[Nv, N]``; always used
    in the dual case m > N) or primal coefficients followed by a product with ``Zv``.
    """

    def __init__(self, Phi_train: np.ndarray, Phi_val: np.ndarray, alpha: float = PROBE_ALPHA) -> None:
        _check_alpha(alpha)
        Phi_tr = np.asarray(Phi_train, dtype=np.float64)
        Phi_va = np.asarray(Phi_val, dtype=np.float64)
        if Phi_tr.ndim != 2 or Phi_va.ndim != 2 or Phi_tr.shape[1] != Phi_va.shape[1]:
            raise ValueError(f"shape mismatch: Phi_train {Phi_tr.shape}, Phi_val {Phi_va.shape}")
        if Phi_tr.shape[0] < 2 or Phi_va.shape[0] < 1:
            raise ValueError("need at least 2 training and 1 validation sample")
        mean, scale = standardise_stats(Phi_tr)
        Z = (Phi_tr - mean) / scale
        z_bar = Z.mean(axis=0)
        Zc = Z - z_bar
        Zv = (Phi_va - mean) / scale - z_bar
        n, m = Zc.shape
        nv = Zv.shape[0]
        self.n_train, self.n_val, self.n_features = n, nv, m
        self.penalty = lam = relative_penalty(Zc, alpha)
        self._H: np.ndarray | None = None
        self._primal: tuple[np.ndarray, tuple[np.ndarray, bool], np.ndarray] | None = None
        if m > n:
            K = Zc @ Zc.T
            K[np.diag_indices_from(K)] += lam
            cf = scipy.linalg.cho_factor(K, lower=True)
            self._H = scipy.linalg.cho_solve(cf, (Zv @ Zc.T).T).T
        else:
            G = Zc.T @ Zc
            G[np.diag_indices_from(G)] += lam
            cf = scipy.linalg.cho_factor(G, lower=True)
            if nv * n <= (n + nv) * m + m * m:
                self._H = Zv @ scipy.linalg.cho_solve(cf, Zc.T)
            else:
                self._primal = (Zc, cf, Zv)

    def predict_val(self, Y_train: np.ndarray) -> np.ndarray:
        """Validation predictions of the probes fitted to the columns of ``Y_train`` (``[N, c]``)."""
        Y = _as_2d(Y_train)
        y_bar = Y.mean(axis=0)
        Yc = Y - y_bar
        if self._H is not None:
            return self._H @ Yc + y_bar
        assert self._primal is not None
        Zc, cf, Zv = self._primal
        return Zv @ scipy.linalg.cho_solve(cf, Zc.T @ Yc) + y_bar

    def score(self, Y_train: np.ndarray, Y_val: np.ndarray, chunk_size: int | None = None) -> np.ndarray:
        """Held-out 1 - R^2 per column (see :func:`probe_scores`), chunking columns to bound memory."""
        Yt = np.asarray(Y_train)
        Yv = np.asarray(Y_val)
        if Yt.ndim == 1:
            Yt, Yv = Yt[:, None], Yv[:, None]
        if Yt.shape[0] != self.n_train or Yv.shape[0] != self.n_val or Yt.shape[1] != Yv.shape[1]:
            raise ValueError(f"target shapes {Yt.shape}/{Yv.shape} do not match the representation")
        c = Yt.shape[1]
        if chunk_size is None:
            chunk_size = max(1, _CHUNK_BYTES // (8 * max(self.n_train, self.n_val)))
        out = np.empty(c, dtype=np.float64)
        for start in range(0, c, chunk_size):
            sl = slice(start, min(c, start + chunk_size))
            yv = np.asarray(Yv[:, sl], dtype=np.float64)
            err = self.predict_val(Yt[:, sl]) - yv
            mse = np.mean(err * err, axis=0)
            var = yv.var(axis=0)
            const = np.ptp(yv, axis=0) == 0
            exact = np.max(np.abs(err), axis=0) <= _CONST_ATOL
            out[sl] = np.where(const, np.where(exact, 0.0, 1.0), mse / np.where(const, 1.0, var))
        return out


def probe_scores(
    Phi_train: np.ndarray,
    Y_train: np.ndarray,
    Phi_val: np.ndarray,
    Y_val: np.ndarray,
    alpha: float = PROBE_ALPHA,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Held-out variance-normalised error ``1 - R^2 = MSE / Var(y_val)`` of one ridge probe per column
    (``alpha`` relative, see the module docstring).

    Normalising by the target's variance makes one threshold comparable across conjunction depths (a
    deep conjunction is rarely true, so its raw MSE is small whatever the probe does). Scores are not
    clipped: > 1 means worse than predicting the validation mean. A column that is constant on the
    validation split has no variance to explain; it scores 0 when every prediction is within 1e-9 of
    it (e.g. a target constant on both splits) and 1 (no better than a constant) otherwise.
    """
    return RidgeProbe(Phi_train, Phi_val, alpha).score(Y_train, Y_val, chunk_size=chunk_size)
