"""The one place that describes IBM's Telco churn table: where the book's copy is, its columns' roles,
its labels, and the notes its model card adds. It is what `train.py` does with no options (the book's
run: churn.training.spec.TELCO), and how the book's pickle (which carries no schema) is read. No other
module names a Telco column. Plain data, standard library only.
"""

DATA_FILE_NAME = "WA_Fn-UseC_-Telco-Customer-Churn.csv"
DATA_URL = (
    "https://raw.githubusercontent.com/alexeygrigorev/mlbookcamp-code/master/"
    "chapter-03-churn-prediction/" + DATA_FILE_NAME
)
DATA_SHA256 = "88be4b93fbe0cc83421af1c503794c97c342eca914c1576db7c276e61d61358a"
DESCRIPTION = f"The IBM Telco Customer Churn sample as published with *Machine Learning Bookcamp* ({DATA_URL})"

# Each column's label, with its unit where it has one (the charges are monthly amounts in US dollars;
# tenure is in months).
LABELS = {
    "customerID": "Customer ID",
    "SeniorCitizen": "Senior citizen",
    "tenure": "Tenure (months)",
    "PhoneService": "Phone service",
    "StreamingTV": "Streaming TV",
    "MonthlyCharges": "Monthly charges ($)",
    "TotalCharges": "Total charges ($)",
}

TABLE = dict(  # churn.training.spec.TableSpec's fields
    target="Churn",
    positive="Yes",
    id="customerID",
    # The book's reading: a blank TotalCharges (the 11 customers in their first month) is 0.
    blank_reads_as={"TotalCharges": 0.0},
    labels=LABELS,
    example_id="8879-ZKJOF",  # the book's customer of chapter 5
    description=DESCRIPTION,
    notes=(
        "- `tenure`, `monthlycharges` and `totalcharges` are strongly related (total = about tenure x\n"
        "  monthly): their separate weights are not meaningful one by one; explanations are exact for the\n"
        "  model, not causal.\n"
        "- `gender` and `seniorcitizen` are inputs; decisions made from this score should be checked for\n"
        "  unequal treatment of these groups.\n"
        "- A blank `totalcharges` (customers in their first month) is read as 0, as in the book."
    ),
)

# The book's pickle holds a DictVectorizer, whose features name no kinds: a plain feature is a number,
# except these, which the book's table holds as 0/1 flags.
FLAG_FEATURES = ("seniorcitizen",)

# The book's example customer (Machine Learning Bookcamp, chapter 5), as examples/customer.json has it:
# what the benchmarks send to the shipped model.
BOOK_CUSTOMER = {
    "customerid": "8879-zkjof",
    "gender": "female",
    "seniorcitizen": 0,
    "partner": "no",
    "dependents": "no",
    "tenure": 41,
    "phoneservice": "yes",
    "multiplelines": "no",
    "internetservice": "dsl",
    "onlinesecurity": "yes",
    "onlinebackup": "no",
    "deviceprotection": "yes",
    "techsupport": "yes",
    "streamingtv": "yes",
    "streamingmovies": "yes",
    "contract": "one_year",
    "paperlessbilling": "yes",
    "paymentmethod": "bank_transfer_(automatic)",
    "monthlycharges": 79.85,
    "totalcharges": 3320.75,
}
