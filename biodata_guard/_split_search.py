"""The assignment search behind :func:`biodata_guard.split.plan_split`: whole components (linked
samples) into bins (train/test or folds).

The objective adds three Pearson chi-square statistics: the bins x classes table against
independence (each bin's class proportions against the cohort's, given the bin's size), the bin
sizes against their targets, and :data:`BATCH_WEIGHT` times the bins x batches table against
independence. Conditioning the class term on the realised bin sizes keeps classes of one or two
samples from dominating the sizes (their expected counts per bin are far below 5, where a
goodness-of-fit term per cell would blow up); classes in fewer components than there are bins
enter it as one merged stratum, so that a bin is not inflated to dilute a class that can only
be there.

Presence constraints come first (compared lexicographically): every bin holds samples, and a
class in ``m`` components appears in ``min(m, n_bins)`` bins (in train and in test, or in the
training part of every fold). A class of one component goes where the objective puts it (the
largest bin, train, unless the bins are equal). A seeded greedy start is improved by moving one
component or swapping two until no move helps; the best of a few seeded restarts is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Weight of the batch term next to the class term: class proportions first, then batches.
BATCH_WEIGHT = 0.25
#: Seeded restarts of the greedy start + local search (the best is kept).
N_RESTARTS = 4
#: Sweeps of moves and swaps per restart at most (each sweep visits every component).
MAX_SWEEPS = 30
#: Swap partners sampled per component and sweep (all of them when there are fewer).
SWAP_CANDIDATES = 256
_EPS = 1e-9


@dataclass(frozen=True)
class Problem:
    """Per component: class counts (presence constraints), stratum counts (the class term:
    classes in fewer components than bins merged into one stratum, since their placement is
    the presence constraints' to decide, not their proportions') and batch counts; per bin: the
    target fraction."""

    classes: np.ndarray  # components x classes
    batches: np.ndarray | None  # components x batches
    targets: np.ndarray  # bins, sums to 1
    strata: np.ndarray | None = None  # components x strata (default: the classes)


@dataclass(frozen=True)
class Assignment:
    """The bin of each component, its constraint deficit and its objective."""

    bins: np.ndarray
    deficit: int
    objective: float


def _t(s: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A bin's independence chi-square ``sum_c n_kc^2 / (n_k p_c) - n_k`` from its ``s = sum_c
    n_kc^2 / p_c`` and size ``n`` (0 for an empty bin)."""
    return np.where(n > 0, s / np.maximum(n, _EPS) - n, 0.0)


class _Block:
    """Running ``s`` per bin of one categorical table (classes or batches) and its weight."""

    def __init__(self, counts: np.ndarray, bins: np.ndarray, n_bins: int, weight: float) -> None:
        self.counts = counts
        total = counts.sum(axis=0)
        self.q = np.where(total > 0, total.sum() / np.maximum(total, _EPS), 0.0)  # 1 / p_c
        self.weight = weight
        self.totals = np.zeros((n_bins, counts.shape[1]))
        placed = bins >= 0
        np.add.at(self.totals, bins[placed], counts[placed])
        self.s = (self.totals**2 * self.q).sum(axis=1)

    def s_moved(self, y: np.ndarray, a: int) -> tuple[float, np.ndarray]:
        """``s`` of bin ``a`` without ``y``, and of every bin with ``y`` added."""
        yq, yyq = y * self.q, float((y * y * self.q).sum())
        out = self.s[a] - 2 * float(self.totals[a] @ yq) + yyq
        return out, self.s + 2 * (self.totals @ yq) + yyq

    def apply(self, y: np.ndarray, a: int, b: int) -> None:
        """Move ``y`` from bin ``a`` (-1: not placed yet) to bin ``b``."""
        yq, yyq = y * self.q, float((y * y * self.q).sum())
        if a >= 0:
            self.s[a] += -2 * float(self.totals[a] @ yq) + yyq
            self.totals[a] -= y
        self.s[b] += 2 * float(self.totals[b] @ yq) + yyq
        self.totals[b] += y


