"""The churn service's pieces: data preparation, input schema, plain-Python scoring, and the HTTP
they are served over.

Everything in this package that the service imports uses the standard library only; scikit-learn
and numpy appear in train.py and the tests, never at serve time.
"""

SERVICE_NAME = "churn prediction service"
SERVICE_VERSION = "1"  # of the API: the OpenAPI document's and the inference protocol's server version
