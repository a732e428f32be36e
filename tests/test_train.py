import errno
import hashlib
import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import sklearn
from scipy.special import expit
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import train
from churn.core.artifact import CARD_CHARTS, CARD_NAME
from churn.core.model import load_model, score
from churn.core.schema import validate_customer
from churn.training import fitting
from churn.training.table import TARGET
from helpers import require_trained_on

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
    assert artifact["metadata"]["test_auc"] >= 0.855  # the book: 0.858


def test_training_splits_the_data_as_the_book_does(artifact, customers):
    test_rows = math.ceil(train.TEST_SIZE * len(customers))  # train_test_split rounds the test part up
    assert artifact["metadata"]["test_rows"] == test_rows
    assert artifact["metadata"]["training_rows"] == len(customers) - test_rows


def test_training_prints_a_summary(data_path, customers, tmp_path, capsys):
    train.main(["--data", str(data_path), "--output-dir", str(tmp_path)])
    out = capsys.readouterr().out
    auc = json.loads((tmp_path / train.ARTIFACT_NAME).read_text())["metadata"]["test_auc"]
    assert f"({len(customers)} customers)" in out and f"AUC:   {auc:.3f} " in out
    assert str(tmp_path / "churn-model.json") in out


def test_the_pickle_is_the_books_tuple_of_vectorizer_and_model(book_pickle):
    dv, model = book_pickle
    assert isinstance(dv, DictVectorizer) and isinstance(model, LogisticRegression)
    assert model.solver == "liblinear" and model.C == train.DEFAULT_C


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
    assert len(actual) == len(customers)
    assert np.max(np.abs(np.array(actual) - expected)) <= 1e-12


def test_training_is_deterministic(telco_table):
    first, second = train.train(telco_table), train.train(telco_table)
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


def test_shipped_model_is_the_one_training_produces(shipped_artifact, telco_table, customers, data_path):
    require_trained_on(shipped_artifact["metadata"], data_path)
    fresh = train.train(telco_table, C=shipped_artifact["metadata"]["C"])
    expected = fresh.model.predict_proba(fresh.dv.transform(train.model_inputs(customers)))[:, 1]
    shipped = load_model(train.DEFAULT_OUTPUT_DIR / train.ARTIFACT_NAME)
    actual = score(shipped, [validate_customer(customer, shipped.schema) for customer in customers])
    # Both are at the optimum, so they agree on any CPU (to 4e-16 between AVX2 and AVX-512 kernels);
    # fits stopped at scikit-learn's default tolerance differ by up to 0.06.
    assert np.max(np.abs(np.array(actual) - expected)) <= 1e-9
    assert shipped_artifact["schema"] == fresh.schema


def test_training_solves_liblinears_problem_to_the_optimum(telco_table, customers):
    """The gradient of the objective at the fitted weights is ~0, whichever CPU kernel computed them."""
    result = train.train(telco_table)
    x, y = _training_matrix(result.dv, customers)
    assert _relative_gradient_norm(result.model.coef_[0], result.model.intercept_[0], result.C, x, y) <= 1e-12


def test_shipped_model_is_at_the_optimum(shipped_artifact, customers, data_path):
    require_trained_on(shipped_artifact["metadata"], data_path)
    dv = DictVectorizer(sparse=False).fit(train.model_inputs(_training_part(customers)))
    x, y = _training_matrix(dv, customers)
    weights = np.array([shipped_artifact["weights"][feature] for feature in dv.feature_names_])
    intercept, C = shipped_artifact["intercept"], shipped_artifact["metadata"]["C"]
    assert _relative_gradient_norm(weights, intercept, C, x, y) <= 1e-12


def test_a_fit_that_reaches_the_iteration_cap_is_refused(data_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fitting, "MAX_ITER", 2)
    assert train.main(["--data", str(data_path), "--output-dir", str(tmp_path / "model")]) == 2
    assert "train.py: error: liblinear did not converge in 2 iterations (C=0.5)" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def _training_part(customers):
    """The book's 80 %, which the model is fitted on."""
    return train_test_split(customers, test_size=train.TEST_SIZE, random_state=train.RANDOM_STATE)[0]


