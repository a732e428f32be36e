"""Train the churn model of Machine Learning Bookcamp (ch. 3-5), on the book's data or any customer
table, and export it for the service.

    python train.py [--data PATH] [--C 0.5] [--output-dir model/]
    python train.py --data FILE --target COLUMN [--positive VALUE] [--id COLUMN] [--drop COLUMN[,COLUMN...]]
                    [--categorical COLUMN[,...]] [--numerical COLUMN[,...]] [--labels FILE] [--output-dir DIR]
    python train.py --cv [--data PATH]
    python train.py --export PICKLE [--output-dir model/]
    python train.py --download

With no --target it is the book's run on the Telco data. Writes churn-model.bin, the book's pickle
of (DictVectorizer, LogisticRegression), churn-model.json, the portable artifact the service reads
without scikit-learn, and MODEL_CARD.md. How columns are read: churn/training/table.py, docs/your-data.md.
"""

from __future__ import annotations  # the annotations name scikit-learn classes, which may be missing

import argparse
import json
import os
import pickle
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from churn.core.artifact import CARD_NAME, MODEL_NAME, ModelError
from churn.core.book_pickle import artifact_from_pickle
from churn.core.campaign import TEST_SPLIT_KEY
from churn.core.export import DEFAULT_THRESHOLD, artifact_from_estimators
from churn.core.options import EXIT_INTERRUPTED, number
from churn.core.output_folder import written_whole
from churn.core.reference import build_reference
from churn.training.data import (
    DATA_URL,
    DEFAULT_DATA_PATH,
    RANDOM_STATE,
    TEST_SIZE,
    DataError,
    file_sha256,
    locate_dataset,
)
from churn.training.spec import TELCO, TableSpec
from churn.training.table import TARGET, TableError, artifact_schema, read_table

# The development requirements: without them --help still works, and training says in one line what
# to install (as --export does).
DEVELOPMENT_PACKAGES = ("numpy", "scipy", "sklearn", "matplotlib")
try:
    import numpy as np
    import sklearn
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import KFold, train_test_split

    from churn.training.fitting import TrainingError, fit
    from churn.training.model_card import card_charts, model_card
except ModuleNotFoundError as error:
    if (error.name or "").split(".")[0] not in DEVELOPMENT_PACKAGES:
        raise
    MISSING_PACKAGE = error.name
else:
    MISSING_PACKAGE = None

DEFAULT_OUTPUT_DIR = Path(__file__).resolve().parent / "model"
PICKLE_NAME = "churn-model.bin"
ARTIFACT_NAME = "churn-model.json"
DEFAULT_C = 0.5
CV_CS = (0.001, 0.01, 0.1, 0.5, 1, 5, 10)  # the book's chapter 4 grid


@dataclass(frozen=True)
class TrainingResult:
    """A fitted model with what the artifact records about how it was made."""

    dv: DictVectorizer
    model: LogisticRegression
    schema: dict
    feature_means: list  # of the training matrix's columns, for explanations
    training_rows: int
    test_rows: int
    test_auc: float
    C: float
    test_targets: list
    test_predictions: list
    solver: dict  # how the fit was solved: churn.training.fitting.fit's report
    reference: dict  # the distributions the service watches live customers against (churn.core.reference)
    target: dict  # the table's target column and its values: {"column", "positive", "negative"}


def train(table, C=DEFAULT_C):
    """Fit DictVectorizer + LogisticRegression on the book's 80 % split of a Table
    (churn.training.table) and score the other 20 %."""
    training, held_out = split(table)
    full_train, test = [table.customers[i] for i in training], [table.customers[i] for i in held_out]
    schema, imputed = artifact_schema(table, full_train, training[0])
    fitted = _fit_and_predict(full_train, test, C, imputed)
    targets = targets_of(test)
    return TrainingResult(
        dv=fitted.dv,
        model=fitted.model,
        schema=schema,
        feature_means=fitted.feature_means,
        training_rows=len(full_train),
        test_rows=len(test),
        test_auc=float(roc_auc_score(targets, fitted.predictions)),
        C=C,
        test_targets=targets,
        test_predictions=fitted.predictions.tolist(),
        solver=fitted.solver,
        reference=build_reference(full_train, schema, fitted.predictions.tolist(), imputed),
        target=table.target,
    )


