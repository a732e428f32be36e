"""The book's pickle is served safely: only the allowlisted globals are ever resolved."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.pipeline import Pipeline

import train
from churn.core.artifact import ModelError
from churn.core.book_pickle import artifact_from_pickle
from churn.core.model import load_model, model_from_artifact, score
from churn.core.schema import validate_customer


class _Gadget:
    """Unpickling this calls `function(*args)`: what a hostile model file does."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _gadgets(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _Gadget(os.system, f"touch {marker}"),
        "subprocess.call": _Gadget(subprocess.call, ["touch", str(marker)]),
        "builtins.eval": _Gadget(eval, touch),
        "builtins.exec": _Gadget(exec, touch),
    }


@pytest.fixture(scope="module")
def book_model(telco_table):
    """A book-style (dv, model) trained here on the real data, with another C than the shipped one."""
    result = train.train(telco_table, C=1.0)
    return result.dv, result.model


@pytest.mark.parametrize("name", ["os.system", "subprocess.call", "builtins.eval", "builtins.exec"])
def test_pickle_gadgets_are_refused_before_they_run(tmp_path, book_model, name):
    marker = tmp_path / "pwned"
    gadget = _gadgets(marker)[name]
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps((book_model[0], gadget)))
    with pytest.raises(ModelError, match=f"cannot load model {path}: .*refusing to load [a-z_]+\\.[a-z_]+"):
        load_model(path)
    assert not marker.exists()


def test_a_class_outside_the_allowlist_is_refused_by_name(tmp_path, book_model):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps((book_model[0], Pipeline([("model", book_model[1])]))))
    with pytest.raises(ModelError, match="refusing to load sklearn.pipeline.Pipeline"):
        load_model(path)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(("just", "strings")))
    with pytest.raises(ModelError, match=r"does not hold the book's tuple \(DictVectorizer, LogisticRegression\)"):
        load_model(path)


def test_a_truncated_pickle_is_refused(tmp_path, book_model):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(book_model)[:500])
    with pytest.raises(ModelError, match="not a readable pickle of the book's model"):
        load_model(path)


def test_book_pickle_serves_the_same_probabilities_as_its_json_export(tmp_path, book_model, customers):
    dv, sk_model = book_model
    pickle_path = tmp_path / "model.bin"
    with open(pickle_path, "wb") as file:
        pickle.dump((dv, sk_model), file)  # exactly as the book's notebook does
    from_pickle = load_model(pickle_path)
    from_json = load_model(train.export(pickle_path, tmp_path / "exported"))
    prepared = [validate_customer(customer, from_json.schema) for customer in customers]
    assert score(from_pickle, prepared) == score(from_json, prepared)
    expected = sk_model.predict_proba(dv.transform(train.model_inputs(customers)))[:, 1]
    assert np.max(np.abs(np.array(score(from_json, prepared)) - expected)) <= 1e-12


def test_schema_of_a_pickle_comes_from_its_vectorizer(book_model, model):
    from_pickle = model_from_artifact(artifact_from_pickle(pickle.dumps(book_model)))
    assert from_pickle.schema.categorical == model.schema.categorical
    assert sorted(from_pickle.schema.numerical) == sorted(model.schema.numerical)


def test_a_pickle_from_another_scikit_learn_version_is_served_with_a_warning(book_model):
    content = pickle.dumps(book_model)
    installed = sys.modules["sklearn"].__version__.encode()
    older = content.replace(installed, b"0" * len(installed))
    warnings = []
    document = artifact_from_pickle(older, log=warnings.append)
    assert len(warnings) == 1
    assert f"pickled with scikit-learn {'0' * len(installed)} and is read with {installed.decode()}" in warnings[0]
    assert document["metadata"]["sklearn_version"] == "0" * len(installed)


def test_without_scikit_learn_a_pickle_is_refused_with_what_to_do(tmp_path, monkeypatch, book_model):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(book_model))
    monkeypatch.setitem(sys.modules, "sklearn.feature_extraction._dict_vectorizer", None)
    with pytest.raises(ModelError, match="reading a pickled model needs scikit-learn and numpy"):
        load_model(path)


def test_train_export_converts_a_pickle_and_refuses_a_gadget(tmp_path, book_model, capsys):
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(book_model))
    assert train.main(["--export", str(path), "--output-dir", str(tmp_path / "out")]) == 0
    assert load_model(tmp_path / "out" / "churn-model.json").metadata["source"].startswith("the book's pickle")
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps(_gadgets(marker)["os.system"]))
    assert train.main(["--export", str(path), "--output-dir", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to load posix.system" in err
    assert not marker.exists() and not (tmp_path / "out2" / "churn-model.json").exists()


def test_a_pickle_that_names_numpy_1s_numpy_core_is_read_and_only_its_allowed_globals(book_model):
    # Protocol 3 writes each global as "module\nname\n" text, so the module can be renamed in place.
    content = pickle.dumps(book_model, protocol=3)
    assert b"numpy._core.multiarray\n" in content
    numpy_1 = content.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert artifact_from_pickle(numpy_1)["weights"] == artifact_from_pickle(content)["weights"]
    forbidden = numpy_1.replace(b"numpy.core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_frombuffer")
    with pytest.raises(ModelError, match="refusing to load numpy.core.multiarray._frombuffer"):
        artifact_from_pickle(forbidden)