def _training_matrix(dv, customers):
    """The training part as the vectorizer's matrix, and its targets."""
    full_train = _training_part(customers)
    return dv.transform(train.model_inputs(full_train)), np.array([customer[TARGET] for customer in full_train])


def _relative_gradient_norm(weights, intercept, C, x, y):
    """|∇f(w)| / |∇f(0)| for liblinear's objective f(w) = ½|w|² + C Σ log(1 + exp(−yᵢ w·xᵢ)), yᵢ = ±1,
    where w includes the intercept as the weight of a constant feature 1 (intercept_scaling=1),
    which liblinear regularises like any other weight. f is 1-strongly convex, so the distance
    from w to the unique optimum is at most |∇f(w)|. Written here again, apart from churn.training.fitting."""
    w = np.append(weights, intercept)
    features = np.hstack([x, np.ones((len(x), 1))])
    signs = 2 * y - 1
    margins = signs * (features @ w)
    gradient = w - C * features.T @ (signs * expit(-margins))
    at_zero = -C * features.T @ (signs / 2)
    return np.linalg.norm(gradient) / np.linalg.norm(at_zero)


def test_shipped_pickle_matches_the_shipped_json():
    shipped = json.loads(SHIPPED_MODEL.read_text())
    assert hashlib.sha256(SHIPPED_PICKLE.read_bytes()).hexdigest() == shipped["metadata"]["pickle"]["sha256"]


