"""The dashboard: plain HTTP against a real `runner dashboard` (routes, escaping, 404s,
bad ids, read-only, loopback hosts, jobs half-written or gone), then a real headless
Chromium driven by selenium over a live daemon, with a screenshot kept as an artifact."""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from runner.jobdir import PROGRESS_FILE
from runner.spool import Spool

from conftest import (BOOK_NUMBERS, BOOK_PRIMES, drop_job, run_cli, runner_command,
                      wait_for_result, wait_ready, wait_until, write_config)

pytestmark = pytest.mark.e2e  # it starts processes (see conftest.py)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
WINDOW_WIDTH, WINDOW_HEIGHT = 1280, 800
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  f"--window-size={WINDOW_WIDTH},{WINDOW_HEIGHT}")
MARKUP = "<img src=x onerror=alert(1)>"  # in a bad job's key: its error message quotes it
BAD_JOB = f"id: bad\nnumbers: [7]\n'{MARKUP}': 1\n"
SLOW_START = 2**4000  # every number of the slow job costs about a millisecond


class DashboardProcess:
    """A real `runner dashboard --port 0` on the spool; `url` is what it printed."""

    def __init__(self, spool: Spool):
        self.log_path = spool.root.parent / f"dashboard-{time.monotonic_ns()}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                runner_command("dashboard", "--root", str(spool.root), "--port", "0"),
                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline() if ready else ""
        if " at http://127.0.0.1:" not in line:
            self.process.kill()
            raise AssertionError(f"the dashboard did not start: {line!r} {self.log()}")
        self.url = line.split(" at ", 1)[1].split()[0].rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])

    def request(self, path: str, method: str = "GET", host: str | None = None):
        """(status, headers, body) for `path` sent as it is (no normalising)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_host=host is not None)
            if host is not None:
                connection.putheader("Host", host)
            connection.endheaders()
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def get_json(self, path: str):
        status, headers, body = self.request(path)
        assert headers["Content-Type"] == "application/json", (path, status, body)
        return status, json.loads(body)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a person would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)
            self.process.stdout.close()


# -- plain HTTP ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A spool with a done job (the book's), a failed one quoting markup, a queued one,
    all run by `runner start --drain`, and its dashboard."""
    spool = Spool.create(tmp_path_factory.mktemp("dash") / "spool")
    write_config(spool.root)
    drop_job(spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS})
    drop_job(spool, "bad.yaml", BAD_JOB)
    done = run_cli(spool, "start", "--drain")
    assert done.returncode == 0, done.stderr
    drop_job(spool, "later.yaml", {"id": "later", "range": {"start": 0, "stop": 100}})
    dashboard = DashboardProcess(spool)
    yield spool, dashboard
    assert dashboard.stop() == 0


