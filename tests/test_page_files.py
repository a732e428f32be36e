"""GET / gives a browser the page and everyone else the JSON index; the page's files and the model card
are served with their types, ETags and 304s, without the API key."""

import dataclasses
import json

import pytest
import webtest

from app import create_app
from churn.core.artifact import CARD_CHARTS, CARD_NAME, with_content_hash
from churn.core.model import load_model
from churn.http.config import Settings
from churn.http.routes import ROUTES
from churn.http.static_files import PAGE_POLICY, STATIC_FILES

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def test_a_browser_gets_the_page_under_a_strict_content_security_policy(app):
    page = app.get("/", headers={"Accept": BROWSER})
    assert page.content_type == "text/html" and "<title>Churn prediction</title>" in page.text
    assert page.headers["Content-Security-Policy"] == PAGE_POLICY and "default-src 'self'" in PAGE_POLICY
    assert page.headers["Vary"] == "Accept"


def test_the_page_has_no_inline_script_or_style_and_nothing_from_elsewhere(app):
    html = app.get("/", headers={"Accept": BROWSER}).text
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    assert html.count("<script") == html.count('<script type="module" src="static/') == 1
    assert "http://" not in html and "https://" not in html and "//" not in html.replace("://", "")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html;q=0.5, application/json"])
def test_json_clients_keep_the_json_index(app, accept):
    index = app.get("/", headers={"Accept": accept} if accept else {})
    assert index.content_type == "application/json" and "routes" in index.json
    assert index.headers["Vary"] == "Accept"


@pytest.mark.parametrize("path", sorted(STATIC_FILES))
def test_each_static_file_is_served_with_its_type_length_and_etag(app, path, project_dir):
    served = app.get(path)
    assert served.content_type == STATIC_TYPES["." + path.rsplit(".", 1)[1]]
    assert served.body == (project_dir / "static" / STATIC_FILES[path]).read_bytes()
    assert served.headers["Content-Length"] == str(len(served.body))
    assert served.headers["ETag"].startswith('"') and served.headers["Cache-Control"] == "no-cache"


def test_a_file_the_browser_holds_gets_304_without_a_body_type_or_length(app):
    etag = app.get("/static/app.js").headers["ETag"]
    again = app.get("/static/app.js", headers={"If-None-Match": etag}, status=304)
    assert again.body == b"" and "Content-Length" not in again.headers and "Content-Type" not in again.headers
    assert again.headers["ETag"] == etag
    assert app.get("/static/app.js", headers={"If-None-Match": '"other"'}).status_int == 200


@pytest.mark.parametrize("path", ["/static/", "/static/app.jsx", "/static/../app.py", "/static/index.html"])
def test_anything_else_under_static_gets_404(app, path):
    assert app.get(path, status=404).json["status"] == 404


def test_the_model_card_and_its_charts_are_served_as_train_py_wrote_them(app, model, project_dir):
    card = app.get(f"/model/card/{CARD_NAME}")
    assert card.content_type == "text/markdown" and model.sha256 in card.text
    for chart in CARD_CHARTS:
        served = app.get(f"/model/card/{chart}")
        assert served.content_type == "image/svg+xml"
        assert served.body == (project_dir / "model" / chart).read_bytes()


def test_a_model_without_a_card_beside_it_answers_404_saying_so(model):
    app = webtest.TestApp(create_app(dataclasses.replace(model, card=None)))
    problem = app.get(f"/model/card/{CARD_NAME}", status=404).json
    assert problem["detail"] == f"this model has no {CARD_NAME} beside it; train.py writes the card and its charts"


def test_a_card_left_from_another_model_is_not_served_as_this_ones(shipped_artifact, project_dir, tmp_path):
    other = with_content_hash(dict(shipped_artifact, intercept=0.0))
    (tmp_path / "churn-model.json").write_text(json.dumps(other))
    (tmp_path / CARD_NAME).write_bytes((project_dir / "model" / CARD_NAME).read_bytes())
    assert load_model(tmp_path / "churn-model.json").card is None


@pytest.fixture
def locked(model):
    return webtest.TestApp(create_app(model, Settings(api_key="k")))


def test_with_an_api_key_the_page_and_its_files_need_none_but_the_json_index_does(locked):
    assert locked.get("/", headers={"Accept": BROWSER}).content_type == "text/html"
    open_paths = {route.path for route in ROUTES if route.needs_key is False}
    assert {"/ping", "/v2/health/live", "/v2/health/ready"} < open_paths
    for path in sorted(open_paths - {"/ping"}):
        assert locked.get(path).status_int == 200, path
    assert locked.get("/", status=401).headers["WWW-Authenticate"] == "Bearer"
    assert locked.get("/", headers={"Accept": "application/json"}, status=401).json["status"] == 401
