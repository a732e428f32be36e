"""The batch path: scoring whole files of customers with NumPy, never loaded by the service (which
stays standard library only); imports churn.core only."""
