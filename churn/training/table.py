"""Any customer table, read for training: its cells (CSV or Parquet), each column's role and kind, and
its customers prepared as the service will read them. A table that cannot make a model is refused here,
before anything is fitted, with one line that names the column or line and what to do.

How a column's kind is chosen (`--categorical` and `--numerical` override it):
- a column whose every non-blank cell is a number (digits with an optional point, as the service reads
  them) is numerical, except a column of exactly two integers (0/1, 1/2), which is a flag: categorical,
  its values kept as numbers, as the book reads SeniorCitizen;
- any other column is categorical: its text normalised as the book does (lower case, spaces as
  underscores);
- a column of one value is dropped (and said); a categorical column of more than MAX_CATEGORIES values,
  or an integer column whose every value is different, is an identifier or free text: refused, with
  --drop or --id suggested.

Blanks (an empty cell, spaces, a Parquet null): in a categorical column a blank is a value of its own
(""); in a numerical one it reads as the number the spec gives (the book's TotalCharges: 0), else as
the median of the training part, with an indicator column of its own weight (churn.core.model).

artifact_schema makes the artifact's description of the table from the part trained on: each field's
kind, allowed values, labels and blank, the id column, and a real row as the example.

Training-time only (pyarrow for Parquet); the service reads the artifact this helps write.
"""

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from churn.core.features import is_blank, normalise, read_number
from churn.core.not_text import HEAD_BYTES, not_utf8_problem, spreadsheet_problem
from churn.core.schema import BLANK_NUMBER, ID_FIELD, REQUIRED, FieldRule, is_valid_id, label_of, value_label

MAX_CATEGORIES = 100  # more values than a form's list, or a one-hot model, can use: an id or free text
ID_LIKE_ROWS = 100  # an integer column of all-different values is an id from this many rows
TARGET = "CHURNED"  # a customer's outcome (0/1) in Table.customers: upper case, so never a field's name
BLANK_LABEL = "(blank)"
# A target of one of these pairs needs no --positive: the first of the pair (in any case) is churn.
_PAIRS = (("1", "0"), ("yes", "no"), ("true", "false"), ("y", "n"))


class TableError(Exception):
    """The table cannot make a model; the message says where and what to do."""


@dataclass(frozen=True)
class Field:
    """A model field read from a table column."""

    name: str  # the column's name normalised: what the service calls it
    column: str  # the table's own name
    values: tuple | None  # a categorical field's values seen in the whole table; None: a number
    blank: object  # REQUIRED, the value a blank reads as, or BLANK_NUMBER
    label: str
    spellings: dict  # a categorical value -> the table's spelling of it, for people to read

    def rule(self):
        """The FieldRule that reads the field's cells as the service will read its values."""
        return FieldRule(self.name, self.values, None, blank=self.blank)

    def description(self, allowed):
        """What the artifact's schema says of the field, its allowed values given (those trained on)."""
        described = {"column": self.column, "label": self.label}
        if allowed is not None:
            described["value_labels"] = [self.spellings.get(value) or value_label(value) for value in allowed]
        if self.blank is not REQUIRED and self.blank is not BLANK_NUMBER:
            described["blank"] = self.blank
        return described


@dataclass(frozen=True)
class Table:
    """A table's customers, prepared, and what train.py learned of its columns."""

    path: Path
    customers: list  # dicts: field -> prepared value (None: a blank number of its own weight), TARGET -> 0/1
    ids: list | None  # each customer's id, as the table writes it
    fields: tuple  # Field, in the table's order
    id_column: str | None
    target: dict  # {"column", "positive", "negative"}
    dropped: tuple  # (column, why) of the columns left out that the spec did not name
    spec: object  # the TableSpec it was read by

    @property
    def churners(self):
        return sum(customer[TARGET] for customer in self.customers)


