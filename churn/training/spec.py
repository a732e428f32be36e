"""What train.py is told about a customer table: which column is the target and which value of it
means churn, the id, the columns to leave out, kinds chosen by hand, how a blank reads, labels.
Standard library only; churn.training.table reads a table by it.
"""

from dataclasses import dataclass, field

from churn.core import telco


@dataclass(frozen=True)
class TableSpec:
    target: str  # the column that says whether a customer churned
    positive: str | None = None  # its value that means churn; None: 1 for 0/1, Yes for Yes/No
    id: str | None = None  # the column that names a customer (kept out of the model, checked unique)
    drop: tuple = ()  # columns left out
    categorical: tuple = ()  # columns read as categories whatever they hold
    numerical: tuple = ()  # columns read as numbers whatever the rule would choose
    blank_reads_as: dict = field(default_factory=dict)  # column -> the number a blank is (no indicator)
    labels: dict = field(default_factory=dict)  # column -> what people read for it
    example_id: str | None = None  # the id of the customer /openapi.json shows (None: the first trained on)
    description: str = ""  # what the model card says the data is
    notes: str = ""  # what the model card adds to its known limits


TELCO = TableSpec(**telco.TABLE)  # train.py with no options: the book's table
