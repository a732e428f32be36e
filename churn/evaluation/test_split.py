"""Log the model's test split through the service, for evaluate.py to check against the model card:

    python -m churn.evaluation.test_split data/WA_Fn-UseC_-Telco-Customer-Churn.csv --log test-split.jsonl

Splits the raw data set as train.py does (the book's split), sends the held-out customers, as the raw
CSV writes them, to the service's own WSGI app in this process (POST /predict, JSON lines), with its
prediction log appended to --log. evaluate.py against the data set's Churn column then reports what
the model card says of the same customers, to the last printed digit.
"""

import argparse
import csv
import io
import json
import sys

from app import create_app
from churn.core.artifact import MODEL_PATH_HELP, model_path
from churn.core.features import normalise
from churn.core.model import load_model
from churn.core.prediction_log import PredictionLog, open_log
from churn.http.config import Settings
from churn.training.data import RANDOM_STATE, TEST_SIZE


def held_out_rows(data_path):
    """The raw data set's held-out rows, in the split's order: train.py's split of the same file."""
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 (a training tool)

    with open(data_path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return train_test_split(rows, test_size=TEST_SIZE, random_state=RANDOM_STATE)[1]


def log_through_the_service(rows, model, log_path):
    """POST the rows, without their outcome (the model's target column), to the app as JSON lines,
    logging to `log_path`."""
    target = normalise(model.metadata.get("target", {}).get("column", "churn"))
    log = PredictionLog(open_log(log_path), model)
    try:
        app = create_app(model, Settings(prediction_log=log, access_log=None))
        body = "".join(json.dumps(_without(row, target)) + "\n" for row in rows).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/predict", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-ndjson", "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        }  # fmt: skip
        statuses = []
        answer = app(environ, lambda status, headers: statuses.append(status))
        b"".join(answer)
        if hasattr(answer, "close"):
            answer.close()
        if not statuses[0].startswith("200"):
            raise SystemExit(f"the service refused the test split: {statuses[0]}")
    finally:
        log.close()


def _without(row, target):
    return {name: value for name, value in row.items() if normalise(name) != target}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="the table (CSV) train.py trained on")
    parser.add_argument("--log", required=True, help="the prediction log to append the held-out customers' lines to")
    parser.add_argument("--model", default=str(model_path()), help=MODEL_PATH_HELP)
    args = parser.parse_args(argv)
    rows = held_out_rows(args.data)
    log_through_the_service(rows, load_model(args.model), args.log)
    print(f"logged the {len(rows):,} held-out customers to {args.log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
