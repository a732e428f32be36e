"""The realized quality of a model's probabilities against outcomes, computed one way for the customers
scored in production and for the model card's test split (NumPy, scikit-learn)."""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from churn.core.campaign import Reach
from churn.training.model_card import confusion, deciles


@dataclass(frozen=True)
class Quality:
    customers: int
    churners: int
    auc: float | None  # None when every customer had the same outcome
    brier: float | None
    log_loss: float | None
    accuracy: float | None  # of the decisions
    confusion: tuple  # (tp, fn, fp, tn) of the decisions
    at_threshold: Reach  # the customers the decisions flagged
    top_k: Reach  # the k riskiest
    deciles: list  # (customers, mean predicted, observed churn), lowest risk first

    @property
    def churn_rate(self):
        return self.churners / self.customers if self.customers else None


def quality(probabilities, decisions, churned, k):
    """Quality of these probabilities and decisions (churn: true) against whether each churned; top_k
    the riskiest `k` (ties in the order given)."""
    predicted, flagged, targets = np.array(probabilities, float), np.array(decisions, bool), np.array(churned, int)
    customers, churners = len(targets), int(targets.sum())
    base_rate = churners / customers if customers else 0.0
    tp, fn, fp, tn = confusion(targets, flagged)
    riskiest = np.argsort(-predicted, kind="stable")[:k]
    both_outcomes = 0 < churners < customers
    return Quality(
        customers=customers,
        churners=churners,
        auc=float(roc_auc_score(targets, predicted)) if both_outcomes else None,
        brier=float(brier_score_loss(targets, predicted)) if customers else None,
        log_loss=float(log_loss(targets, predicted, labels=[0, 1])) if customers else None,
        accuracy=(tp + tn) / customers if customers else None,
        confusion=(tp, fn, fp, tn),
        at_threshold=Reach(tp + fp, tp, churners, base_rate),
        top_k=Reach(len(riskiest), int(targets[riskiest].sum()), churners, base_rate),
        deciles=deciles(targets, predicted) if customers >= 10 else [],
    )