def split(table):
    """The book's split of a table's rows: (training indices, held-out indices); TableError when either
    part would lack churners or stayers."""
    training, held_out = train_test_split(range(len(table.customers)), test_size=TEST_SIZE, random_state=RANDOM_STATE)
    for part, name in ((training, "training"), (held_out, "held-out")):
        churners = sum(table.customers[i][TARGET] for i in part)
        if not 0 < churners < len(part):
            raise TableError(
                f"{table.path} is too small to split: its {name} part of {len(part)} customers "
                f"has {churners} churners; a model needs both churners and stayers in each part"
            )
    return training, held_out


def cross_validate(table, cs=CV_CS, folds=5):
    """The book's chapter 4: AUC of each C by K-fold on the training part -> {C: (mean, std)}."""
    training, _ = split(table)
    full_train = [table.customers[i] for i in training]
    _, imputed = artifact_schema(table, full_train, training[0])
    kfold = KFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    scores = {}
    for C in cs:
        aucs = []
        for train_index, validation_index in kfold.split(full_train):
            part = [full_train[i] for i in train_index]
            validation = [full_train[i] for i in validation_index]
            predicted = _fit_and_predict(part, validation, C, imputed).predictions
            aucs.append(roc_auc_score(targets_of(validation), predicted))
        scores[C] = (float(np.mean(aucs)), float(np.std(aucs)))
    return scores


@dataclass(frozen=True)
class _Fitted:
    dv: DictVectorizer
    model: LogisticRegression
    solver: dict
    feature_means: list
    predictions: np.ndarray  # churn probabilities of the held-out customers


def _fit_and_predict(training, held_out, C, imputed):
    """The book's DictVectorizer + LogisticRegression fitted on `training`, and its churn probabilities
    for `held_out`."""
    dv = DictVectorizer(sparse=False)
    x = dv.fit_transform(model_inputs(training, imputed))
    model, solver = fit(x, targets_of(training), C)
    predictions = model.predict_proba(dv.transform(model_inputs(held_out, imputed)))[:, 1]
    return _Fitted(dv, model, solver, x.mean(axis=0).tolist(), predictions)


def targets_of(customers):
    """Whether each customer churned, 0 or 1."""
    return [customer[TARGET] for customer in customers]


def model_inputs(customers, imputed=None):
    """The model's fields of each prepared customer, as DictVectorizer takes them: a blank number
    (`imputed`: field -> the number that stands for it) as that number, and 1 in its blank's column
    "field=" (as a category's blank is one-hot encoded)."""
    return [_inputs(customer, imputed or {}) for customer in customers]


def _inputs(customer, imputed):
    inputs = {field: value for field, value in customer.items() if field != TARGET}
    for field, stand_in in imputed.items():
        if inputs[field] is None:
            inputs[field] = stand_in
            inputs[f"{field}="] = 1.0
    return inputs