@pytest.mark.timeout(60)
def test_page_and_static_files_are_served_with_a_strict_policy(served):
    _, dashboard = served
    status, headers, body = dashboard.request("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'<script src="/static/dashboard.js"' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        status, headers, body = dashboard.request(f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(kind) and body


@pytest.mark.timeout(60)
def test_api_lists_jobs_with_their_states_and_progress(served):
    spool, dashboard = served
    status, data = dashboard.get_json("/api/jobs")
    assert status == 200 and data["spool"] == str(spool.root)
    jobs = {job["id"]: job for job in data["jobs"]}
    assert {job_id: job["state"] for job_id, job in jobs.items()} == {
        "book": "done", "bad": "failed", "later": "queued"}
    assert (jobs["book"]["tested"], jobs["book"]["total"], jobs["book"]["primes"]) == (17, 17, 14)


@pytest.mark.timeout(60)
def test_job_api_gives_the_error_and_escapes_markup(served):
    _, dashboard = served
    status, headers, body = dashboard.request("/api/jobs/bad")
    assert status == 200
    assert b"<" not in body and b">" not in body and b"\\u003cimg" in body
    error = json.loads(body)["result"]["error"]
    assert MARKUP in error["message"]
    assert error["file"] == "jobs/bad.yaml" and error["line"] == 3 and error["fix"]


@pytest.mark.timeout(60)
def test_integers_javascript_would_round_are_strings(served):
    _, dashboard = served
    status, data = dashboard.get_json("/api/jobs/book")
    assert status == 200
    big = 10657331232548839  # past 2^53: a JavaScript number would show ...840
    assert str(big) in data["result"]["primes"]
    assert data["result"]["primes"] == [p if p < 2**53 else str(p) for p in BOOK_PRIMES]


@pytest.mark.timeout(60)
def test_job_page_is_served_for_a_job_and_404_otherwise(served):
    _, dashboard = served
    assert dashboard.request("/jobs/bad")[0] == 200
    status, headers, body = dashboard.request("/jobs/no-such-job")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert b"no-such-job" in body
    status, data = dashboard.get_json("/api/jobs/no-such-job")
    assert status == 404 and "no-such-job" in data["error"]
    assert dashboard.request("/nothing/here")[0] == 404


@pytest.mark.timeout(60)
def test_a_url_quoting_markup_comes_back_escaped(served):
    _, dashboard = served
    for path in ("/jobs/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/%3Cscript%3Ealert(1)%3C/script%3E"):
        status, _, body = dashboard.request(path)
        assert status == 404
        assert b"&lt;script&gt;" in body and b"<script>" not in body


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", [
    "/api/jobs/..", "/api/jobs/%2e%2e", "/api/jobs/..%2F..%2Fconfig.yaml", "/api/jobs/.state",
    "/api/jobs/%2Fetc%2Fpasswd", "/api/jobs/bad%00", "/api/jobs/" + "a" * 65, "/jobs/..%2Fbook",
    "/static/../config.yaml", "/static/..%2F..%2Fconfig.yaml", "/static/dashboard.py",
    "/static/", "/config.yaml", "/outbox/book.yaml", "/api/jobs/book/../../config.yaml",
])
def test_bad_ids_and_paths_outside_the_page_are_404(served, path):
    _, dashboard = served
    status, _, body = dashboard.request(path)
    assert status == 404
    assert b"max_processes" not in body and b"root:" not in body


