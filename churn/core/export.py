"""Turn a fitted DictVectorizer + LogisticRegression into the JSON artifact the service reads.

Reads only the estimators' attributes: scikit-learn itself is not imported here.
"""

from churn.core.artifact import FORMAT_VERSION, with_content_hash
from churn.core.telco import FLAG_FEATURES

DEFAULT_THRESHOLD = 0.5


def artifact_from_estimators(
    dv, model, schema, metadata, threshold=DEFAULT_THRESHOLD, feature_means=None, reference=None
):
    """The artifact: weights by feature name, intercept, schema, threshold, metadata and its sha256;
    with the training set's feature means (in the vectorizer's order), it can explain predictions;
    with the reference distributions (churn.core.reference), the service watches its inputs."""
    if len(model.classes_) != 2 or model.coef_.shape != (1, len(dv.feature_names_)):
        raise ValueError("expected a binary LogisticRegression fitted on the DictVectorizer's features")
    document = {
        "format_version": FORMAT_VERSION,
        "intercept": float(model.intercept_[0]),
        "weights": dict(zip(dv.feature_names_, model.coef_[0].tolist(), strict=True)),
        "schema": schema,
        "threshold": threshold,
        "metadata": metadata,
    }
    if feature_means is not None:
        document["feature_means"] = dict(zip(dv.feature_names_, [float(mean) for mean in feature_means], strict=True))
    if reference is not None:
        document["reference"] = reference
    return with_content_hash(document)


def schema_from_vectorizer(dv):
    """The input schema a fitted DictVectorizer implies, for a model that came without one.

    A "field=value" feature makes `value` an allowed value of `field`; a plain feature is a number,
    except the book's flags (churn.core.telco), which are 0/1: the book's pickle is of the book's table.
    """
    categorical, numerical = {}, []
    for feature in dv.feature_names_:
        field, is_one_hot, value = feature.partition("=")
        if is_one_hot:
            categorical.setdefault(field, []).append(value)
        elif field in FLAG_FEATURES:
            categorical[field] = [0, 1]
        else:
            numerical.append(field)
    return {"categorical": categorical, "numerical": numerical}
