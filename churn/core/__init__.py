"""The model and its customers, with the standard library only: fields, the input schema, the
artifact, plain-Python scoring and explanations, the prediction document, customer files, and the
book's pickle. Imported by serving, training and predict.py; imports neither churn.http nor
churn.training."""
