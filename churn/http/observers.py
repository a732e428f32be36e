"""What happens as the service answers, told to whoever listens: its observers, subscribed once, where
the app is built (app.create_app). An observer takes any of these events, by a method of its name:

    request_started(request)                          a request has begun (churn.http.application.Request)
    customers_scored(request, interface, scores)      every customer of a request is valid, and was
                                                      scored (churn.core.scorer.Scores); `interface`:
                                                      "json", "file" or "v2"
    customers_refused(request, interface, refusals)   customers of a request were refused (Refusals)
    request_answered(request, status, size)           the answer's last byte is sent, or the client left

An observer that is off is not subscribed, and costs nothing. The metrics and the drift of the
inputs (churn.http.metrics), the access log (churn.http.access_log) and the prediction log (here) are
the service's.
Standard library only.
"""

EVENTS = ("request_started", "customers_scored", "customers_refused", "request_answered")


class Events:
    """Each event's subscribers: the methods of the observers that take it, in the observers' order.
    Whoever tells of an event calls each: `for notify in events.scored: notify(...)`."""

    def __init__(self, observers):
        observers = [observer for observer in observers if observer is not None]
        self.started, self.scored, self.refused, self.answered = (
            tuple(getattr(observer, event) for observer in observers if hasattr(observer, event)) for event in EVENTS
        )


class PredictionLogging:
    """The prediction log: a line per customer scored (churn.core.prediction_log.PredictionLog)."""

    def __init__(self, log):
        self.log = log

    def customers_scored(self, request, interface, scores):
        self.log.write(self.log.lines(interface, request.id, scores))