@pytest.mark.timeout(60)
def test_it_is_read_only(served):
    spool, dashboard = served
    before = sorted(p.relative_to(spool.root) for p in spool.root.rglob("*"))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = dashboard.request("/api/jobs/later", method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert sorted(p.relative_to(spool.root) for p in spool.root.rglob("*")) == before


@pytest.mark.timeout(60)
def test_head_has_the_headers_of_get_and_no_body(served):
    _, dashboard = served
    _, got, body = dashboard.request("/api/jobs/book")
    status, headers, empty = dashboard.request("/api/jobs/book", method="HEAD")
    assert status == 200 and empty == b""
    assert headers["Content-Length"] == got["Content-Length"] == str(len(body))


@pytest.mark.timeout(60)
def test_only_loopback_hosts_are_answered(served):
    _, dashboard = served
    assert dashboard.request("/api/jobs", host="attacker.example:8765")[0] == 421
    assert dashboard.request("/api/jobs", host="attacker.example")[0] == 421
    for host in ("127.0.0.1", f"localhost:{dashboard.port}", "[::1]:9000"):
        assert dashboard.request("/api/jobs", host=host)[0] == 200


@pytest.mark.timeout(60)
def test_half_written_odd_and_vanished_jobs_never_break_it(served):
    spool, dashboard = served
    half = spool.state / "running" / "half"
    half.mkdir()
    (half / PROGRESS_FILE).write_text('{"tested": 12, "tot')  # as if a writer died mid-file
    os.mkfifo(spool.jobs / "pipe.yaml")  # opening it for reading would wait forever
    (spool.jobs / "link.yaml").symlink_to(spool.root / "config.yaml")
    (spool.jobs / "junk.yaml").write_bytes(b"\xff\xfe: [\n")
    try:
        status, data = dashboard.get_json("/api/jobs")
        assert status == 200
        states = {job["id"]: job["state"] for job in data["jobs"]}
        assert {key: states[key] for key in ("half", "pipe", "link", "junk")} == {
            "half": "suspended", "pipe": "queued", "link": "queued", "junk": "queued"}  # no daemon holds it
        for job_id in ("half", "pipe", "link", "junk"):
            status, details = dashboard.get_json(f"/api/jobs/{job_id}")
            assert status == 200 and details["id"] == job_id
        status, details = dashboard.get_json("/api/jobs/link")
        assert "max_processes" not in json.dumps(details)  # a link is not followed
        shutil.rmtree(half)
        assert dashboard.get_json("/api/jobs/half")[0] == 404
        assert dashboard.request("/jobs/half")[0] == 404
        assert dashboard.get_json("/api/jobs")[0] == 200
        os.rename(spool.state / "done", spool.root / "done-away")  # the spool itself broken
        status, data = dashboard.get_json("/api/jobs")
        assert status == 500 and "could not be read" in data["error"]
        wait_until(lambda: "No such file or directory" in dashboard.log(), 5, "a warning in its log")
        assert "Traceback" not in dashboard.log()
        os.rename(spool.root / "done-away", spool.state / "done")
        assert dashboard.get_json("/api/jobs")[0] == 200  # and the dashboard lives on
    finally:
        if (spool.root / "done-away").exists():
            os.rename(spool.root / "done-away", spool.state / "done")
        shutil.rmtree(half, ignore_errors=True)
        for name in ("pipe.yaml", "link.yaml", "junk.yaml"):
            (spool.jobs / name).unlink(missing_ok=True)


@pytest.mark.timeout(30)
def test_a_taken_port_is_refused_with_a_message(served, spool):
    _, dashboard = served
    taken = run_cli(spool, "dashboard", "--port", str(dashboard.port), timeout=20)
    assert taken.returncode == 1
    assert f"cannot serve on 127.0.0.1:{dashboard.port}" in taken.stderr and "--port" in taken.stderr


# -- a real browser -----------------------------------------------------------------


@pytest.fixture
def browser():
    """Headless Chromium through Debian's chromedriver (selenium-manager never runs).
    Skipped without Chromium, except in CI, where it must run."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="runner-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


_READ_ROWS = """return Array.from(document.querySelectorAll('#jobs tbody tr')).map(tr => ({
  id: tr.dataset.job, state: tr.querySelector('.state').textContent, text: tr.innerText,
  task: tr.querySelector('.task').textContent, found: tr.querySelector('.found').textContent,
  tested: Number(tr.querySelector('.progress').dataset.tested),
  total: tr.querySelector('.progress').dataset.total}));"""
_READ_ERROR = """const box = document.getElementById('job-error');
return box.hidden ? null : {message: document.getElementById('error-message').textContent,
  images: box.querySelectorAll('img').length,
  state: document.querySelector('#job-state .state').textContent,
  fields: Object.fromEntries(Array.from(box.querySelectorAll('dd')).map(
    dd => [dd.dataset.field, dd.textContent]))};"""


def _rows(driver) -> dict[str, dict]:
    """The list's rows as {id: {state, task, found, tested, total, text}}, read in one go by the page
    itself (it redraws them every second, so element handles go stale)."""
    return {row["id"]: row for row in driver.execute_script(_READ_ROWS)}


def _slow_running(driver):
    rows = _rows(driver)
    ready = {"book", "bad", "factored", "slow"} <= rows.keys() and rows["slow"]["state"] == "running"
    return rows if ready and rows["slow"]["tested"] > 0 else None


def _click(driver, link_text: str) -> bool:
    """Click a link of the list; False if the page redrew it under our hand."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        driver.find_element("link text", link_text).click()
    except StaleElementReferenceException:
        return False
    return True


def _save(driver, name: str, capsys) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WINDOW_WIDTH, max(WINDOW_HEIGHT, height + 140))  # the whole page
    driver.save_screenshot(str(path))
    driver.set_window_size(WINDOW_WIDTH, WINDOW_HEIGHT)
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


