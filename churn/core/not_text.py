"""Files that are not the UTF-8 text the service reads, told apart by their first bytes, and said in
one line with what to do: a spreadsheet (xlsx, ods, xls), or text in another encoding (Windows-1252,
as Excel's plain "CSV" is on Windows). Standard library only: predict.py and the service both say it."""

SAVE_AS_CSV = 'save it as "CSV UTF-8" (in Excel: File > Save As)'
NEWLINE = b"\n"
# A workbook's first bytes: xlsx and ods are zip archives, xls an OLE2 compound file.
SPREADSHEETS = {
    b"PK\x03\x04": "a zip archive, as an Excel .xlsx or a LibreOffice .ods workbook is",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an Excel .xls workbook",
}
HEAD_BYTES = max(map(len, SPREADSHEETS))  # how many first bytes tell a spreadsheet


def spreadsheet_problem(head, subject):
    """What is wrong with `subject` ("the body", a file's name), which starts with the bytes `head`, when
    it is a spreadsheet; else None."""
    for signature, what in SPREADSHEETS.items():
        if head.startswith(signature):
            return f"{subject} is {what}, not CSV or JSON text: {SAVE_AS_CSV}"
    return None


def not_utf8_problem(error, subject, text=None):
    """What is wrong with `subject`, whose bytes failed to decode as UTF-8 (`error`, the
    UnicodeDecodeError): the first byte that is not, and its line when the whole `text` is at hand."""
    byte = error.object[error.start : error.start + 1].hex().upper()
    where = "" if text is None else f" at line {text.count(NEWLINE, 0, error.start) + 1}"
    return f"{subject} is not UTF-8 text (byte 0x{byte}{where}); if Excel wrote it, {SAVE_AS_CSV}"
