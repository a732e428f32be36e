"""The batch path: whole files of customers scored on every CPU (parallel), row by row with the
standard library (rows) or a column at a time with Arrow and NumPy (tables, which only it imports);
never loaded by the service. Imports churn.core only."""
