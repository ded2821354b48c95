"""formgrader on a graded workspace, for real: ``cd WS && jupyter lab`` on loopback, driven in headless Chromium.

A class is graded into a workspace by ``python -m grader autograde``; then the JupyterLab server an instructor starts
there (the README's two lines) is started on 127.0.0.1, a free port and a token, and Chromium — Debian's, through
Playwright, with every request that is not to the loopback server refused — goes through formgrader as a TA would:
Manage Assignments lists every graded assignment, the students' pages show the gradebook's scores, Manual Grading
opens the written answer that awaits a person and a score is typed into its box. ``grader feedback`` and
``grader export`` then carry that score. formgrader's own Generate Feedback writes a page without hidden-test source,
and its Autograde button is refused with the command to run, the gradebook untouched. Every formula on the page of a
submission is typeset by MathJax served by the same server (``grader/compat/formgrader.py``): the network is closed.
The browser's console holds no error. Screenshots of the key pages are kept under pytest's temporary folder for the
test (``.../screenshots``, printed; pytest keeps the last three runs), not in the repository, which a test must never
write into.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from grader.project import default_db_url, graded_assignments
from tests.browser import CHROMIUM_ARGS, TOKEN, chromium_path, jupyter_lab
from tests.conftest import RELEASE, SOLUTION, submit_like_the_class
from tests.helpers import run_grader

CLASS = [(SOLUTION, "01_lookup"), (RELEASE, "01_lookup"), (SOLUTION, "03_tied_embeddings")]
WRITTEN = "cost_answer"        # 01_lookup's written answer (2 points): every solution-filled submission awaits a person
TA_SCORE = 1.5
# MathJax 2 has typeset a formula: its rendered output (HTML-CSS, SVG or CommonHTML) beside the TeX it replaced
TYPESET = ("document.querySelectorAll('script[type^=\"math/tex\"]').length > 0 && "
           "document.querySelectorAll('span.MathJax, span.MathJax_SVG, span.MathJax_CHTML').length > 0")



# Console errors that are not the project's or formgrader's, and cannot be avoided with the MathJax the lock installs:
# MathJax 2.7's HTML-CSS output measures fonts with a blank web font ("MathJax_Blank", src url(about:blank)), which
# Chromium reports as a CORS error (it renders nothing and fetches nothing); and jupyter-server-mathjax 0.2.6 ships
# only the STIX-Web fonts, so the two characters MathJax draws from its TeX AMS and Script fonts ask for files the
# package does not have (404 from the local server; the formula is typeset, those glyphs in a fallback font).
KNOWN_CONSOLE_ERRORS = (
    ("Access to font at 'about:blank'", ""),
    ("Failed to load resource: net::ERR_FAILED", "about:blank"),
    ("the server responded with a status of 404", "/static/jupyter_server_mathjax/fonts/HTML-CSS/TeX/otf/"),
)


def _known(text: str, source: str) -> bool:
    return any(said in text and where in source for said, where in KNOWN_CONSOLE_ERRORS)





def gradebook_state(root: Path) -> dict[tuple[str, str, str, str], tuple[float | None, float | None, bool]]:
    """Every grade of the workspace's gradebook: (student, assignment, notebook, grade id) -> (automatic score,
    manual score, awaits a person) — what formgrader's buttons must not change behind the grader's back."""
    from nbgrader.api import Gradebook

    with Gradebook(default_db_url(root)) as gb:
        return {(sub.student.id, a.name, nb.name, g.name): (g.auto_score, g.manual_score, g.needs_manual_grade)
                for a in gb.assignments for sub in gb.assignment_submissions(a.name)
                for nb in sub.notebooks for g in nb.grades}


def scores(root: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, assignment) -> (score, max score) as the gradebook holds them, for every submission."""
    from nbgrader.api import Gradebook

    with Gradebook(default_db_url(root)) as gb:
        return {(sub.student.id, a.name): (sub.score, sub.max_score)
                for a in gb.assignments for sub in gb.assignment_submissions(a.name)}


def course_maximum(root: Path) -> float:
    """The most points of every assignment in the gradebook together (a student's "Overall Score" out of)."""
    from nbgrader.api import Gradebook

    with Gradebook(default_db_url(root)) as gb:
        return sum(a.max_score for a in gb.assignments)


