"""What people read for the model's fields and values: one table for the page and the OpenAPI
document. "seniorcitizen" reads "Senior citizen", "bank_transfer_(automatic)" reads "Bank transfer
(automatic)", as the data set's own columns and values were written before the book's preparation.
A field or value of a retrained model that the table does not know reads as the rule below makes it.
"""

# Each field's label, with its unit where it has one (the data set's charges are monthly amounts in
# US dollars; tenure is in months).
FIELD_LABELS = {
    "customerid": "Customer ID",
    "gender": "Gender",
    "seniorcitizen": "Senior citizen",
    "partner": "Partner",
    "dependents": "Dependents",
    "tenure": "Tenure (months)",
    "phoneservice": "Phone service",
    "multiplelines": "Multiple lines",
    "internetservice": "Internet service",
    "onlinesecurity": "Online security",
    "onlinebackup": "Online backup",
    "deviceprotection": "Device protection",
    "techsupport": "Tech support",
    "streamingtv": "Streaming TV",
    "streamingmovies": "Streaming movies",
    "contract": "Contract",
    "paperlessbilling": "Paperless billing",
    "paymentmethod": "Payment method",
    "monthlycharges": "Monthly charges ($)",
    "totalcharges": "Total charges ($)",
}
# Values the rule would write otherwise: an abbreviation, and seniorcitizen's 0 and 1.
_VALUE_LABELS = {"dsl": "DSL", 0: "No", 1: "Yes"}


def field_label(field):
    """The label people read for a field."""
    return FIELD_LABELS.get(field) or value_label(field)


def value_label(value):
    """The label people read for an allowed value: the table's, else the value with spaces for
    underscores and a capital first letter ("one_year" -> "One year")."""
    if value in _VALUE_LABELS and type(value) is not bool:
        return _VALUE_LABELS[value]
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]