def read_table(path, spec):
    """The Table at `path` (CSV, or Parquet by its .parquet suffix) as `spec` (TableSpec) describes it;
    TableError if it cannot make a model."""
    header, rows, where = _cells(Path(path))
    columns = _columns_of(header, spec)
    target = _target(rows, columns[spec.target], spec, where)
    ids = _ids(rows, columns[spec.id], spec.id, where) if spec.id else None
    named = {spec.target, spec.id, *spec.drop} - {None}
    fields, dropped = [], []
    for column in header:
        if column in named:
            continue
        read = _field(column, [row[columns[column]] for row in rows], spec, where)
        if isinstance(read, str):
            dropped.append((column, read))
        else:
            fields.append(read)
    if not fields:
        raise TableError(f"{path}: no column is left to learn from")
    readings = [(columns[field.column], field.rule()) for field in fields]
    customers = [_customer(row, readings, columns[spec.target]) for row in rows]
    return Table(Path(path), customers, ids, tuple(fields), spec.id, target, tuple(dropped), spec)


# --- the artifact's schema ------------------------------------------------------------------------


def artifact_schema(table, customers, example_row):
    """The artifact's schema of a Table trained on `customers` (its training part): each categorical
    field's values seen there, the numerical fields, what the table says of each, its id column, and
    an example customer (the spec's, else the training part's first, row `example_row`); and the
    number imputed for each blank number (its median there)."""
    categorical, numerical, fields, imputed = {}, [], {}, {}
    for field in table.fields:
        seen = {customer[field.name] for customer in customers}
        allowed = sorted(seen, key=lambda value: (isinstance(value, str), value)) if field.values else None
        described = field.description(allowed)
        if allowed is not None:
            categorical[field.name] = allowed
            if "" not in seen:  # no blank to learn from: the field stays required
                described.pop("blank", None)
        else:
            numerical.append(field.name)
            if field.blank is BLANK_NUMBER:  # test rows may be blank where training rows are not
                imputed[field.name] = float(statistics.median(_seen_numbers(customers, field.name) or [0]))
                if None in seen:
                    described["blank"] = {"imputed": imputed[field.name]}
        fields[field.name] = described
    schema = {
        "categorical": categorical,
        "numerical": numerical,
        "fields": fields,
        "id_column": table.id_column or ID_FIELD,
    }
    schema["example"] = _example(table, example_row)
    return schema, imputed


def _seen_numbers(customers, field):
    """The numbers a field has in `customers`, blanks left out."""
    return [customer[field] for customer in customers if customer[field] is not None]


def _example(table, default_row):
    """A real customer of the table in the model's spelling, with its id: the spec's, else the default."""
    ids = table.ids
    row = default_row
    wanted = table.spec.example_id
    if ids is not None and wanted is not None:
        row = next((i for i, value in enumerate(ids) if str(value).casefold() == wanted.casefold()), default_row)
    example = {field: value for field, value in table.customers[row].items() if field != TARGET}
    return {ID_FIELD: ids[row], **example} if ids is not None else example


# --- cells -------------------------------------------------------------------------------------------


def _cells(path):
    """(header, rows of cells, where(row index) -> "line N" or "row N")."""
    if path.suffix.lower() == ".parquet":
        return _parquet_cells(path)
    return _csv_cells(path)


def _csv_cells(path):
    with open(path, "rb") as file:
        problem = spreadsheet_problem(file.read(HEAD_BYTES), str(path))
    if problem:
        raise TableError(problem)
    content = path.read_bytes()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError(not_utf8_problem(error, str(path), content)) from None
    reader = csv.reader(text.splitlines(keepends=True))
    header = next(reader, None)
    if not header:
        raise TableError(f"{path} is empty: a table needs a header and its customers")
    rows, lines, first_line = [], [], reader.line_num + 1
    for cells in reader:
        if cells:
            if len(cells) != len(header):
                raise TableError(
                    f"{path}, line {first_line}: {len(cells)} cells where the header has {len(header)} columns"
                )
            rows.append(cells)
            lines.append(first_line)
        first_line = reader.line_num + 1
    return header, rows, lambda row: f"{path}, line {lines[row]}"


def _parquet_cells(path):
    import pyarrow.parquet as pq  # noqa: PLC0415 (a CSV table needs no Arrow)

    try:
        table = pq.read_table(path)
    except Exception as error:  # noqa: BLE001 (Arrow's errors are many; each says what it found)
        raise TableError(f"{path} is not a Parquet file Arrow can read ({error})") from None
    columns = [table.column(name).to_pylist() for name in table.column_names]
    rows = [list(row) for row in zip(*columns, strict=True)]
    return table.column_names, rows, lambda row: f"{path}, row {row + 1}"


