"""The model card as a page people read: the Markdown that train.py writes (churn.training.model_card),
rendered to HTML with the page's style. Only the subset the card uses: headings, paragraphs, lists,
tables, images of the card's own charts, `code`, **strong** and *emphasis*, and web addresses as
links. Everything else is shown as text, escaped: nothing in a card runs in the reader's browser.
Standard library only.
"""

import functools
import html
import re

CARD_PAGE_NAME = "MODEL_CARD.html"
_HEADING = re.compile(r"(#{1,6}) (.*)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([\w.-]+)\)")  # a file beside the card: no path, no scheme
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EMPHASIS = re.compile(r"\*(.+?)\*")
_ADDRESS = re.compile(r"https?://[^\s<>()\"']+")
_ALIGNMENTS = {(False, True): "right", (True, True): "center"}  # (starts with :, ends with :) -> text-align
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="../../static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="../../static/style.css">
</head>
<body>
  <main class="card">
    <p class="card-links"><a href="../../">The page</a> · <a href="MODEL_CARD.md">This card as Markdown</a></p>
{body}
  </main>
</body>
</html>
"""


@functools.lru_cache(maxsize=4)
def card_page(markdown):
    """The HTML page of a model card's Markdown (bytes, as the model holds it)."""
    lines = markdown.decode("utf-8").splitlines()
    title = next((match.group(2) for line in lines if (match := _HEADING.fullmatch(line))), "Model card")
    body = "\n".join(_block(block) for block in _blocks(lines))
    return _PAGE.format(title=html.escape(title), body=body).encode("utf-8")


def _blocks(lines):
    """The card's blocks, as lists of lines: a heading, an image, a table, a list (its items and their
    wrapped lines), or a paragraph. A blank line ends a block."""
    block = []
    for line in lines:
        kind = _kind(line)
        current = _kind(block[0]) if block else None
        continues = kind == current or (kind == "text" and current == "list")
        if block and (not line.strip() or kind in ("heading", "image") or not continues):
            yield block
            block = []
        if kind in ("heading", "image"):
            yield [line]
        elif line.strip():
            block.append(line)
    if block:
        yield block


def _kind(line):
    if _HEADING.fullmatch(line):
        return "heading"
    if _IMAGE.fullmatch(line):
        return "image"
    if line.startswith("|"):
        return "table"
    if line.startswith("- "):
        return "list"
    return "text"


def _block(lines):
    kind = _kind(lines[0])
    if kind == "heading":
        hashes, text = _HEADING.fullmatch(lines[0]).groups()
        return f"<h{len(hashes)}>{_inline(text)}</h{len(hashes)}>"
    if kind == "image":
        alt, source = _IMAGE.fullmatch(lines[0]).groups()
        return f'<p><img src="{html.escape(source)}" alt="{html.escape(alt)}"></p>'
    if kind == "table":
        return _table(lines)
    if kind == "list":
        items = re.split(r"\n(?=- )", "\n".join(lines))
        texts = (" ".join(line.strip() for line in item.splitlines())[2:] for item in items)
        return "<ul>" + "".join(f"<li>{_inline(text)}</li>" for text in texts) + "</ul>"
    return f"<p>{_inline(' '.join(line.strip() for line in lines))}</p>"


def _table(lines):
    header, rule, *body = ([cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines)
    aligns = [_ALIGNMENTS.get((cell.startswith(":"), cell.endswith(":")), "left") for cell in rule]
    rows = "".join(_row(cells, aligns, "td") for cells in body)
    return (
        f'<div class="table-wrap"><table><thead>{_row(header, aligns, "th")}</thead><tbody>{rows}</tbody></table></div>'
    )


def _row(cells, aligns, tag):
    scope = ' scope="col"' if tag == "th" else ""
    # A row with fewer cells than the header is shown as it is, as Markdown renderers do.
    marked = (
        f'<{tag}{scope} class="{align}">{_inline(cell)}</{tag}>' for cell, align in zip(cells, aligns, strict=False)
    )
    return f"<tr>{''.join(marked)}</tr>"


def _inline(text):
    """Text with its `code`, **strong**, *emphasis* and web addresses marked up; the rest escaped."""
    parts = text.split("`")
    return "".join(
        f"<code>{html.escape(part)}</code>" if index % 2 else _marked(part) for index, part in enumerate(parts)
    )


def _marked(text):
    text = html.escape(text, quote=False)
    text = _STRONG.sub(r"<strong>\1</strong>", text)
    text = _EMPHASIS.sub(r"<em>\1</em>", text)
    return _ADDRESS.sub(lambda match: f'<a href="{match.group(0)}">{match.group(0)}</a>', text)
