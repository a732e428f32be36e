"""The model card as a page: the Markdown train.py writes, rendered to HTML that runs nothing."""

import dataclasses
import re

import webtest

from app import create_app
from churn.core.artifact import CARD_CHARTS, CARD_NAME
from churn.http.card_page import card_page
from churn.http.config import Settings

CARD_PAGE = "/model/card/MODEL_CARD.html"


def _tables(markdown):
    return len(re.findall(r"^\|[-: |]+\|$", markdown, re.M))


def test_the_cards_headings_tables_lists_and_charts_become_html(model):
    markdown = model.card[CARD_NAME].decode()
    page = card_page(model.card[CARD_NAME]).decode()
    assert f"<title>Model card: {model.name}, version {model.version}</title>" in page
    assert page.count("<h2>") == markdown.count("\n## ") and page.count("<table>") == _tables(markdown) > 0
    assert page.count("<li>") == len(re.findall(r"^- ", markdown, re.M))
    for chart in CARD_CHARTS:
        assert f'<img src="{chart}"' in page
    assert model.sha256 in page
    text = re.sub(r"<code>.*?</code>", "", page)
    assert "**" not in text and "|---" not in text and "![" not in text  # no Markdown left showing


def test_a_card_renders_as_text_what_would_run_in_a_browser():
    markdown = (
        b"# Card <script>alert(1)</script>\n\n"
        b'**bold <img src=x onerror=alert(1)>** and `<b>code</b>` and https://example.com/"onmouseover="x\n\n'
        b"![chart](javascript:alert(1))\n\n"
        b"| a | b |\n|---|---:|\n| <i>1</i> | 2 |\n"
    )
    page = card_page(markdown).decode()
    assert "<script>" not in page and "<img src=x" not in page and "<b>code" not in page and "<i>1" not in page
    assert re.findall(r"<a [^>]*>", page)[2:] == ['<a href="https://example.com/">']  # after the page's own two
    assert not re.search(r"<img[^>]*javascript", page)
    assert "<strong>bold &lt;img src=x onerror=alert(1)&gt;</strong>" in page
    assert '<td class="right">2</td>' in page


def test_the_card_page_is_served_under_the_pages_policy_without_the_key(model):
    locked = webtest.TestApp(create_app(model, Settings(api_key="k")))
    answer = locked.get(CARD_PAGE)
    assert answer.content_type == "text/html" and model.sha256 in answer.text
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert locked.get(CARD_PAGE, headers={"If-None-Match": answer.headers["ETag"]}, status=304).body == b""


def test_a_model_without_a_card_answers_404_for_its_page(model):
    app = webtest.TestApp(create_app(dataclasses.replace(model, card=None)))
    assert "train.py writes" in app.get(CARD_PAGE, status=404).json["detail"]
