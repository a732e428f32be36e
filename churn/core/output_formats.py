"""The formats scores are written in, in one table: predict.py's --format names one, and POST
/predict answers in the one its Accept header prefers. Each writes the results of a run
(churn.core.prediction.Results, a part at a time) as pieces of text, one per part, so that a large
answer is sent, or a large file written, as it is made.
A CSV cell that a spreadsheet would run as a formula is neutralised.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from churn.core.prediction import DECISION, PROBABILITY, decision_json
from churn.core.schema import ID_FIELD

# The media types of customers and their scores, sent and answered.
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"
JSON_LINES_MEDIA_TYPE = "application/x-ndjson"

SCORE_COLUMNS = (ID_FIELD, PROBABILITY, DECISION)
# OWASP's CSV injection advice: a text cell starting so is read as a formula by spreadsheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SCORE_COLUMNS, *(["explanation"] if explain_top else [])])
    for results in result_parts:
        writer.writerows(_csv_rows(results, explain_top))
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.tell():  # no part at all: the header alone
        yield out.getvalue()


def _csv_rows(results, explain_top):
    ids = ("" if customerid is None else spreadsheet_safe(customerid) for customerid in results.ids)
    rows = zip(ids, map(repr, results.probabilities), map(decision_json, results.decisions), strict=True)
    if not explain_top:
        return rows
    texts = (spreadsheet_safe("; ".join(f["text"] for f in e["factors"])) for e in results.explanations)
    return ((*row, text) for row, text in zip(rows, texts, strict=True))


def spreadsheet_safe(cell):
    """A CSV cell as spreadsheets read it safely: text that begins like a formula (=, +, -, @, tab or
    carriage return) gets a ' in front, so it stays text (OWASP); numbers and other text are unchanged."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) else cell


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
