"""Read the book's pickle, (DictVectorizer, LogisticRegression), without running code it brings.

pickle.load resolves every global a file names, so a pickle can make it call os.system. Here
`find_class` resolves only an allowlist: the two scikit-learn classes and the numpy helpers and
types their attributes need. Anything else is refused before any of the file's objects is built.
This module imports scikit-learn (through the allowlist); the JSON path never imports it.
"""

import hashlib
import importlib
import io
import pickle
import sys
import warnings

from churn.core.artifact import MODEL_NAME, ModelError
from churn.core.export import artifact_from_estimators, schema_from_vectorizer

# The globals a pickle of the book's (DictVectorizer, LogisticRegression) names: (module, name).
ALLOWED_GLOBALS = frozenset(
    {
        ("sklearn.feature_extraction._dict_vectorizer", "DictVectorizer"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        *(("numpy", name) for name in ("ndarray", "dtype", "float64", "float32", "int64", "int32")),
        *(("numpy._core.multiarray", name) for name in ("_reconstruct", "scalar")),
    }
)
_RENAMED_MODULES = {"numpy.core.multiarray": "numpy._core.multiarray"}  # numpy 1.x's name for it


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allowlist."""


class _AllowlistUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        """The global (module, name) the pickle names, if the allowlist has it; else ForbiddenGlobal."""
        current = _RENAMED_MODULES.get(module, module)
        if (current, name) not in ALLOWED_GLOBALS:
            raise ForbiddenGlobal(f"refusing to load {module}.{name}: the pickle may only hold the book's model")
        try:
            return getattr(importlib.import_module(current), name)
        except ImportError as error:
            raise ModelError(
                f"reading a pickled model needs scikit-learn and numpy ({error}); "
                "install requirements-dev.txt, or serve the model's JSON export (python train.py --export)"
            ) from None


def read_book_pickle(content):
    """The (DictVectorizer, LogisticRegression) pickled in `content`, and scikit-learn's warnings that
    it was pickled by another version (InconsistentVersionWarning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = _AllowlistUnpickler(io.BytesIO(content)).load()
        except ModelError:
            raise
        except Exception as error:  # whatever a damaged or hostile file makes the unpickler raise
            raise ModelError(f"not a readable pickle of the book's model: {error}") from None
    kinds = [type(part).__name__ for part in loaded] if isinstance(loaded, tuple) else None
    if kinds != ["DictVectorizer", "LogisticRegression"]:
        raise ModelError("the pickle does not hold the book's tuple (DictVectorizer, LogisticRegression)")
    mismatches = [warning.message for warning in caught if hasattr(warning.message, "original_sklearn_version")]
    return loaded, mismatches


def artifact_from_pickle(content, log=None):
    """Convert the book's pickle into the JSON artifact; version mismatches are reported to `log`."""
    (dv, model), mismatches = read_book_pickle(content)
    installed = sys.modules["sklearn"].__version__
    pickled_with = mismatches[0].original_sklearn_version if mismatches else installed
    if mismatches:
        (log or _print_warning)(
            f"churn service: warning: the model was pickled with scikit-learn {pickled_with} and is read with "
            f"{installed}; its predictions may differ from the notebook's"
        )
    metadata = {
        "name": MODEL_NAME,
        "source": "the book's pickle (DictVectorizer, LogisticRegression)",
        "pickle": {"sha256": hashlib.sha256(content).hexdigest()},
        "sklearn_version": pickled_with,
    }
    try:
        return artifact_from_estimators(dv, model, schema_from_vectorizer(dv), metadata)
    except (AttributeError, ValueError) as error:
        raise ModelError(f"the pickled model cannot be served: {error}") from None


def _print_warning(message):
    print(message, file=sys.stderr, flush=True)
