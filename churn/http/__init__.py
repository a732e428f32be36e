"""The service's web layer, standard library only: HTTP errors and bodies, configuration, the
customer requests, the Open Inference Protocol, OpenAPI, static files, the access log, and the
fairness of a worker (admission, turns). Imports churn.core, never churn.training."""
