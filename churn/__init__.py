"""The churn model's shared pieces: data preparation, input schema and plain-Python scoring.

Everything in this package that the service imports uses the standard library only; scikit-learn
and numpy appear in train.py and the tests, never at serve time.
"""
