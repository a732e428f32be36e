import hashlib
import json
import pickle

import numpy as np
import pytest
import sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression

import train
from churn.model import load_model, score
from churn.schema import validate_customer

SHIPPED_MODEL = train.DEFAULT_OUTPUT_DIR / train.ARTIFACT_NAME
SHIPPED_PICKLE = train.DEFAULT_OUTPUT_DIR / train.PICKLE_NAME


@pytest.fixture(scope="session")
def trained_dir(data_path, tmp_path_factory):
    """A model trained by the CLI on the real data, as a user retrains it."""
    output_dir = tmp_path_factory.mktemp("model")
    assert train.main(["--data", str(data_path), "--output-dir", str(output_dir)]) == 0
    return output_dir


@pytest.fixture(scope="session")
def artifact(trained_dir):
    return json.loads((trained_dir / train.ARTIFACT_NAME).read_text())


@pytest.fixture(scope="session")
def book_pickle(trained_dir):
    with open(trained_dir / train.PICKLE_NAME, "rb") as file:
        return pickle.load(file)


def test_training_reaches_the_books_auc(artifact):
    assert artifact["metadata"]["test_auc"] >= 0.855
    assert artifact["metadata"]["training_rows"] == 5634 and artifact["metadata"]["test_rows"] == 1409


def test_training_prints_a_summary(data_path, tmp_path, capsys):
    train.main(["--data", str(data_path), "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "7043 customers" in out and "AUC:   0.858" in out and str(tmp_path / "churn-model.json") in out


def test_the_pickle_is_the_books_tuple_of_vectorizer_and_model(book_pickle):
    dv, model = book_pickle
    assert isinstance(dv, DictVectorizer) and isinstance(model, LogisticRegression)
    assert model.solver == "liblinear" and model.C == 0.5


def test_the_books_customer_is_not_a_churner(trained_dir, book_customer):
    model = load_model(trained_dir / train.ARTIFACT_NAME)
    [probability] = score(model, [validate_customer(book_customer, model.schema)])
    assert 0.05 <= probability <= 0.075
    assert probability < model.threshold


def test_json_artifact_equals_predict_proba_on_every_real_customer(trained_dir, book_pickle, customers):
    dv, sk_model = book_pickle
    expected = sk_model.predict_proba(dv.transform(train.model_inputs(customers)))[:, 1]
    model = load_model(trained_dir / train.ARTIFACT_NAME)
    actual = score(model, [validate_customer(customer, model.schema) for customer in customers])
    assert len(actual) == 7043
    assert np.max(np.abs(np.array(actual) - expected)) <= 1e-12


def test_training_is_deterministic(customers):
    first, second = train.train(customers), train.train(customers)
    assert np.array_equal(first.model.coef_, second.model.coef_)
    assert np.array_equal(first.model.intercept_, second.model.intercept_)


def test_C_option_changes_the_regularisation(data_path, tmp_path, artifact):
    train.main(["--data", str(data_path), "--C", "0.01", "--output-dir", str(tmp_path)])
    weaker = json.loads((tmp_path / train.ARTIFACT_NAME).read_text())
    assert weaker["metadata"]["C"] == 0.01
    assert sum(map(abs, weaker["weights"].values())) < sum(map(abs, artifact["weights"].values()))


def test_artifact_records_how_the_model_was_made(trained_dir, artifact, data_path):
    metadata = artifact["metadata"]
    assert metadata["sklearn_version"] == sklearn.__version__
    assert metadata["pickle"]["sha256"] == hashlib.sha256((trained_dir / train.PICKLE_NAME).read_bytes()).hexdigest()
    assert metadata["data_sha256"] == hashlib.sha256(data_path.read_bytes()).hexdigest()
    assert artifact["schema"]["categorical"]["seniorcitizen"] == [0, 1]
    assert artifact["schema"]["numerical"] == ["tenure", "monthlycharges", "totalcharges"]


def test_shipped_model_is_the_one_training_produces(artifact):
    shipped = json.loads(SHIPPED_MODEL.read_text())
    assert shipped["weights"] == artifact["weights"]
    assert shipped["intercept"] == artifact["intercept"]
    assert shipped["schema"] == artifact["schema"]


def test_shipped_pickle_matches_the_shipped_json():
    shipped = json.loads(SHIPPED_MODEL.read_text())
    assert hashlib.sha256(SHIPPED_PICKLE.read_bytes()).hexdigest() == shipped["metadata"]["pickle"]["sha256"]


def test_cross_validation_prints_the_books_grid(data_path, capsys):
    assert train.main(["--data", str(data_path), "--cv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [f"C={C}" for C in train.CV_CS]
    means = [float(line.split()[2]) for line in lines]
    assert all(0.8 < mean < 0.9 for mean in means) and means[0] < means[3]  # the book: 0.825 ... 0.841


def test_training_writes_a_model_card_with_the_test_results(trained_dir, artifact):
    card = (trained_dir / "MODEL_CARD.md").read_text()
    assert artifact["metadata"]["model_card"] == "MODEL_CARD.md"
    assert f"ROC AUC: **{artifact['metadata']['test_auc']:.3f}**" in card
    assert "7,043 customers, of whom 1,869 churned (26.5%)" in card
    assert "| churned | " in card and "| did not churn | " in card
    assert card.count("\n| ") >= 10 + 10  # calibration deciles and strongest coefficients
    for heading in ("## Data", "## Model", "## Intended use", "## Known limits", "## Strongest coefficients"):
        assert heading in card


def test_model_card_confusion_matrix_adds_up_to_the_test_split(trained_dir):
    card = (trained_dir / "MODEL_CARD.md").read_text()
    cells = [
        int(n) for row in ("| churned |", "| did not churn |") for n in card.split(row)[1].split("\n")[0].split("|")[:2]
    ]
    assert sum(cells) == 1409


def test_shipped_model_card_belongs_to_the_shipped_model():
    card = (train.DEFAULT_OUTPUT_DIR / "MODEL_CARD.md").read_text()
    assert json.loads(SHIPPED_MODEL.read_text())["sha256"] in card
