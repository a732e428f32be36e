"""Reading customers from CSV and JSON (lines) with their line numbers, one at a time."""

import io
import json
from pathlib import Path

import pytest

from churn.core import customer_files
from churn.core.customer_files import MAX_CUSTOMER_CHARS, InputError, TooLarge, csv_customers, json_customers
from churn.core.output_formats import OUTPUT_FORMATS, csv_cell, csv_pieces
from churn.core.prediction import Results


class _CountingStream(io.StringIO):
    def read(self, size=-1):
        self.reads = getattr(self, "reads", 0) + 1
        return super().read(size)


def test_json_is_read_one_customer_at_a_time(book_customer):
    stream = _CountingStream(json.dumps([book_customer] * 20_000))  # about 12 MB
    customers = json_customers(stream)
    first = [next(customers) for _ in range(3)]
    assert [line for line, _ in first] == [1, 1, 1] and first[0][1] == book_customer
    assert stream.reads == 1 and stream.tell() <= 2 * customer_files._CHUNK_CHARS


def test_json_lines_report_the_line_of_each_customer():
    text = '{"a": 1}\n\n{"b":\n 2}\n'
    assert list(json_customers(io.StringIO(text))) == [(1, {"a": 1}), (3, {"b": 2})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"a": 1},]', "line 1: not valid JSON"),
        ('[{"a": 1}', "line 1: expected ',', found the end"),
        ('[{"a": 1} {"b": 2}]', "line 1: expected ',', found '{'"),
    ],
)
def test_broken_json_is_named_with_its_line(text, message):
    with pytest.raises(InputError, match=message):
        list(json_customers(io.StringIO(text)))


def test_csv_rows_come_with_the_line_they_end_on():
    text = 'customerID,note\n1,plain\n2,"two\nlines"\n3,last\n'
    assert [(line, row["customerid"]) for line, row in csv_customers(io.StringIO(text), ())] == [
        (2, "1"),
        (4, "2"),
        (5, "3"),
    ]


def test_a_csv_row_with_more_values_than_columns_is_named_by_its_line():
    with pytest.raises(InputError, match="^line 3: 2 more values than the header has columns$"):
        list(csv_customers(io.StringIO("a,b\n1,2\n1,2,3,4\n"), ()))


def test_a_csv_record_over_many_lines_is_refused_at_its_first_line_once_it_is_too_long():
    text = 'a,b\n1,2\n"' + ("x" * 1000 + "\n") * 200 + '",2\n'  # a field of 200 kB over 200 lines
    rows = csv_customers(io.StringIO(text), ())
    assert next(rows) == (2, {})
    with pytest.raises(TooLarge, match=rf"^line 3: a CSV record longer than {MAX_CUSTOMER_CHARS} characters$"):
        next(rows)


CSV_CELLS = json.loads((Path(__file__).parent / "csv_cells.json").read_text())  # app.js's csvCell: test_page.py


@pytest.mark.parametrize("case", CSV_CELLS, ids=lambda case: repr(case["value"]))
def test_a_cell_a_spreadsheet_could_run_as_a_formula_is_made_text_and_quoted_where_it_must_be(case):
    assert csv_cell(case["value"]) == case["cell"]


_DOCUMENTS = [
    [{"customerid": "=1+2", "churn_probability": 0.25, "churn": False}],
    [],
    [{"customerid": -5, "churn_probability": 0.75, "churn": True}, {"churn_probability": 0.5, "churn": True}],
]
_RESULTS = [Results.of(documents) for documents in _DOCUMENTS]


def test_scores_as_csv_neutralise_formula_ids_and_keep_numbers():
    written = "".join(csv_pieces(_RESULTS))
    assert written == "customerid,churn_probability,churn\n'=1+2,0.25,false\n-5,0.75,true\n,0.5,true\n"


def test_csv_of_no_results_is_the_header_alone():
    assert "".join(csv_pieces([], explain_top=3)) == "customerid,churn_probability,churn,explanation\n"


@pytest.mark.parametrize("output", OUTPUT_FORMATS, ids=lambda output: output.name)
def test_every_output_format_writes_every_result_in_order_and_a_piece_per_list(output):
    pieces = list(output.pieces(iter(_RESULTS)))
    text = "".join(pieces)
    if output.name == "json":
        assert json.loads(text) == [result for results in _DOCUMENTS for result in results]
    elif output.name == "jsonl":
        assert [json.loads(line) for line in text.splitlines()] == [r for results in _DOCUMENTS for r in results]
    else:
        assert [row.split(",")[0] for row in text.splitlines()[1:]] == ["'=1+2", "-5", ""]
    assert len(pieces) <= len(_RESULTS) + 2  # made as the results come, not all at the end
