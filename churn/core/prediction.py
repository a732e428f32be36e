"""The answer for each customer, the same for the service and for offline scoring (predict.py): the
document a Scorer makes of a scored customer (churn.core.scorer), and its JSON."""

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


def results(ids, probabilities, decisions):
    """The results of customers of these customerids (None: none), probabilities and decisions, without
    explanations, as result() makes each."""
    if None in ids:
        return list(map(result, ids, probabilities, decisions))
    return [
        {ID_FIELD: customerid, PROBABILITY: probability, DECISION: decision}
        for customerid, probability, decision in zip(ids, probabilities, decisions, strict=True)
    ]


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
    churn = "true" if decision else "false"
    if customerid is None:
        return _BOOK_ANSWER % (probability, churn)
    written = encode_basestring_ascii(customerid) if type(customerid) is str else repr(customerid)
    return _BOOK_ANSWER_WITH_ID % (written, probability, churn)


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