def artifact(result, pickle_sha256, data_sha256):
    """The JSON document the service loads: weights by feature name, schema, threshold, metadata."""
    metadata = {
        "name": MODEL_NAME,
        "description": "Machine Learning Bookcamp churn model: DictVectorizer + LogisticRegression",
        "source": "train.py",
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (3.10 must reach churn's check)
        "training_rows": result.training_rows,
        "test_rows": result.test_rows,
        "test_auc": result.test_auc,
        "C": result.C,
        "solver": result.solver,
        "split": {"test_size": TEST_SIZE, "random_state": RANDOM_STATE},
        "sklearn_version": sklearn.__version__,
        "data_sha256": data_sha256,
        "pickle": {"file": PICKLE_NAME, "sha256": pickle_sha256},
        "model_card": CARD_NAME,
        "target": result.target,  # the table's column and its values: evaluate.py reads outcomes by them
        # What a campaign of a given size reached on held-out customers (churn/core/campaign.py), and
        # the test-split figures evaluate.py reports beside the realized ones.
        TEST_SPLIT_KEY: {"probabilities": result.test_predictions, "churned": result.test_targets},
    }
    return artifact_from_estimators(
        result.dv, result.model, result.schema, metadata, DEFAULT_THRESHOLD, result.feature_means, result.reference
    )


def save(result, output_dir, data):
    """Write the book's pickle, the JSON artifact and the model card (with its charts) into `output_dir`,
    whole or not at all (churn.core.output_folder); return the paths of the first three.

    `data` describes the data set for the card: its sha256, rows and churners."""
    with written_whole(output_dir) as staging:
        with open(staging / PICKLE_NAME, "wb") as file:
            pickle.dump((result.dv, result.model), file)
        document = artifact(result, file_sha256(staging / PICKLE_NAME), data["sha256"])
        write_artifact(document, staging / ARTIFACT_NAME)
        (staging / CARD_NAME).write_text(model_card(result, document, data), encoding="utf-8")
        for name, svg in card_charts(result, document).items():
            (staging / name).write_bytes(svg)
    return tuple(Path(output_dir) / name for name in (PICKLE_NAME, ARTIFACT_NAME, CARD_NAME))


def write_artifact(document, path):
    """Write the JSON artifact, indented for people to read."""
    Path(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def export(pickle_path, output_dir):
    """Convert the book's pickle (read through the allowlist) into the JSON artifact; return its path."""
    document = artifact_from_pickle(Path(pickle_path).read_bytes())
    with written_whole(output_dir) as staging:
        write_artifact(document, staging / ARTIFACT_NAME)
    return Path(output_dir) / ARTIFACT_NAME


def parse_args(argv):
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data",
        default=os.environ.get("CHURN_DATA"),
        help="the customer table, CSV or Parquet (default: $CHURN_DATA, else the book's Telco CSV in data/, "
        "downloaded if absent)",
    )
    table = parser.add_argument_group("any customer table (without --target: the book's Telco columns)")
    table.add_argument("--target", help="the column that says whether a customer churned")
    table.add_argument(
        "--positive", help="the target's value that means churn (needed unless the values are 1/0 or Yes/No)"
    )
    table.add_argument("--id", help="the column that names each customer: kept out of the model, checked unique")
    for option, what in (
        ("--drop", "columns to leave out"),
        ("--categorical", "columns to read as categories whatever they hold"),
        ("--numerical", "columns to read as numbers whatever the rule chooses"),
    ):
        table.add_argument(option, metavar="COLUMN[,COLUMN...]", action="append", default=[], help=what)
    table.add_argument("--labels", metavar="FILE", help="a JSON object of column -> what people read for it")
    parser.add_argument("--data-url", default=DATA_URL, help="where to download the data set from")
    parser.add_argument(
        "--C",
        type=number(lambda value: value > 0, "a positive number"),
        default=DEFAULT_C,
        help="inverse regularisation strength (default 0.5)",
    )
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="where to write the model (default model/)")
    parser.add_argument(
        "--cv",
        action="store_true",
        help="instead of training, print 5-fold cross-validated AUC for each C of the book's grid",
    )
    parser.add_argument(
        "--export",
        metavar="PICKLE",
        help="instead of training, convert the book's pickle (dv, model) into churn-model.json in --output-dir",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="only fetch the data set into data/ (checked by its SHA-256), or say where it already is",
    )
    return parser.parse_args(argv)


