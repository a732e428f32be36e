"""The formats scores are written in, in one table: predict.py's --format names one, and POST
/predict answers in the one its Accept header prefers. Each writes the results of a run as pieces of
text, one per list of results, so that a large answer is sent, or a large file written, as it is made.
A CSV cell that a spreadsheet would run as a formula is neutralised.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from churn.core.prediction import DECISION, PROBABILITY, encode_json, result_json
from churn.core.schema import ID_FIELD

# The media types of customers and their scores, sent and answered.
JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv"
JSON_LINES_MEDIA_TYPE = "application/x-ndjson"

SCORE_COLUMNS = (ID_FIELD, PROBABILITY, DECISION)
# OWASP's CSV injection advice: a text cell starting so is read as a formula by spreadsheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def json_array_pieces(result_lists, explain_top=None):
    """A JSON array of the results, exactly as json.dumps writes it (a result as /predict answers it):
    a list of them without explanations by the json module's encoder, in one call; explained ones
    each with its factors as they were written when they were made (churn.core.prediction)."""
    yield "["
    separator = ""
    for results in result_lists:
        if results:
            yield separator + (", ".join(map(result_json, results)) if explain_top else encode_json(results)[1:-1])
            separator = ", "
    yield "]"


def json_lines_pieces(result_lists, explain_top=None):
    """A JSON line per result, as /predict answers it."""
    for results in result_lists:
        yield "".join(result_json(result) + "\n" for result in results)


def csv_pieces(result_lists, explain_top=None):
    """A header row, then a row per result: customerid, churn_probability, churn, and with
    explanations their factors as text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SCORE_COLUMNS, *(["explanation"] if explain_top else [])])
    for results in result_lists:
        writer.writerows(_csv_row(result, explain_top) for result in results)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.tell():  # no list at all: the header alone
        yield out.getvalue()


def _csv_row(result, explain_top):
    row = [spreadsheet_safe(result.get(ID_FIELD, "")), repr(result[PROBABILITY]), str(result[DECISION]).lower()]
    if explain_top:
        row.append(spreadsheet_safe("; ".join(factor["text"] for factor in result["explanation"]["factors"])))
    return row


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