def _columns_of(header, spec):
    """Column name -> its index; TableError for two columns of one name (names ignore case) or a column
    the spec names that the table lacks (matched ignoring case too, then called as the spec wrote it)."""
    by_name = {}
    for index, column in enumerate(header):
        if normalise(column) in by_name:
            raise TableError(
                f"columns {header[by_name[normalise(column)]]!r} and {column!r} have one name (names ignore case)"
            )
        by_name[normalise(column)] = index
    columns = {column: index for index, column in enumerate(header)}
    named = [spec.target, spec.id, *spec.drop, *spec.categorical, *spec.numerical, *spec.blank_reads_as, *spec.labels]
    for name in filter(None, named):
        if name not in columns:
            if normalise(name) not in by_name:
                raise TableError(f"the table has no column {name!r} (its columns: {', '.join(header)})")
            columns[name] = by_name[normalise(name)]
    return columns


# --- the target and the id ---------------------------------------------------------------------------


def _target(rows, index, spec, where):
    """{"column", "positive", "negative"}, each row's outcome checked: two values, one of them churn."""
    values = {}
    for row_index, row in enumerate(rows):
        cell = row[index]
        if is_blank(cell):
            raise TableError(f"{where(row_index)}: the target {spec.target} is blank")
        text = _text(cell)
        if text not in values:
            values[text] = row_index
            if len(values) > 2:
                first, second, third = values
                raise TableError(
                    f"the target {spec.target} has more than two values ({first!r}, {second!r}, {third!r}): "
                    f"a churn target has two; {where(row_index)} is the first row with {third!r}"
                )
    if len(values) < 2:
        raise TableError(
            f"the target {spec.target} has one value, {next(iter(values), '')!r}: there is nothing to learn"
        )
    positive = _positive(list(values), spec)
    negative = next(value for value in values if value != positive)
    for row in rows:
        row[index] = int(_text(row[index]) == positive)
    return {"column": spec.target, "positive": positive, "negative": negative}


def _positive(values, spec):
    """The target's value that means churn: --positive (any case), else 1 of 0/1, Yes of Yes/No."""
    folded = {value.casefold(): value for value in values}
    if spec.positive is not None:
        match = spec.positive if spec.positive in values else folded.get(spec.positive.casefold())
        if match is None:
            raise TableError(
                f"--positive {spec.positive!r} is not a value of {spec.target} "
                f"(its values: {values[0]!r}, {values[1]!r})"
            )
        return match
    for positive, negative in _PAIRS:
        if set(folded) == {positive, negative}:
            return folded[positive]
    raise TableError(
        f"the target {spec.target} has the values {values[0]!r} and {values[1]!r}: "
        "say which means churn with --positive"
    )


def _ids(rows, index, column, where):
    """Each row's id, checked: given, an id the service takes, and never twice."""
    seen, ids = {}, []
    for row_index, row in enumerate(rows):
        value = row[index]
        if is_blank(value) or not is_valid_id(value):
            raise TableError(
                f"{where(row_index)}: the id {column} must be text or an integer of at most 128 characters"
            )
        key = str(value)
        if key in seen:
            raise TableError(f"the id {column} {key!r} is on {where(seen[key])} and again on {where(row_index)}")
        seen[key] = row_index
        ids.append(value)
    return ids


# --- a field's kind ----------------------------------------------------------------------------------


