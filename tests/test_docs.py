"""Offline /docs and /redoc: local assets only, and the Authorize + Try-it-out flow in a real headless Chromium."""

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from core import docs
from main import create_app
from tests.browser import RequestLog, chrome, ensure_chromium
from tests.procs import ROOT, free_ports, manage, service_env, uvicorn_processes

ARTIFACTS = ROOT / "artifacts" / "docs"
FIRST = {"name": "First Item", "price": 9.99, "in_stock": True}
UPDATED = {"name": "Updated Item", "price": 19.99, "in_stock": True}
PUT_OPERATION = "operations-items-replace_item_items__item_id__put"
URL_ATTRIBUTE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|\burl:\s*'([^']+)'""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def referenced_urls(html: str) -> list[str]:
    """Every src, href, spec-url and Swagger `url:` in a page."""
    return [a or b for a, b in URL_ATTRIBUTE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    for remote in ("http://", "https://", "cdn.jsdelivr", "fonts.googleapis", "fonts.gstatic", "unpkg.com"):
        assert remote not in html
    urls = referenced_urls(html)
    assert "/openapi.json" in urls
    assert len(urls) >= 3
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        expected = CONTENT_TYPES[Path(url).suffix]
        assert asset.headers["content-type"].startswith(expected), (url, asset.headers["content-type"])
        assert len(asset.content) > 100, url


def test_swagger_ui_is_set_up_for_the_password_flow(client):
    html = client.get("/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in html
    assert "/static/docs/swagger-ui.css" in html
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in html
    assert '"persistAuthorization": true' in html
    assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
    assert "ui.initOAuth(" in html


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_allow_only_same_origin_content(client, page):
    policy = client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for directive in ("default-src", "connect-src", "img-src", "font-src", "worker-src", "script-src", "style-src"):
        sources = directives[directive].split()
        assert "'self'" in sources
        assert not [s for s in sources if s.startswith(("http", "*")) or "." in s], (directive, sources)
    scheme = client.get("/openapi.json").json()["components"]["securitySchemes"]["BearerToken"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/aaa/token"


def test_redoc_uses_the_bundled_standalone_script_without_google_fonts(client):
    html = client.get("/redoc").text
    assert '<script src="/static/docs/redoc.standalone.js">' in html
    assert '<redoc spec-url="/openapi.json">' in html
    assert "fonts.googleapis" not in html


def test_oauth2_redirect_page(client):
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swaggerUIRedirectOauth2" in response.text


def test_favicon_and_assets_are_served(client):
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/png"
    assert favicon.content.startswith(b"\x89PNG")
    for name in docs.ASSETS:
        assert client.get(f"/static/docs/{name}").status_code == 200
    assert client.get("/static/docs/missing.js").status_code == 404


def test_docs_are_left_out_of_the_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc", "/static", "/favicon"))]


def test_missing_assets_give_503_json_and_the_api_still_serves(settings, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setattr(docs, "assets_dir", lambda: None)
    with TestClient(create_app(settings)) as client:
        for page in ("/docs", "/redoc"):
            response = client.get(page)
            assert response.status_code == 503
            assert "fastapi-offline" in response.json()["detail"]
        assert client.get("/favicon.ico").status_code == 404
        assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 404
        assert client.get("/health").status_code == 200
        assert client.get("/items").status_code == 200


# --- a real browser against real processes -------------------------------------------------------------------


@dataclass
class Live:
    """Two uvicorn processes sharing one database, a user `docs` with items:write, and item 1."""

    ports: list[int]
    headers: dict[str, str]


@pytest.fixture(scope="session")
def chromium() -> None:
    """Debian's Chromium and ChromeDriver, installed with apt-get if missing; skip only if that fails."""
    reason = ensure_chromium()
    if reason:
        pytest.skip(f"headless Chromium unavailable: {reason}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The service for real on two free ports, with the `docs` user and item 1."""
    tmp = tmp_path_factory.mktemp("docs-live")
    ports = free_ports(2)
    env = service_env(tmp)
    manage(env, "init")
    manage(env, "create-user", "docs", "--scopes", "items:write", "--password", "docs-password")
    headers = {"Authorization": f"Bearer {manage(env, 'token', 'docs')}"}
    with uvicorn_processes(env, ports):
        created = requests.post(f"http://127.0.0.1:{ports[0]}/items", json=FIRST, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == 1
        yield Live(ports, headers)


def wait_for(condition, timeout: float = 20, what: str = "condition"):
    """Poll `condition()` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"{what} not met after {timeout}s")


@pytest.mark.slow
@pytest.mark.parametrize("which", [0, 1], ids=["first-port", "second-port"])
def test_swagger_ui_authorize_then_try_it_out_put(chromium, live, which, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    port = live.ports[which]
    base = f"http://127.0.0.1:{port}"
    reset = requests.put(f"{base}/items/1", json=FIRST, headers=live.headers, timeout=10)
    assert reset.status_code == 200
    assert reset.json()["name"] == "First Item"

    with chrome(tmp_path / "profile") as driver:
        log = RequestLog(driver)
        wait = WebDriverWait(driver, 30)
        driver.get(f"{base}/docs")

        # Authorize: the OAuth2 password form posts to /aaa/token.
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".auth-wrapper button.authorize"))).click()
        modal = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
        modal.find_element(By.CSS_SELECTOR, "input[data-name='username']").send_keys("docs")
        modal.find_element(By.CSS_SELECTOR, "input[data-name='password']").send_keys("docs-password")
        modal.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
        wait.until(lambda d: "Logout" in modal.text)
        assert "Authorized" in modal.text
        modal.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done").click()
        wait.until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".modal-ux")))
        assert "locked" in driver.find_element(By.CSS_SELECTOR, ".auth-wrapper button.authorize").get_attribute("class")

        # Try it out: PUT /items/1 with the new body.
        operation = wait.until(ec.presence_of_element_located((By.ID, PUT_OPERATION)))
        operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        wait.until(lambda d: operation.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
        operation.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
        item_id = wait.until(lambda d: operation.find_element(By.CSS_SELECTOR, "tr[data-param-name='item_id'] input"))
        item_id.clear()
        item_id.send_keys("1")
        body = operation.find_element(By.CSS_SELECTOR, "textarea.body-param__text")
        body.send_keys(Keys.CONTROL, "a")
        body.send_keys(Keys.DELETE)
        body.send_keys(json.dumps(UPDATED))
        operation.find_element(By.CSS_SELECTOR, "button.execute").click()

        row = ".live-responses-table tr.response"
        status = wait.until(lambda d: operation.find_element(By.CSS_SELECTOR, f"{row} .response-col_status"))
        shown = operation.find_element(By.CSS_SELECTOR, f"{row} .response-col_description")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", operation)
        driver.execute_script("window.scrollBy(0, -60);")
        driver.save_screenshot(str(ARTIFACTS / f"docs-{port}.png"))  # before the asserts: kept on failure too
        assert status.text.strip() == "200", shown.text
        assert "Updated Item" in shown.text
        assert "19.99" in shown.text
        assert "Authorization: Bearer" in operation.find_element(By.CSS_SELECTOR, ".curl-command").text

        sent = log.collect()
        assert log.off_host() == []
        assert log.refused_off_host() == []
        urls = [request["url"] for request in sent]
        for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css", "/openapi.json"):
            assert f"{base}{asset}" in urls
        login = [r for r in sent if r["url"] == f"{base}/aaa/token" and r["method"] == "POST"]
        assert len(login) == 1
        put = [r for r in sent if r["url"] == f"{base}/items/1" and r["method"] == "PUT"]
        assert len(put) == 1
        authorization = {k.lower(): v for k, v in put[0]["headers"].items()}["authorization"]
        assert authorization.startswith("Bearer ")

    for other in live.ports:
        item = requests.get(f"http://127.0.0.1:{other}/items/1", timeout=10).json()
        assert {key: item[key] for key in UPDATED} == UPDATED


@pytest.mark.slow
@pytest.mark.parametrize("which", [0, 1], ids=["first-port", "second-port"])
def test_redoc_renders_with_no_request_off_the_machine(chromium, live, which, tmp_path):
    port = live.ports[which]
    base = f"http://127.0.0.1:{port}"
    with chrome(tmp_path / "profile") as driver:
        log = RequestLog(driver)
        driver.get(f"{base}/redoc")
        wait_for(lambda: "Replace an item" in driver.execute_script("return document.body.innerText"), 30, "ReDoc")
        text = driver.execute_script("return document.body.innerText")
        for summary in ("Log in (OAuth2 password flow)", "Create an item", "List items"):
            assert summary in text
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"redoc-{port}.png"))
        assert log.off_host() == []
        # ReDoc's sidebar badge is an <img> from cdn.redoc.ly: the page's CSP stops it inside the browser.
        assert all(urlparse(url).hostname == "cdn.redoc.ly" for url in log.refused_off_host())
        urls = log.urls()
        assert f"{base}/static/docs/redoc.standalone.js" in urls
        assert f"{base}/openapi.json" in urls