def main(argv=None, default_data_path=DEFAULT_DATA_PATH):
    """Train (or cross-validate, or export a pickle) as the command line says; return the exit status."""
    args = parse_args(argv)
    try:
        return _command(args, default_data_path)
    except KeyboardInterrupt:
        print(f"train.py: interrupted: {args.output_dir} left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED


def _command(args, default_data_path):
    if args.export:
        return _export_command(args.export, args.output_dir)
    if args.download:
        return _download_command(args, default_data_path)
    if MISSING_PACKAGE:
        print(
            f"train.py: error: training needs the development requirements (no module named {MISSING_PACKAGE!r}); "
            "install them with .venv/bin/pip install --require-hashes -r requirements-dev.txt",
            file=sys.stderr,
        )
        return 2
    try:
        spec = table_spec(args)
        data_path = locate_dataset(args.data, default=default_data_path, url=args.data_url)
        table = read_table(data_path, spec)
        if args.cv:
            return _cv_command(table)
        result = train(table, C=args.C)
    except (DataError, TableError, TrainingError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    customers = table.customers
    data = {"sha256": file_sha256(data_path), "rows": len(customers), "churners": table.churners, "spec": spec}
    try:
        pickle_path, artifact_path, card_path = save(result, args.output_dir, data)
    except OSError as error:  # a full disk, a folder that cannot be written
        print(f"train.py: error: cannot write {args.output_dir} ({error}); it is left as it was", file=sys.stderr)
        return 2
    for column, why in table.dropped:
        print(f"dropped: {column} ({why})")
    print(f"data:  {data_path} ({len(customers)} customers)")
    print(f"model: trained on {result.training_rows} customers with C={result.C} ({_solving(result.solver)})")
    print(f"AUC:   {result.test_auc:.3f} on the {result.test_rows} held-out test customers")
    print(f"wrote: {pickle_path} (the book's pickle), {artifact_path} (served) and {card_path}")
    return 0


# The gradient left, against its size at zero, below which the fit is at the optimum as doubles can
# tell (the book's table: about 1e-17); a table of large numbers may stop short of it, and says so.
AT_THE_OPTIMUM = 1e-12


def _solving(solver):
    newton = solver["newton_steps"]
    steps = f"{solver['iterations']} liblinear iterations, {newton} Newton step{'' if newton == 1 else 's'}"
    if solver["relative_gradient"] <= AT_THE_OPTIMUM:
        return f"solved to the optimum: {steps}"
    return f"{steps}; the gradient stopped at {solver['relative_gradient']:.0e} of its size at zero"


def table_spec(args):
    """The TableSpec the options describe: the book's Telco table without --target."""
    if args.target is None:
        given = [
            option
            for option in ("positive", "id", "drop", "categorical", "numerical", "labels")
            if getattr(args, option)
        ]
        if given:
            raise DataError(f"--{given[0]} describes a table: name its target column with --target too")
        return TELCO
    if args.data is None:
        raise DataError("--target names a column of your table: give the table with --data FILE")
    return TableSpec(
        target=args.target,
        positive=args.positive,
        id=args.id,
        drop=_columns(args.drop),
        categorical=_columns(args.categorical),
        numerical=_columns(args.numerical),
        labels=_labels(args.labels) if args.labels else {},
        description=f"`{Path(args.data).name}`",
    )


def _columns(options):
    """The columns of a repeatable COLUMN[,COLUMN...] option."""
    return tuple(column.strip() for option in options for column in option.split(",") if column.strip())


def _labels(path):
    """A labels file: a JSON object of column -> label."""
    try:
        labels = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read the labels file {path} ({error})") from None
    if not isinstance(labels, dict) or not all(isinstance(label, str) for label in labels.values()):
        raise DataError(f"the labels file {path} must be a JSON object of column -> label (text)")
    return labels


def _cv_command(customers):
    for C, (mean, std) in cross_validate(customers).items():
        print(f"C={C:<6} AUC {mean:.3f} ± {std:.3f}")
    return 0


def _download_command(args, default_data_path):
    try:
        data_path = locate_dataset(args.data, default=default_data_path, url=args.data_url)
    except DataError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    print(f"data:  {data_path} (sha256 {file_sha256(data_path)})")
    return 0


def _export_command(pickle_path, output_dir):
    try:
        artifact_path = export(pickle_path, output_dir)
    except (OSError, ModelError) as error:
        print(f"train.py: error: cannot export {pickle_path}: {error}", file=sys.stderr)
        return 2
    print(f"wrote: {artifact_path} (from {pickle_path}, read without running its code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
