"""The probe's trained model: a multinomial logistic regression in JAX, and its compiled programs.

Nothing here runs on import: ``jax`` and ``optax`` are imported inside the functions. The
programs are compiled ahead of time (``jax.jit(...).lower(...).compile()``) for padded shapes
that every target of one audit shares (rows, held-out rows, components and classes are padded
to the largest target's, classes and padding masked), so an audit compiles each program once;
the seconds spent compiling are returned so they can be reported apart from the fitting.
:func:`use_compilation_cache` turns on JAX's persistent compilation cache (when the user
allows it: ``compilation_cache=`` / ``--probe-compile-cache``), so a later process loads the
compiled programs from disk instead.

The fit. Features arrive whitened on the training rows (mean 0, covariance I, or 0 along
directions without variance). For the mean softmax cross-entropy, Böhning's bound gives
Hessian <= 1/2 (I - 11'/K) (x) E[x x'] <= 1/2 I, so gradient descent with the step
``1 / (1/2 + l2)`` (``optax.sgd``) is a majorise-minimise iteration: the loss can never rise, and
on whitened data its first step from zero already points along the class means (an LDA-like
solution). A few dozen steps reach the held-out balanced accuracy of the exact optimum. The
permutation null is not trained here: the closed-form LDA of :mod:`._lda` is the statistic.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

#: Logit given to a class absent from a fold's training rows (its probability underflows to 0).
_MASKED = -1e30
#: Rows and Adam steps of the "can overfit one small batch" self-check.
OVERFIT_ROWS = 32
OVERFIT_STEPS = 300

#: Compiled programs of this process, by name and argument shapes.
_COMPILED: dict[tuple, Any] = {}


def use_compilation_cache(path: str | None) -> None:
    """Store and reuse compiled programs in ``path`` (JAX's persistent compilation cache, for
    programs of any size and compile time); ``None`` leaves JAX's configuration alone."""
    if path is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _compiled(name: str, build: Any, args: tuple[Any, ...]) -> tuple[Any, float]:
    """The program ``build()`` compiled for the shapes of ``args`` (once per process), and the
    seconds this call spent compiling it (0 when it was compiled before)."""
    import jax

    key = (name, *((a.shape, str(a.dtype)) for a in args))
    if key in _COMPILED:
        return _COMPILED[key], 0.0
    start = time.perf_counter()
    with jax.default_matmul_precision("float32"):
        program = jax.jit(build()).lower(*args).compile()
    _COMPILED[key] = program
    return program, time.perf_counter() - start


def _loss(W: Any, Z1: Any, Y: Any, mask: Any, class_mask: Any, l2: Any) -> Any:
    """Mean masked cross-entropy + ``l2/2 |weights|^2``: W (d+1, K) with the bias last, Z1
    (m, d+1), Y (m, K) one-hot, zero on padding rows."""
    import jax
    import jax.numpy as jnp

    logits = jnp.where(class_mask, Z1 @ W, _MASKED)
    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.sum(logp * Y) / mask.sum() + 0.5 * l2 * jnp.sum(W[:-1] ** 2)


def _fit_fold(
    Ztr: Any,
    ytr: Any,
    mtr: Any,
    Zte: Any,
    class_mask: Any,
    log_prior: Any,
    curvature: Any,
    l2: Any,
    *,
    n_steps: int,
) -> dict[str, Any]:
    """One fold: ``n_steps`` of ``optax.sgd`` at the Böhning step from zero weights, the losses
    ``(T+1,)`` (the last after the final step), the weights and the held-out predictions (the
    balanced decision rule: the training log prior subtracted). ``curvature`` is the largest
    eigenvalue of the inputs' second moment (bias included): the step is
    ``1 / (curvature / 2 + l2)``."""
    import jax
    import jax.numpy as jnp
    import optax

    K = class_mask.shape[0]
    Z1 = jnp.concatenate([Ztr, jnp.ones((Ztr.shape[0], 1), Ztr.dtype)], axis=1)
    Y = jax.nn.one_hot(ytr, K, dtype=Ztr.dtype) * mtr[:, None]
    value_and_grad = jax.value_and_grad(_loss)
    opt = optax.sgd(1.0 / (0.5 * curvature + l2))  # the Böhning step, see module docstring

    def step(carry: Any, _: Any) -> tuple[Any, Any]:
        W, state = carry
        loss, g = value_and_grad(W, Z1, Y, mtr, class_mask, l2)
        updates, state = opt.update(g, state, W)
        return (optax.apply_updates(W, updates), state), loss

    W0 = jnp.zeros((Z1.shape[1], K), Ztr.dtype)
    (W, _), losses = jax.lax.scan(step, (W0, opt.init(W0)), None, length=n_steps)
    final = _loss(W, Z1, Y, mtr, class_mask, l2)
    losses = jnp.concatenate([losses, final[None]])
    Zt1 = jnp.concatenate([Zte, jnp.ones((Zte.shape[0], 1), Zte.dtype)], axis=1)
    scores = jnp.where(class_mask, Zt1 @ W - log_prior, _MASKED)
    finite = jnp.isfinite(W).all() & jnp.isfinite(losses).all()
    return {"losses": losses, "W": W, "pred": jnp.argmax(scores, axis=1), "finite": finite}