class _State:
    """Bin sizes, the class and batch blocks and class presence, updated move by move."""

    def __init__(self, pb: Problem, bins: np.ndarray) -> None:
        n_bins = len(pb.targets)
        self.pb, self.bins = pb, bins.copy()  # -1: not placed yet (the greedy start)
        placed = self.bins >= 0
        self.size = pb.classes.sum(axis=1)
        self.n = np.bincount(self.bins[placed], weights=self.size[placed], minlength=n_bins).astype(
            float
        )
        self.goal = pb.targets * self.size.sum()
        strata = pb.classes if pb.strata is None else pb.strata
        self.blocks = [_Block(strata, self.bins, n_bins, 1.0)]
        if pb.batches is not None:
            self.blocks.append(_Block(pb.batches, self.bins, n_bins, BATCH_WEIGHT))
        self.has = pb.classes > 0
        self.presence = np.zeros((n_bins, pb.classes.shape[1]), dtype=np.int64)
        np.add.at(self.presence, self.bins[placed], self.has[placed].astype(np.int64))
        self.required = np.minimum(self.has.sum(axis=0), n_bins)
        self.members = np.bincount(self.bins[placed], minlength=n_bins)

    def _terms(self, n: np.ndarray, s: list[np.ndarray]) -> np.ndarray:
        out = (n - self.goal) ** 2 / np.maximum(self.goal, _EPS)
        for block, sk in zip(self.blocks, s, strict=True):
            out = out + block.weight * _t(sk, n)
        return out

    def objective(self) -> float:
        return float(self._terms(self.n, [b.s for b in self.blocks]).sum())

    def move_gain(self, g: int) -> np.ndarray:
        """Change of the objective when component ``g`` moves to each bin (0 for its own; for
        a component not placed yet, the change when it is added to each bin)."""
        a, size = int(self.bins[g]), self.size[g]
        now = self._terms(self.n, [b.s for b in self.blocks])
        out_a, in_b = zip(*(b.s_moved(b.counts[g], max(a, 0)) for b in self.blocks), strict=True)
        gain = self._terms(self.n + size, list(in_b)) - now
        if a >= 0:
            n_a = np.array([self.n[a] - size])
            gain += self._terms(n_a, [np.array([v]) for v in out_a])[0] - now[a]
            gain[a] = 0.0
        return gain

    def swap_gain(self, g: int, others: np.ndarray) -> np.ndarray:
        """Change of the objective when ``g`` and each of ``others`` (in other bins) swap."""
        a, bins = int(self.bins[g]), self.bins[others]
        now = self._terms(self.n, [b.s for b in self.blocks])
        dn = self.size[others] - self.size[g]  # size change of bin a
        s_a, s_b = [], []
        for block in self.blocks:
            v = block.counts[others] - block.counts[g][None, :]  # change of bin a's counts
            vq = v * block.q
            quad = (v * vq).sum(axis=1)
            s_a.append(block.s[a] + 2 * (vq @ block.totals[a]) + quad)
            s_b.append(block.s[bins] - 2 * (vq * block.totals[bins]).sum(axis=1) + quad)
        n_a, n_b = self.n[a] + dn, self.n[bins] - dn
        goal_a, goal_b = self.goal[a], self.goal[bins]
        new = (n_a - goal_a) ** 2 / max(goal_a, _EPS) + (n_b - goal_b) ** 2 / np.maximum(
            goal_b, _EPS
        )
        for block, sa, sb in zip(self.blocks, s_a, s_b, strict=True):
            new = new + block.weight * (_t(sa, n_a) + _t(sb, n_b))
        return new - now[a] - now[bins]

    def deficit(self, moves: list[tuple[int, int]] = ()) -> int:  # type: ignore[assignment]
        """Missing class presences plus empty bins, after ``moves`` (component, bin)."""
        p, members = self.presence, self.members
        if moves:
            p, members = p.copy(), members.copy()
            for g, b in moves:
                p[self.bins[g]] -= self.has[g]
                p[b] += self.has[g]
                members[self.bins[g]] -= 1
                members[b] += 1
        missing = np.maximum(self.required - (p > 0).sum(axis=0), 0).sum()
        return int(missing) + int((members == 0).sum())

    def apply(self, g: int, b: int) -> None:
        """Move component ``g`` to bin ``b`` (or place it there when it has no bin yet)."""
        a = int(self.bins[g])
        for block in self.blocks:
            block.apply(block.counts[g], a, b)
        if a >= 0:
            self.n[a] -= self.size[g]
            self.presence[a] -= self.has[g]
            self.members[a] -= 1
        self.n[b] += self.size[g]
        self.presence[b] += self.has[g]
        self.members[b] += 1
        self.bins[g] = b