@pytest.mark.slow
def test_cross_validation_prints_the_books_grid(data_path, capsys):
    assert train.main(["--data", str(data_path), "--cv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [f"C={C}" for C in train.CV_CS]
    means = [float(line.split()[2]) for line in lines]
    assert all(0.8 < mean < 0.9 for mean in means) and means[0] < means[3]  # the book: 0.825 ... 0.841


def test_training_writes_the_cards_charts_beside_it_and_embeds_them(trained_dir, artifact):
    card = (trained_dir / CARD_NAME).read_text()
    for chart in CARD_CHARTS:
        svg = (trained_dir / chart).read_text()
        assert svg.startswith("<?xml") and "<svg" in svg and "<script" not in svg
        assert f"]({chart})" in card  # embedded, by a path relative to the card
    assert f"this model (AUC {artifact['metadata']['test_auc']:.3f})" in (trained_dir / "roc.svg").read_text()
    strongest = max(artifact["weights"], key=lambda feature: abs(artifact["weights"][feature]))
    assert strongest in (trained_dir / "coefficients.svg").read_text()


@pytest.mark.slow
def test_the_same_training_draws_the_same_charts(trained_dir, data_path, tmp_path):
    assert train.main(["--data", str(data_path), "--output-dir", str(tmp_path)]) == 0
    for chart in CARD_CHARTS:
        assert (tmp_path / chart).read_bytes() == (trained_dir / chart).read_bytes(), chart


def test_the_served_model_carries_its_card_and_charts(trained_dir, artifact):
    model = load_model(trained_dir / train.ARTIFACT_NAME)
    assert set(model.card) == {CARD_NAME, *CARD_CHARTS} and artifact["sha256"].encode() in model.card[CARD_NAME]


def test_training_writes_a_model_card_with_the_test_results(trained_dir, artifact, customers):
    card = (trained_dir / "MODEL_CARD.md").read_text()
    churners = sum(customer[TARGET] for customer in customers)
    assert artifact["metadata"]["model_card"] == "MODEL_CARD.md"
    assert f"ROC AUC: **{artifact['metadata']['test_auc']:.3f}**" in card
    assert f"{len(customers):,} customers, of whom {churners:,} churned ({churners / len(customers):.1%})" in card
    solver = artifact["metadata"]["solver"]
    assert (
        f"{solver['iterations']} liblinear iterations (`tol={solver['tol']:g}`), then {solver['newton_steps']}" in card
    )
    assert "| churned | " in card and "| did not churn | " in card
    assert card.count("\n| ") >= 10 + 10  # calibration deciles and strongest coefficients
    for heading in ("## Data", "## Model", "## Intended use", "## Known limits", "## Strongest coefficients"):
        assert heading in card


def test_model_card_confusion_matrix_adds_up_to_the_test_split(trained_dir, artifact):
    card = (trained_dir / "MODEL_CARD.md").read_text()
    cells = [
        int(n) for row in ("| churned |", "| did not churn |") for n in card.split(row)[1].split("\n")[0].split("|")[:2]
    ]
    assert sum(cells) == artifact["metadata"]["test_rows"]


def test_shipped_model_card_belongs_to_the_shipped_model():
    card = (train.DEFAULT_OUTPUT_DIR / "MODEL_CARD.md").read_text()
    assert json.loads(SHIPPED_MODEL.read_text())["sha256"] in card


# train.py as run where the development requirements are not installed: their imports fail.
_WITHOUT_DEVELOPMENT_REQUIREMENTS = """
import runpy, sys
for name in ("numpy", "scipy", "sklearn", "matplotlib"):
    sys.modules[name] = None
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def _train_without_development_requirements(project_dir, *arguments):
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_DEVELOPMENT_REQUIREMENTS, *arguments],
        cwd=project_dir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_train_help_works_without_the_development_requirements(project_dir):
    result = _train_without_development_requirements(project_dir, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: train.py") and result.stderr == ""


def test_training_without_the_development_requirements_says_in_one_line_what_to_install(project_dir, tmp_path):
    result = _train_without_development_requirements(project_dir, "--output-dir", tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("train.py: error: training needs the development requirements")
    assert "pip install --require-hashes -r requirements-dev.txt" in line
    assert list(tmp_path.iterdir()) == []


def test_training_writes_the_reference_the_service_watches_live_customers_against(artifact, customers):
    reference = artifact["reference"]
    assert set(reference["features"]) == {*artifact["schema"]["categorical"], *artifact["schema"]["numerical"]}
    assert len(reference["score"]["shares"]) == len(reference["score"]["edges"]) + 1 >= 5
    gender = reference["features"]["gender"]
    assert sum(gender["shares"]) == pytest.approx(1) and gender["values"] == sorted({c["gender"] for c in customers})


@pytest.fixture
def model_dir_copy(tmp_path):
    """A copy of the shipped model/ folder, to retrain over."""
    folder = tmp_path / "model"
    folder.mkdir()
    for path in train.DEFAULT_OUTPUT_DIR.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _contents(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_ctrl_c_after_the_pickle_is_written_leaves_the_model_folder_as_it_was(
    data_path, model_dir_copy, monkeypatch, capsys
):
    before = _contents(model_dir_copy)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "model_card", interrupted)  # the pickle and the artifact are written by then
    assert train.main(["--data", str(data_path), "--output-dir", str(model_dir_copy)]) == train.EXIT_INTERRUPTED
    assert capsys.readouterr().err == f"train.py: interrupted: {model_dir_copy} left as it was\n"
    assert _contents(model_dir_copy) == before
    assert [path.name for path in model_dir_copy.parent.iterdir()] == ["model"]


def test_a_full_disk_leaves_the_model_folder_as_it_was_with_one_line(data_path, model_dir_copy, monkeypatch, capsys):
    before = _contents(model_dir_copy)

    def full(document, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(train, "write_artifact", full)
    assert train.main(["--data", str(data_path), "--output-dir", str(model_dir_copy)]) == 2
    assert capsys.readouterr().err == (
        f"train.py: error: cannot write {model_dir_copy} ([Errno 28] No space left on device); it is left as it was\n"
    )
    assert _contents(model_dir_copy) == before
