"""The formats scores are written in, in one table: predict.py's --format names one, and POST
/predict answers in the one its Accept header prefers. Each writes the results of a run
(churn.core.prediction.Results, a part at a time) as pieces of text, one per part, so that a large
answer is sent, or a large file written, as it is made.
CSV cells are written by one rule (csv_cell, and static/app.js's csvCell, tested on the same cases)
that no spreadsheet reads as a formula, whatever separator it splits on.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from churn.core.prediction import DECISION, PROBABILITY, decision_json
from churn.core.schema import ID_FIELD

# The media types of customers and their scores, sent and answered.
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"
JSON_LINES_MEDIA_TYPE = "application/x-ndjson"

SCORE_COLUMNS = (ID_FIELD, PROBABILITY, DECISION)
# OWASP's CSV injection advice: text starting with one of =+-@, tab or CR is read as a formula by
# spreadsheets. A spreadsheet that splits cells on ";" (German or French Excel, LibreOffice) or on tab
# also starts a cell after each of those in a cell, and one that splits lines on a bare CR after it,
# quotes or not: a ' goes at each such start, so that each part stays text.
_FORMULA_START = re.compile(r"(?:^|(?<=[;,\t\r\n]))(?=[=+\-@\t\r])")
_NEEDS_QUOTES = re.compile(r'[",\r\n]')  # RFC 4180's, and a bare CR, which csv.writer leaves bare


def json_array_pieces(result_parts, explain_top=None):
    """A JSON array of the results (churn.core.prediction.Results, a part at a time), exactly as
    json.dumps writes it (a result as /predict answers it)."""
    yield "["
    separator = ""
    for results in result_parts:
        if len(results):
            yield separator + ", ".join(results.json_texts())
            separator = ", "
    yield "]"


def json_lines_pieces(result_parts, explain_top=None):
    """A JSON line per result, as /predict answers it."""
    for results in result_parts:
        if len(results):
            yield "\n".join(results.json_texts()) + "\n"


def csv_pieces(result_parts, explain_top=None):
    """A header row, then a row per result: customerid, churn_probability, churn, and with
    explanations their factors as text."""
    yield csv_line([*SCORE_COLUMNS, *(["explanation"] if explain_top else [])])
    for results in result_parts:
        if len(results):
            yield "".join(_csv_lines(results, explain_top))


def _csv_lines(results, explain_top):
    ids = map(csv_cell, results.ids)
    probabilities, decisions = map(repr, results.probabilities), map(decision_json, results.decisions)
    if not explain_top:
        return map("{},{},{}\n".format, ids, probabilities, decisions)
    texts = (csv_cell("; ".join(f["text"] for f in e["factors"])) for e in results.explanations)
    return map("{},{},{},{}\n".format, ids, probabilities, decisions, texts)


def csv_line(cells):
    """One CSV line of these cells (csv_cell), ending in a line feed."""
    return ",".join(map(csv_cell, cells)) + "\n"


def csv_cell(value):
    """A value as a CSV cell that spreadsheets read safely: a number as it is written, None as nothing;
    text with a ' at its start and after each ;, comma, tab, CR or LF where a formula would begin
    (=, +, -, @, tab, CR), then in double quotes if it holds a quote, a comma, a CR or a LF."""
    if type(value) is not str:
        return "" if value is None else str(value)
    text = _FORMULA_START.sub("'", value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES.search(text) else text


@dataclass(frozen=True)
class OutputFormat:
    """A format of scores: its name (predict.py --format), its media type (HTTP), and how it is written."""

    name: str
    media_type: str
    content_type: str  # the HTTP answer's Content-Type
    pieces: Callable  # (lists of results, explain_top) -> the whole output, as pieces of text


OUTPUT_FORMATS = (  # the first is HTTP's default
    OutputFormat("json", JSON_MEDIA_TYPE, JSON_MEDIA_TYPE, json_array_pieces),
    OutputFormat("csv", CSV_MEDIA_TYPE, f"{CSV_MEDIA_TYPE}; charset=utf-8", csv_pieces),
    OutputFormat("jsonl", JSON_LINES_MEDIA_TYPE, JSON_LINES_MEDIA_TYPE, json_lines_pieces),
)
FORMAT_NAMED = {output.name: output for output in OUTPUT_FORMATS}
FORMAT_FOR_MEDIA_TYPE = {output.media_type: output for output in OUTPUT_FORMATS}