def _shown(x: float) -> str:
    """A score as formgrader's pages print it (JavaScript's number, rounded to 2 places)."""
    return f"{round(x, 2):g}"


def _wait(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout} s")
        time.sleep(0.25)


def _rows(page, selector: str = "#main-table tr") -> list[list[str]]:  # type: ignore[no-untyped-def]
    return page.locator(selector).evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def test_formgrader_on_a_graded_workspace_in_a_browser_offline(workspace: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    chromium = chromium_path()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    submit_like_the_class(workspace, CLASS)
    graded = run_grader("autograde", "--root", str(workspace))
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    before = gradebook_state(workspace)
    pending = [key for key, (_, _, waits) in before.items() if waits]
    assert pending == [(SOLUTION, "01_lookup", "01_lookup", WRITTEN)], pending
    tmp_path = tmp_path_factory.mktemp("formgrader")    # beside the workspace, not in it (jupyter lab's root)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")
    problems: list[str] = []      # console errors and page errors, on every page
    refused: list[str] = []       # requests that tried to leave the machine

    with jupyter_lab(workspace, tmp_path / "jupyter") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        try:
            def loopback_only(route) -> None:  # type: ignore[no-untyped-def]
                if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            browser.route("**/*", loopback_only)
            page = browser.new_page()
            page.on("console", lambda m: problems.append(f"console error on {page.url}: {m.text} "
                                                         f"(from {m.location.get('url')})")
                    if m.type == "error" and not _known(m.text, m.location.get("url", "")) else None)
            page.on("pageerror", lambda e: problems.append(f"page error on {page.url}: {e}"))
            page.set_default_timeout(60_000)

            # The instructor opens the URL jupyter lab prints. (Its token is what logs the browser in: a token on a
            # formgrader URL instead sets the login cookie for that page's folder only, nbgrader's BaseHandler
            # stripping the base URL's '/' that jupyter_server uses as the cookie's path, and formgrader's own API
            # calls are then sent to the login page.)
            page.goto(f"{base}/lab?token={TOKEN}")
            page.wait_for_selector("#jp-main-dock-panel", state="attached")
            page.get_by_text("Nbgrader", exact=True).first.wait_for()   # nbgrader's menu in JupyterLab
            page.screenshot(path=shots / "1-jupyterlab.png")

            # Manage Assignments lists every graded assignment, with its number of submissions.
            page.goto(f"{base}/formgrader/manage_assignments")
            page.wait_for_selector("#main-table tr td:nth-child(9)")
            listed = {row[0]: row[8] for row in _rows(page)}      # name -> "# Submissions"
            for assignment in graded_assignments():
                count = sum(1 for _, a in scores(workspace) if a == assignment.name)
                assert listed.get(assignment.name) == str(count), (
                    f"Manage Assignments should list {assignment.name} with {count} submission(s): {listed}")
            page.screenshot(path=shots / "2-manage-assignments.png", full_page=True)

            # Manage Students: each student's total; a student's page: each assignment's score, as in the gradebook.
            page.goto(f"{base}/formgrader/manage_students")
            page.wait_for_selector("#main-table tr td:nth-child(4)")
            totals = {row[1]: row[3] for row in _rows(page)}
            maximum = course_maximum(workspace)
            for student in {s for s, _ in scores(workspace)}:
                mine = sum(score for (s, _), (score, _) in scores(workspace).items() if s == student)
                assert totals.get(student) == f"{_shown(mine)} / {_shown(maximum)}", (student, totals)
            page.goto(f"{base}/formgrader/manage_students/{SOLUTION}")
            page.wait_for_selector("#main-table tr td:nth-child(2)")
            shown = {row[0]: row[1] for row in _rows(page)}
            for (student, assignment), (score, most) in scores(workspace).items():
                if student == SOLUTION:
                    assert shown.get(assignment) == f"{_shown(score)} / {_shown(most)}", (assignment, shown)
            page.screenshot(path=shots / "3-student.png", full_page=True)

            # Manual Grading: the submission awaiting a person, its formula typeset offline, a score typed in.
            page.goto(f"{base}/formgrader/gradebook/01_lookup/01_lookup")
            page.locator("a:visible", has_text="Submission #").first.wait_for()
            page.get_by_role("button", name="Show All Names").click()
            page.locator("#main-table a:visible", has_text=SOLUTION).click()
            page.wait_for_url("**/formgrader/submissions/*/")
            mathjax = page.locator("script[src*='MathJax.js']").evaluate_all("els => els.map(e => e.src)")
            try:
                page.wait_for_function(TYPESET, timeout=60_000)
            except PlaywrightTimeout:
                pytest.fail(f"no formula typeset within 60 s on {page.url}: MathJax from {mathjax}, requests refused "
                            f"for leaving the machine: {refused}")
            assert mathjax and all(src.startswith(f"{base}/static/jupyter_server_mathjax/") for src in mathjax), mathjax
            box = page.locator(f"input.score#{WRITTEN}")
            box.click()
            box.press_sequentially(str(TA_SCORE))
            box.press("Tab")
            graded_by_hand = (SOLUTION, "01_lookup", "01_lookup", WRITTEN)
            _wait(lambda: gradebook_state(workspace)[graded_by_hand][1:] == (TA_SCORE, False),
                  f"the score typed into formgrader ({TA_SCORE}) did not reach the gradebook")
            page.locator(f"#{WRITTEN}").scroll_into_view_if_needed()
            page.screenshot(path=shots / "4-manual-grading.png")

            # The grader's feedback and export carry the hand-given score.
            feedback = run_grader("feedback", "--root", str(workspace))
            assert feedback.returncode == 0, feedback.stdout[-3000:] + feedback.stderr[-3000:]
            html = (workspace / "feedback" / SOLUTION / "01_lookup" / "01_lookup.html").read_text(encoding="utf-8")
            assert f"Score: {TA_SCORE} / 2.0" in html or f"{TA_SCORE} / 2" in html, "feedback lacks the TA's score"
            exported = run_grader("export", "--root", str(workspace))
            assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
            with (workspace / "grades_by_student.csv").open(newline="") as f:
                row = next(r for r in csv.DictReader(f) if r["student"] == SOLUTION)
            assert row["awaiting_a_person"] == "", row
            assert float(row["01_lookup"]) == scores(workspace)[(SOLUTION, "01_lookup")][0] == 18 + TA_SCORE, row
            after_manual = gradebook_state(workspace)

            # formgrader's Generate Feedback: a page without hidden-test source.
            page.goto(f"{base}/formgrader/manage_submissions/01_lookup")
            ours = page.locator("#main-table tr", has_text=SOLUTION)
            ours.locator(".generate-feedback a").click()
            page.locator("#success-modal, #error-modal").wait_for()
            said = page.locator(".modal-dialog").inner_text()
            assert page.locator("#success-modal").count() == 1, said
            page.screenshot(path=shots / "5-generate-feedback.png")
            html = (workspace / "feedback" / SOLUTION / "01_lookup" / "01_lookup.html").read_text(encoding="utf-8")
            assert "BEGIN HIDDEN TESTS" not in html and "grader.content.hidden" not in html, "hidden tests shown"
            assert "hidden tests:" in html, "formgrader's feedback lacks the hidden tests' report"
            page.locator(".modal-footer button").first.click()
            page.locator(".modal-dialog").wait_for(state="detached")

            # formgrader's Autograde: refused with the command to run, nothing in the gradebook changed.
            page.goto(f"{base}/formgrader/manage_submissions/01_lookup")
            ours = page.locator("#main-table tr", has_text=SOLUTION)
            ours.locator(".autograde a").click()
            page.locator("#success-modal, #error-modal").wait_for(timeout=120_000)
            said = page.locator(".modal-dialog").inner_text()
            page.screenshot(path=shots / "6-autograde-refused.png")
            assert page.locator("#error-modal").count() == 1, f"formgrader's autograde was not refused: {said}"
            assert f"python -m grader autograde --root {workspace}" in said, said
            assert gradebook_state(workspace) == after_manual, "formgrader's Autograde changed the gradebook"
        finally:
            browser.close()

    assert not refused, f"pages asked for what is not on this machine (maths would not render offline): {refused}"
    assert not problems, "\n".join(problems)