def _field(column, cells, spec, where):
    """The column's Field, or why it is dropped (a single value); TableError for a column no model can
    use as it is."""
    blank = [is_blank(cell) or _is_nan(cell) for cell in cells]
    present = [(row, cell) for row, cell in enumerate(cells) if not blank[row]]
    numbers = [_number(cell) for _, cell in present]
    all_numbers = all(number is not None for number in numbers)
    if column in spec.numerical:
        if not all_numbers:
            row, cell = next(
                (row, cell) for (row, cell), number in zip(present, numbers, strict=True) if number is None
            )
            raise TableError(f"{where(row)}: {column} holds {_text(cell)!r}, not a number, but --numerical names it")
        return _numerical(column, numbers, any(blank), spec)
    if column in spec.categorical:
        return _categorical(column, [_text(cell) for _, cell in present], any(blank), spec)
    if all_numbers and numbers:
        integers = all(type(number) is int for number in numbers)
        distinct = set(numbers)
        if len(distinct) + any(blank) <= 1:
            return f"it has one value, {numbers[0]!r}"
        if integers and len(distinct) == 2:
            return _flag(column, numbers, any(blank), spec)
        if integers and len(distinct) == len(cells) >= ID_LIKE_ROWS:
            raise TableError(
                f"{column} has a different integer in every row: an identifier, not something to learn from; "
                f"pass --drop {column}, or --id {column} if it names the customer (--numerical {column} keeps it)"
            )
        return _numerical(column, numbers, any(blank), spec)
    _refuse_unreadable_numbers(column, present, where)
    return _categorical(column, [_text(cell) for _, cell in present], any(blank), spec)


def _numerical(column, numbers, has_blanks, spec):
    blank = REQUIRED
    if has_blanks:
        blank = float(spec.blank_reads_as[column]) if column in spec.blank_reads_as else BLANK_NUMBER
    return Field(normalise(column), column, None, blank, _label(column, spec), {})


def _flag(column, numbers, has_blanks, spec):
    values = tuple(sorted(set(numbers))) + (("",) if has_blanks else ())
    spellings = {"": BLANK_LABEL} if has_blanks else {}
    return Field(normalise(column), column, values, "" if has_blanks else REQUIRED, _label(column, spec), spellings)


def _categorical(column, texts, has_blanks, spec):
    spellings = {}
    for text in texts:
        spellings.setdefault(normalise(text), text.strip())
    if len(spellings) + has_blanks <= 1:
        return f"it has one value, {texts[0] if texts else ''!r}"
    if len(spellings) > MAX_CATEGORIES:
        raise TableError(
            f"{column} has {len(spellings):,} different values: an identifier or free text, not a category "
            f"(at most {MAX_CATEGORIES}); pass --drop {column}, or --id {column} if it names the customer"
        )
    if has_blanks:
        spellings[""] = BLANK_LABEL
    values = tuple(sorted(spellings))
    return Field(normalise(column), column, values, "" if has_blanks else REQUIRED, _label(column, spec), spellings)


def _refuse_unreadable_numbers(column, present, where):
    """A column of numbers the service cannot read as numbers (a sign, an exponent) is refused, rather
    than read as hundreds of categories."""
    if present and all(_float(cell) is not None for _, cell in present):
        row, cell = next((row, cell) for row, cell in present if _number(cell) is None)
        raise TableError(
            f"{where(row)}: {column} holds {_text(cell)!r}, a number the service does not read "
            "(it reads digits with an optional point: no sign, no exponent); change or --drop the column"
        )


def _label(column, spec):
    return spec.labels.get(column) or label_of(column)


# --- cells as values ---------------------------------------------------------------------------------


def _customer(row, readings, target):
    """A row's customer: each field's cell prepared by its rule, as the service prepares what is sent
    (FieldRule.prepare: the one preparation step); its outcome under TARGET."""
    customer = {rule.name: rule.prepare(_as_sent(row[index], rule)) for index, rule in readings}
    customer[TARGET] = row[target]
    return customer


def _as_sent(cell, rule):
    """A cell as a caller would send its value: a Parquet NaN as a blank, a bool as 0 or 1 for a
    number, a category's number as its text; a CSV's text as it is."""
    if _is_nan(cell):
        return None
    if cell is None or isinstance(cell, str):
        return cell
    if rule.reads_numbers:
        return int(cell) if type(cell) is bool else cell
    return _text(cell)


def _number(cell):
    """A cell's number as the service reads it (an int, or a float where it has a point), or None."""
    if type(cell) is bool:
        return int(cell)
    if type(cell) in (int, float):
        return cell
    number = read_number(cell) if isinstance(cell, str) else None
    return None if isinstance(number, str) else number


def _float(cell):
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def _is_nan(cell):
    return type(cell) is float and math.isnan(cell)


def _text(cell):
    """A cell as text: a number of a Parquet column as its digits."""
    if type(cell) is bool:
        return str(cell).lower()
    return cell if isinstance(cell, str) else str(cell)
