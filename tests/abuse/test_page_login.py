"""The Warm Tasks page (``/warm/``) needs a login, as Airflow's own pages do, in the real deployment
(FAB auth manager): an anonymous visitor, or one whose ``_token`` cookie is expired or forged, is
sent to the auth manager's login with a ``next=`` back to the page; logging in there brings them
back to the page; a logged-in user gets the page. Its static files (code, no data) stay public.
(tests/api/test_1_simple_api.py checks the same under SimpleAuthManager.)
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from tests.faults import tally
from tests.faults.stack import JWT_SECRET, USERS

pytestmark = pytest.mark.timeout(300)

PAGE = "/warm/?tab=completed&dag_id=f_abuse"


def _is_page(r) -> bool:
    return r.status_code == 200 and "text/html" in r.headers["content-type"] and "app.js" in r.text


def _login_target(stack, r) -> str:
    """The ``next`` of a redirect to FAB's login page (``{base_url}/auth/login/``)."""
    assert r.status_code in (302, 303, 307), (r.status_code, r.headers.get("content-type"), r.text[:200])
    loc = urlsplit(r.headers["location"])
    assert (f"{loc.scheme}://{loc.netloc}", loc.path) == (stack.base, "/auth/login/"), r.headers["location"]
    (nxt,) = parse_qs(loc.query)["next"]
    return nxt


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_anonymous_visitor_is_sent_to_the_login_and_back(stack):
    tally.attack("api")
    r = requests.get(stack.base + PAGE, allow_redirects=False, timeout=30)
    assert _login_target(stack, r) == stack.base + PAGE
    assert "app.js" not in r.text

    # an expired, forged or garbage cookie is no login either
    claims = jwt.decode(stack.token("viewer"), options={"verify_signature": False})
    now = int(time.time())
    for token in (
        jwt.encode({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, JWT_SECRET, algorithm="HS512"),
        jwt.encode({**claims, "exp": now + 3600}, "not-the-secret", algorithm="HS512"),
        "abc.def.ghi",
    ):
        tally.attack("api")
        r = requests.get(stack.base + PAGE, cookies={"_token": token}, allow_redirects=False, timeout=30)
        assert _login_target(stack, r) == stack.base + PAGE

    # FAB's login form, as a browser fills it in, brings the visitor back to the page, logged in
    with requests.Session() as browser:
        first = browser.get(stack.base + PAGE, timeout=30)  # follows the redirect to the form
        assert urlsplit(first.url).path == "/auth/login/" and first.status_code == 200, first.url
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', first.text)
        assert csrf, first.text[:500]
        back = browser.post(
            first.url,
            data={"username": "viewer", "password": USERS["viewer"][0], "csrf_token": csrf.group(1)},
            allow_redirects=False,
            timeout=30,
        )
        assert back.status_code in (302, 303) and back.headers["location"] == stack.base + PAGE, (
            back.status_code,
            back.headers.get("location"),
        )
        assert browser.cookies.get("_token")
        page = browser.get(back.headers["location"], allow_redirects=False, timeout=30)
        assert _is_page(page), (page.status_code, page.text[:300])
        # and the page's API calls work with that login
        assert browser.get(stack.base + "/warm/api/v1/tasks", params={"tab": "completed"}, timeout=30).ok


def test_logged_in_user_gets_the_page_and_static_files_stay_public(stack):
    for user in ("admin", "viewer", "other"):
        r = requests.get(stack.base + PAGE, cookies={"_token": stack.token(user)}, allow_redirects=False, timeout=30)
        assert _is_page(r), (user, r.status_code, r.text[:200])
    # a script with a Bearer token, as for the API
    assert _is_page(requests.get(stack.base + "/warm/", headers=stack.headers("op"), timeout=30))
    # the page's code and styles hold no data: served without a login
    for asset in ("/warm/static/js/app.js", "/warm/static/app.css"):
        r = requests.get(stack.base + asset, allow_redirects=False, timeout=30)
        assert r.status_code == 200, (asset, r.status_code)
    # but the page's HTML only through the login, not as a static file
    r = requests.get(stack.base + "/warm/static/index.html", allow_redirects=False, timeout=30)
    assert r.status_code == 404 and "app.js" not in r.text, (r.status_code, r.text[:200])
    # the API itself still answers a 401 with a reason, never a redirect
    r = requests.get(stack.base + "/warm/api/v1/tasks", allow_redirects=False, timeout=30)
    assert r.status_code == 401 and r.json()["detail"], (r.status_code, r.text[:200])
