"""The answer for each customer, the same for the service and for offline scoring (predict.py)."""

from churn.explain import explain
from churn.model import score
from churn.schema import ID_FIELD

PROBABILITY, DECISION = "churn_probability", "churn"  # the book's answer: the keys of every result


def predictions(model, customers, explain_top=None):
    """One result per validated customer: its customerid (when given), churn_probability and churn
    (probability >= the model's threshold), and with `explain_top` its explanation's top factors."""
    results = []
    for customer, probability in zip(customers, score(model, customers), strict=True):
        result = {PROBABILITY: probability, DECISION: probability >= model.threshold}
        if ID_FIELD in customer:
            result = {ID_FIELD: customer[ID_FIELD], **result}
        if explain_top:
            result["explanation"] = explain(model.explainer, customer, explain_top)
        results.append(result)
    return results