@pytest.mark.timeout(120)
def test_browser_shows_jobs_live_and_a_failed_jobs_error(spool, start_daemon, browser, capsys):
    from selenium.common.exceptions import NoAlertPresentException

    daemon = start_daemon()
    wait_ready(daemon)
    dashboard = DashboardProcess(spool)
    try:
        drop_job(spool, "book.yaml", {"id": "book", "numbers": BOOK_NUMBERS})
        drop_job(spool, "bad.yaml", BAD_JOB)
        drop_job(spool, "factored.yaml", {"id": "factored", "task": "factor", "numbers": [12, 97]})
        drop_job(spool, "slow.yaml", {"id": "slow", "range": {"start": SLOW_START, "stop": SLOW_START + 60_000},
                                      "pool": {"processes": 1, "chunksize": 200}})
        assert wait_for_result(spool, "book")["state"] == "done"
        assert wait_for_result(spool, "bad")["state"] == "failed"
        assert wait_for_result(spool, "factored")["state"] == "done"

        browser.get(dashboard.url + "/")
        rows = wait_until(lambda: _slow_running(browser), 30, "the three jobs listed, slow one running")
        assert rows["book"]["state"] == "done" and "17 / 17 (100%)" in rows["book"]["text"]
        assert (rows["book"]["task"], rows["book"]["found"]) == ("primes", "14 primes")
        assert (rows["factored"]["task"], rows["factored"]["found"]) == ("factor", "2 values")
        assert (rows["bad"]["task"], rows["bad"]["found"]) == ("–", "0")  # failed before its task was read
        assert rows["bad"]["state"] == "failed"
        assert rows["slow"]["total"] == "60000"
        first = rows["slow"]["tested"]
        wait_until(lambda: (_slow_running(browser) or rows)["slow"]["tested"] > first, 20,
                   "the slow job's progress to move in the page, without a reload")
        wait_until(lambda: (_slow_running(browser) or rows)["slow"]["tested"] >= 3000, 30,
                   "the slow job 5% done (so the bar shows in the screenshot)")
        counts = " ".join(browser.find_element("id", "counts").text.split())
        assert "1 running" in counts and "2 done" in counts and "1 failed" in counts
        served = browser.find_element("id", "daemons").text
        assert served.startswith(f"daemon pid {daemon.pid} on ") and "(local, 2 processes)" in served
        slow = browser.execute_script(
            "return fetch('/api/jobs').then(r => r.json()).then(d => d.jobs.find(j => j.id === 'slow'))")
        for key in ("rate", "eta"):  # columns shown when the daemon reports them
            shown = browser.execute_script(
                f"""return getComputedStyle(document.querySelector('tr[data-job="slow"] .{key}'))
                    .display !== 'none'""")
            assert shown == (slow.get(key) is not None), key
        _save(browser, "dashboard.png", capsys)

        wait_until(lambda: _click(browser, "bad"), 10, "a click on the failed job's link")
        assert browser.current_url == dashboard.url + "/jobs/bad"
        error = wait_until(lambda: browser.execute_script(_READ_ERROR), 15,
                           "the failed job's error on its page")
        assert MARKUP in error["message"] and error["images"] == 0  # shown as text, not markup
        assert error["state"] == "failed"
        assert error["fields"]["file"] == "jobs/bad.yaml" and error["fields"]["line"] == "3"
        assert error["fields"]["field"] == MARKUP and error["fields"]["fix"]
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text
        _save(browser, "dashboard-failed-job.png", capsys)

        daemon.kill()  # its daemon gone: the page says so, and the job is suspended
        browser.get(dashboard.url + "/jobs/slow")
        wait_until(lambda: browser.execute_script(
            "return document.querySelector('#job-state .state')?.textContent") == "suspended",
            15, "the slow job's page to show it suspended")
        assert browser.find_element("id", "daemons").text.startswith(
            "No daemon serves this spool: nothing runs until one starts")
        cancelled = run_cli(spool, "cancel", "slow")
        assert cancelled.returncode == 0, cancelled.stderr
        browser.get(dashboard.url + "/jobs/slow")
        wait_until(lambda: browser.execute_script(
            "return document.querySelector('#job-state .state')?.textContent") == "cancelled",
            15, "the slow job's page to show it cancelled")
    finally:
        assert dashboard.stop() == 0
