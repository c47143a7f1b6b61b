"""Crafted crowds for the ml quality tests: model probabilities around a truth, random crowds, answer matrices."""
import numpy as np

K = 8
OTHER = np.r_[np.arange(K), -1, -1]  # eight model classes, then unknown and not_a_face


def probs_for(truth, *, p=0.7, seed=0):
    """(N, K) probabilities with p on each item's true class and the rest spread at random."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(K), len(truth)) * (1 - p)
    probs[np.arange(len(truth)), truth] += p
    return probs


def crowd(n=80, m=8, per_item=3, spammer=0, seed=0):
    """n items, per_item answers each from m annotators who are right 90% of the time, except the spammer (random)
    -> truth, items, annotators, answers."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    items, annotators, answers = [], [], []
    for i in range(n):
        for a in rng.choice(m, per_item, replace=False):
            good = a != spammer and rng.random() < 0.9
            items.append(i), annotators.append(a), answers.append(truth[i] if good else rng.integers(0, K))
    return truth, np.array(items), np.array(annotators), np.array(answers)


def answer_matrix(items, annotators, answers, n=None, m=None):
    """One row per answer -> float (N, M) with NaN where nobody answered, as cleanlab takes it."""
    matrix = np.full((n or items.max() + 1, m or annotators.max() + 1), np.nan)
    matrix[items, annotators] = answers
    return matrix
