"""Training time: the data set, fitting with scikit-learn, the model card and its charts. Used by
train.py and the tests, never by the service; imports churn.core only."""