def _greedy(pb: Problem, rng: np.random.Generator) -> np.ndarray:
    """Components placed one by one, rarest class first then largest, each into the bin that
    fills a missing presence (or an empty bin) or else adds least to the objective."""
    n_comp = pb.classes.shape[0]
    has = pb.classes > 0
    m = has.sum(axis=0)
    rarity = np.where(has, m[None, :], np.iinfo(np.int64).max).min(axis=1)
    order = np.lexsort((rng.random(n_comp), -pb.classes.sum(axis=1), rarity))
    state = _State(pb, np.full(n_comp, -1, dtype=np.int64))
    for i, g in enumerate(order):
        needs = state.has[g] & ((state.presence > 0).sum(axis=0) < state.required)
        fills = (state.presence[:, needs] == 0).sum(axis=1).astype(float)
        empty = state.members == 0
        if empty.sum() >= n_comp - i:  # the last components go to the empty bins
            fills += empty * (1 + needs.sum())
        cost = state.move_gain(int(g))
        state.apply(int(g), int(np.lexsort((cost, -fills))[0]))
    return state.bins


def _try_move(state: _State, g: int) -> bool:
    """Move ``g`` to the bin that lowers the deficit, else the objective, most."""
    gain = state.move_gain(g)
    a = int(state.bins[g])
    deficit = state.deficit()
    options = [(state.deficit([(g, b)]), float(gain[b]), b) for b in range(len(gain)) if b != a]
    after, delta, b = min(options)
    if after < deficit or (after == deficit and delta < -_EPS):
        state.apply(g, b)
        return True
    return False


def _try_swap(state: _State, g: int, rng: np.random.Generator) -> bool:
    """Exchange ``g`` with the component of another bin that lowers the objective most."""
    a = int(state.bins[g])
    others = np.flatnonzero(state.bins != a)
    if not len(others):
        return False
    if len(others) > SWAP_CANDIDATES:
        others = rng.choice(others, SWAP_CANDIDATES, replace=False)
    gain = state.swap_gain(g, others)
    deficit = state.deficit()
    for i in np.argsort(gain, kind="stable")[:8]:
        if gain[i] >= -_EPS:
            break
        h, b = int(others[i]), int(state.bins[others[i]])
        if state.deficit([(g, b), (h, a)]) <= deficit:
            state.apply(g, b)
            state.apply(h, a)
            return True
    return False


def _improve(pb: Problem, bins: np.ndarray, rng: np.random.Generator) -> Assignment:
    state = _State(pb, bins)
    for _ in range(MAX_SWEEPS):
        changed = False
        for g in rng.permutation(len(bins)):
            changed |= _try_move(state, int(g))
            changed |= _try_swap(state, int(g), rng)
        if not changed:
            break
    return Assignment(state.bins.copy(), state.deficit(), state.objective())


def search(pb: Problem, *, seed: int) -> Assignment:
    """The best assignment of :data:`N_RESTARTS` seeded greedy starts improved by local search
    (lowest constraint deficit, then lowest objective; ties: the first).

    Examples
    --------
    >>> classes = np.array([[3, 0], [3, 0], [0, 1], [0, 1], [2, 0], [2, 0]], dtype=float)
    >>> res = search(Problem(classes, None, np.array([0.5, 0.5])), seed=0)
    >>> res.deficit, sorted(np.bincount(res.bins, weights=classes.sum(axis=1)).tolist())
    (0, [6.0, 6.0])
    """
    best: Assignment | None = None
    for r in range(N_RESTARTS):
        rng = np.random.default_rng([seed, r])
        res = _improve(pb, _greedy(pb, rng), rng)
        if best is None or (res.deficit, res.objective) < (best.deficit, best.objective - _EPS):
            best = res
    assert best is not None
    return best
