"""The model artifact's format: its version, its content hash, its threshold rule, where the shipped
one is, the model card's files beside it, and the error that reading a model raises.

The loader (model.py), the exporter (export.py) and the pickle reader (book_pickle.py) all import this
module and none of them imports another for it. Standard library only.
"""

import hashlib
import json
import os
from pathlib import Path

from churn.core.messages import is_number

DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "model" / "churn-model.json"
# What every command that reads a model says of its default (model_path's).
MODEL_PATH_HELP = "the model's JSON artifact (default: $MODEL_PATH, as the service reads it, else the shipped model)"
FORMAT_VERSION = 1
MODEL_NAME = "churn"  # what train.py and the pickle reader name the model (metadata.name)
HASH_KEY = "sha256"
VERSION_CHARS = 12  # the model version is this prefix of its sha256
# The model card train.py writes beside the artifact, and the charts it embeds, written beside it too.
CARD_NAME = "MODEL_CARD.md"
CARD_CHARTS = ("roc.svg", "calibration.svg", "coefficients.svg")
REQUIRED_KEYS = ("format_version", "intercept", "weights", "schema", "threshold", "metadata", HASH_KEY)


class ModelError(Exception):
    """The model artifact cannot be used; the message says why."""


def model_path(environ=os.environ):
    """Where the model is: MODEL_PATH (relative to where the command was run), else the shipped one."""
    return environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH


def content_sha256(document):
    """sha256 of an artifact's content: its canonical JSON without the hash itself."""
    content = {key: value for key, value in document.items() if key != HASH_KEY}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def with_content_hash(document):
    """The artifact with its content hash added, as train.py writes it."""
    return {**document, HASH_KEY: content_sha256(document)}


def version_of(sha256):
    """The short version people read in logs, /model and the model card: a prefix of the sha256."""
    return str(sha256)[:VERSION_CHARS]


def checked_threshold(value):
    """`value` as the probability from which "churn" is true: a number strictly between 0 and 1;
    anything else raises ValueError, whose message completes "threshold …"."""
    if not is_number(value) or not 0 < value < 1:
        raise ValueError(f"must be a number between 0 and 1, not {value!r}")
    return float(value)
