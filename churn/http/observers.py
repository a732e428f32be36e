"""What happens as the service answers, told to whoever listens: its observers, subscribed once, where
the app is built (app.create_app). An observer takes any of these events, by a method of its name:

    request_started(request)                          a request has begun (churn.http.application.Request)
    customers_scored(request, interface, scores)      every customer of a request is valid, and was
                                                      scored (churn.core.scorer.Scores); `interface`:
                                                      "json", "file" or "v2"
    customer_scored(request, interface, row,          a request's lone customer is valid, and was
                    customerid, probability,          scored: customers_scored of one customer, without
                    decision)                         the Scores to make (the usual request: an
                                                      observer without it is told customers_scored)
    customers_refused(request, interface, refusals)   customers of a request were refused (Refusals)
    request_answered(request, status, size)           the answer's last byte is sent, or the client left

An observer that is off is not subscribed, and costs nothing. The metrics and the drift of the
inputs (churn.http.metrics), the access log (churn.http.access_log) and the prediction log (here) are
the service's.
Standard library only.
"""

from churn.core.scorer import Scores

EVENTS = ("request_started", "customers_scored", "customers_refused", "request_answered")


class Events:
    """Each event's subscribers: the methods of the observers that take it, in the observers' order.
    Whoever tells of an event calls each: `for notify in events.scored: notify(...)`."""

    def __init__(self, observers):
        observers = [observer for observer in observers if observer is not None]
        self.started, self.scored, self.refused, self.answered = (
            tuple(getattr(observer, event) for observer in observers if hasattr(observer, event)) for event in EVENTS
        )
        self.scored_one = tuple(_lone(observer) for observer in observers if hasattr(observer, "customers_scored"))


def _lone(observer):
    """The observer's customer_scored; else its customers_scored, told of one customer."""
    if hasattr(observer, "customer_scored"):
        return observer.customer_scored

    def customer_scored(request, interface, row, customerid, probability, decision):
        scores = Scores((row,), (customerid,), (probability,), (decision,), ())
        observer.customers_scored(request, interface, scores)

    return customer_scored


class PredictionLogging:
    """The prediction log: a line per customer scored (churn.core.prediction_log.PredictionLog)."""

    def __init__(self, log):
        self.log = log

    def customers_scored(self, request, interface, scores):
        self.log.write(self.log.lines(interface, request.id, scores))
