"""The answer for each customer, the same for the service and for offline scoring (predict.py): the
document a Scorer makes of a scored customer (churn.core.scorer), and its JSON; Results, the results
of many customers a column each, as the output formats write them (churn.core.output_formats)."""

import json
from json.encoder import encode_basestring_ascii

from churn.core.schema import ID_FIELD

PROBABILITY, DECISION = "churn_probability", "churn"  # the book's answer: the keys of every result
EXPLANATION = "explanation"
_BOOK_ANSWER = '{"churn_probability": %r, "churn": %s}'
_BOOK_ANSWER_WITH_ID = '{"customerid": %s, "churn_probability": %r, "churn": %s}'


def result(customerid, probability, decision, explanation=None):
    """A customer's result: its customerid (when given), churn_probability and churn, and its
    explanation when it was asked for."""
    if customerid is None:
        answer = {PROBABILITY: probability, DECISION: decision}
    else:
        answer = {ID_FIELD: customerid, PROBABILITY: probability, DECISION: decision}
    if explanation is not None:
        answer[EXPLANATION] = explanation
    return answer


class Results:
    """The results of some customers, a column each: their customerids (None: none given),
    probabilities, decisions and, when asked for, explanations. Written as they are, column by column,
    where a list of result documents (dicts()) would first have made a dict per customer."""

    __slots__ = ("ids", "probabilities", "decisions", "explanations")

    def __init__(self, ids, probabilities, decisions, explanations=None):
        self.ids, self.probabilities, self.decisions = ids, probabilities, decisions
        self.explanations = explanations

    def __len__(self):
        return len(self.probabilities)

    @classmethod
    def of(cls, documents):
        """The Results of result documents (dicts, as result() makes them)."""
        ids = [document.get(ID_FIELD) for document in documents]
        probabilities = [document[PROBABILITY] for document in documents]
        decisions = [document[DECISION] for document in documents]
        explained = bool(documents) and EXPLANATION in documents[0]
        return cls(ids, probabilities, decisions, [d[EXPLANATION] for d in documents] if explained else None)

    def dicts(self):
        """The result document of each customer, as result() makes it."""
        if self.explanations is not None:
            return list(map(result, self.ids, self.probabilities, self.decisions, self.explanations))
        return list(map(result, self.ids, self.probabilities, self.decisions))

    def json_texts(self):
        """Each result as JSON text, exactly as json.dumps writes it: the book's answers written a column
        at a time, in C; explained ones by result_json()."""
        if self.explanations is not None:
            return list(map(result_json, self.dicts()))
        ids, churn = self.ids, map(decision_json, self.decisions)
        if None not in ids:
            written = map(encode_basestring_ascii, ids) if set(map(type, ids)) <= {str} else map(_id_json, ids)
            return list(map(_BOOK_ANSWER_WITH_ID.__mod__, zip(written, self.probabilities, churn, strict=True)))
        if ids.count(None) == len(ids):
            return list(map(_BOOK_ANSWER.__mod__, zip(self.probabilities, churn, strict=True)))
        return list(map(book_answer_json, ids, self.probabilities, self.decisions))


decision_json = ("false", "true").__getitem__  # a decision, a bool, as JSON (and as the CSV writes it)


def churns(model, probability):
    """The decision: whether a customer of this probability is said to churn."""
    return probability >= model.threshold


def result_json(result):
    """A result as JSON text, exactly as json.dumps writes it, but faster: the book's answer, with or
    without a customerid and an explanation, written directly, each factor of the explanation as it
    was written when it was made (churn.core.explain.Factor). A third of the encoder's time."""
    named = ID_FIELD in result
    explained = EXPLANATION in result
    if len(result) != 2 + named + explained:
        return encode_json(result)
    text = book_answer_json(result.get(ID_FIELD), result[PROBABILITY], result[DECISION])
    if not explained:
        return text
    return f'{text[:-1]}, "explanation": {explanation_json(result[EXPLANATION])}}}'


def book_answer_json(customerid, probability, decision):
    """The JSON of the result of a customer of this customerid (None: none), probability and decision,
    without an explanation, exactly as json.dumps writes it."""
    if customerid is None:
        return _BOOK_ANSWER % (probability, decision_json(decision))
    return _BOOK_ANSWER_WITH_ID % (_id_json(customerid), probability, decision_json(decision))


def _id_json(customerid):
    """A customerid, a string or a number, as JSON."""
    return encode_basestring_ascii(customerid) if type(customerid) is str else repr(customerid)


def explanation_json(explanation):
    """An explanation as JSON text, exactly as json.dumps writes it: each factor as it was written when
    it was made (churn.core.explain.Factor)."""
    factors = ", ".join(getattr(factor, "json", None) or encode_json(factor) for factor in explanation["factors"])
    return f'{{"base_value": {explanation["base_value"]!r}, "factors": [{factors}]}}'


def _encoder():
    """json.dumps(document), its encoder made once (JSONEncoder.encode makes one per call: a quarter of
    the time of an explained result's JSON): the C encoder where CPython has it, no circularity check
    (results are trees)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(check_circular=False).encode
    chunks = make(None, None, encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda document: "".join(chunks(document, 0))


encode_json = _encoder()