def fit_softmax(
    Ztr: np.ndarray,
    ytr: np.ndarray,
    mtr: np.ndarray,
    Zte: np.ndarray,
    class_mask: np.ndarray,
    log_prior: np.ndarray,
    curvature: np.ndarray,
    *,
    n_steps: int,
    l2: float,
) -> tuple[dict[str, np.ndarray], float]:
    """Train the observed labels' model of every fold in one compiled call (folds vmapped).

    Arrays are stacked over folds (leading axis F) and padded: training rows ``(F, m, d)`` with
    labels ``ytr (F, m)`` (``mtr`` 1 on real rows, 0 on padding), held-out rows ``(F, t, d)``;
    ``class_mask (F, K)`` marks the classes present in each fold's training rows and
    ``log_prior (F, K)`` their log frequencies there; ``curvature (F,)`` bounds the Hessian
    (the step). Deterministic (zero initialisation, full batch); float32 matmul precision.
    Returns losses ``(F, T+1)``, weights ``W (F, d+1, K)``,
    held-out predictions ``pred (F, t)`` and ``finite``; and the seconds spent compiling.
    """
    import functools

    import jax
    import jax.numpy as jnp

    args = (
        jnp.asarray(Ztr, jnp.float32),
        jnp.asarray(ytr, jnp.int32),
        jnp.asarray(mtr, jnp.float32),
        jnp.asarray(Zte, jnp.float32),
        jnp.asarray(class_mask, bool),
        jnp.asarray(log_prior, jnp.float32),
        jnp.asarray(curvature, jnp.float32),
        jnp.float32(l2),
    )

    def build() -> Any:
        fold = functools.partial(_fit_fold, n_steps=n_steps)
        return jax.vmap(fold, in_axes=(0, 0, 0, 0, 0, 0, 0, None))

    program, seconds = _compiled(f"fit{n_steps}", build, args)
    out = program(*args)
    return {k: np.asarray(v) for k, v in out.items()}, seconds


def _overfit(Z: Any, y: Any, mask: Any, class_mask: Any) -> tuple[Any, Any, Any]:
    import jax
    import jax.numpy as jnp
    import optax

    K = class_mask.shape[0]
    Z1 = jnp.concatenate([Z, jnp.ones((Z.shape[0], 1), Z.dtype)], axis=1)
    Y = jax.nn.one_hot(y, K, dtype=Z.dtype) * mask[:, None]
    value_and_grad = jax.value_and_grad(_loss)
    opt = optax.adam(0.1)

    def step(carry: Any, _: Any) -> tuple[Any, Any]:
        W, state = carry
        loss, g = value_and_grad(W, Z1, Y, mask, class_mask, 0.0)
        updates, state = opt.update(g, state, W)
        return (optax.apply_updates(W, updates), state), loss

    W0 = jnp.zeros((Z1.shape[1], K), Z.dtype)
    (W, _), losses = jax.lax.scan(step, (W0, opt.init(W0)), None, length=OVERFIT_STEPS)
    logits = jnp.where(class_mask, Z1 @ W, _MASKED)
    acc = ((jnp.argmax(logits, axis=-1) == y) * mask).sum() / mask.sum()
    return losses[0], _loss(W, Z1, Y, mask, class_mask, 0.0), acc


def overfit_small_batch(
    Z: np.ndarray, y: np.ndarray, class_mask: np.ndarray
) -> tuple[tuple[float, float, float], float]:
    """(initial loss, final loss, training accuracy) of an unpenalised Adam fit to <= 32 rows
    (padded to 32), and the seconds spent compiling."""
    import jax.numpy as jnp

    n, d = Z.shape
    pad = OVERFIT_ROWS - n
    args = (
        jnp.asarray(np.vstack([Z, np.zeros((pad, d), Z.dtype)]), jnp.float32),
        jnp.asarray(np.concatenate([y, np.zeros(pad, y.dtype)]), jnp.int32),
        jnp.asarray(np.r_[np.ones(n), np.zeros(pad)], jnp.float32),
        jnp.asarray(class_mask, bool),
    )
    program, seconds = _compiled("overfit", lambda: _overfit, args)
    first, final, acc = program(*args)
    return (float(first), float(final), float(acc)), seconds
