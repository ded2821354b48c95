"""The class as it runs on a JupyterHub, for real: students as separate OS users log in through the hub's page in a
browser, fetch, run, Validate and submit with nbgrader's Assignment List; the instructor, an OS user too, collects,
grades with ``python -m grader autograde`` and releases the feedback; each student fetches and reads their own page.

The hub is the course's own configuration (``hub/jupyterhub_config.py``: LocalProcessSpawner, JupyterLab,
``hub/students`` then ``hub/everyone`` on a student's config path, ``hub/instructors`` on the instructor's) with the
machine-specific lines a test must change: loopback ports, its state and the exchange in a folder of the test's, and the
students' servers started from this environment with the grader made unimportable (``sys.modules['grader'] = None`` in
the server and in its python3 kernel) where a class builds a separate environment without it
(``hub/students/requirements.txt``): every step a student takes works without the grader. The proxy is
configurable-http-proxy from the npm registry (``make hub``, ``hub/package-lock.json``). Everything runs in a private
mount namespace (``unshare --mount``) whose /etc/passwd, /etc/group and /etc/shadow hold the test's accounts (the two
students log in through the configuration's PAM; eve, who is not of the class's group, and a wrong password are turned
away), so the OS users exist for the hub, its servers and the instructor's commands and nowhere else: the machine's own
accounts are never touched, and two runs at once do not meet. Each server runs as its student (setuid by the spawner),
in a home only that student may enter. The hub, the proxy and every server are stopped at the end; the browser is
Debian's Chromium with every request off loopback refused. Screenshots are kept under pytest's temporary folder
(printed).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit
from urllib.request import urlopen

import nbformat
import pytest

from grader.project import REPO, notebook_index
from grader.samples.submissions import fill
from tests.browser import CHROMIUM_ARGS, chromium_path, free_port, open_notebook, run_all, save, validate
from tests.helpers import reachable_by_anyone

ASSIGNMENT = "01_lookup"
PASSWORD = "a-class-password"
PROXY = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
# A student's server and kernel as they run in the students' environment, which has no grader.
WITHOUT_GRADER = "import sys; sys.modules['grader'] = None\n"
PYTHON = str(BIN / "python")
STUDENT_SERVER = [PYTHON, "-c", WITHOUT_GRADER + "from jupyterhub.singleuser import main; sys.exit(main())"]
STUDENT_KERNEL = [PYTHON, "-c", WITHOUT_GRADER + "from ipykernel import kernelapp; kernelapp.launch_new_instance()",
                  "-f", "{connection_file}"]
STUDENT_NBGRADER = [PYTHON, "-c", WITHOUT_GRADER + "from nbgrader.apps.nbgraderapp import main; main()"]
STUDENTS = {"ada": True, "bob": False}    # who hands in the solution, who the untouched release
INSTRUCTOR = "teach"
OUTSIDER = "eve"     # an account of the machine with the class's password, not in the class's group
CLASS_GROUP = "embedding-layers"   # hub/jupyterhub_config.py: PAMAuthenticator.allowed_groups
START = 180          # seconds for the hub, or one student's server, to answer on a loaded 2-core machine
STEP = 120_000       # milliseconds for one step in the browser (a Run All of 01_lookup takes ~10 s)


@dataclass
class Hub:
    url: str
    root: Path                   # the test's folder: homes, the exchange, the hub's state and log
    uids: dict[str, int]         # account -> uid (the accounts exist only inside the namespace)
    passwd: Path
    group: Path
    shadow: Path

    def home(self, account: str) -> Path:
        return self.root / "home" / account

    def run_as(self, account: str, cwd: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """``command`` as ``account`` (its uid and group, no others), in the hub's view of the machine: what the
        instructor types in a terminal on the hub, or what a student's shell may do."""
        uid = self.uids[account]
        inside = (f"{self._namespace()} && cd {shlex.quote(str(cwd))} && exec setpriv --reuid={uid} --regid={uid} "
                  f'--clear-groups "$@"')
        env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.home(account)),
               "JUPYTER_CONFIG_PATH": self.config_path(account)}
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", inside, "sh", *command],
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        if check:
            assert done.returncode == 0, (f"as {account}: {' '.join(command)} failed ({done.returncode}):\n"
                                          f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def config_path(self, account: str) -> str:
        """JUPYTER_CONFIG_PATH as the hub gives it: the instructor's from the checkout (hub/jupyterhub_config.py's
        by_role), a student's from the students' environment (`make students-config`); the test's exchange first."""
        own = [str(REPO / "hub" / "instructors")] if account == INSTRUCTOR else [str(self.root / "students-env" /
                                                                                  "etc" / "jupyter")]
        return os.pathsep.join([str(self.root / "everyone"), *own])

    def _namespace(self) -> str:
        """Shell commands that make this namespace the hub's: the class's accounts, and the interpreter and the
        repository reachable by them (fresh temporary folders on every call)."""
        opened = reachable_by_anyone([Path(sys.executable), REPO])
        accounts = " && ".join(f"mount --bind {shlex.quote(str(path))} /etc/{path.name}"
                               for path in (self.passwd, self.group, self.shadow))
        return f"{opened} && {accounts}" if opened else accounts


def _accounts(root: Path) -> dict[str, int]:
    """Uids for the test's accounts, and two more ids for the class's group and the instructors', that no account
    of the machine has and no process runs as (another run's included; the pid picks where to start looking)."""
    taken = {int(line.split(":")[2]) for line in Path("/etc/passwd").read_text().splitlines() if line.count(":") >= 6}
    taken |= {entry.stat().st_uid for entry in Path("/proc").iterdir() if entry.name.isdigit() and entry.exists()}
    base = 61000 + (os.getpid() % 400) * 8
    names = [*STUDENTS, INSTRUCTOR, OUTSIDER]
    while taken & set(range(base, base + len(names) + 2)):   # and the two groups
        base += 8
    return {name: base + i for i, name in enumerate(names)}


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    if os.geteuid() != 0:
        pytest.skip("students as OS users of a hub need root (CI and `make test` run as root)")
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} (util-linux) is needed to run the hub's users")
    if not PROXY.exists():
        pytest.fail(f"{PROXY} is missing: `make hub` installs configurable-http-proxy from the npm registry")
    root = Path(tempfile.mkdtemp(prefix="grader-hub-"))   # pytest's folders are root's alone: the users need in
    root.chmod(0o755)
    uids = _accounts(root)
    (root / "home").mkdir(mode=0o755)
    for account, uid in uids.items():
        home = root / "home" / account
        home.mkdir(mode=0o700)
        os.chown(home, uid, uid)
    # The machine's accounts files with the test's accounts added, bound over /etc in the namespace only: the hub
    # logs them in through PAM (pam_unix reads /etc/shadow) and lets in the class's group, as configured.
    (accounts := root / "etc").mkdir(mode=0o700)
    passwd, group, shadow = accounts / "passwd", accounts / "group", accounts / "shadow"
    passwd.write_text(Path("/etc/passwd").read_text()
                      + "".join(f"{a}:x:{u}:{u}::{root / 'home' / a}:/bin/sh\n" for a, u in uids.items()))
    group.write_text(Path("/etc/group").read_text() + "".join(f"{a}:x:{u}:\n" for a, u in uids.items())
                     + f"{CLASS_GROUP}:x:{max(uids.values()) + 1}:{','.join([*STUDENTS, INSTRUCTOR])}\n"
                     + f"instructors:x:{max(uids.values()) + 2}:{INSTRUCTOR}\n")   # hub/jupyterhub_config.py
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD, capture_output=True, text=True,
                            check=True).stdout.strip()
    shadow.write_text(Path("/etc/shadow").read_text() + "".join(f"{a}:{hashed}:19000:0:99999:7:::\n" for a in uids))
    for path in (passwd, group):
        path.chmod(0o644)
    shadow.chmod(0o640)
    exchange = root / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)    # as hub/everyone/nbgrader_config.py says to set /srv/nbgrader/exchange up
    everyone = root / "everyone"
    everyone.mkdir()
    (everyone / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig({str(REPO / 'hub' / 'everyone' / 'nbgrader_config.py')!r})  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n")
    kernels = root / "jupyter" / "kernels" / "python3"   # found first through the servers' JUPYTER_PATH
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({"argv": STUDENT_KERNEL, "display_name": "Python 3 (ipykernel)",
                                                     "language": "python"}))
    for folder in (root / "jupyter", kernels.parent, kernels):
        folder.chmod(0o755)
    # The students' environment's own configuration, installed as `make students-env` installs it.
    subprocess.run(["make", "-s", "students-config", f"STUDENTS_ENV={root / 'students-env'}"], cwd=REPO, check=True)
    port = free_port()
    made_config_path = os.pathsep.join([str(everyone), str(root / "students-env" / "etc" / "jupyter")])
    (root / "jupyterhub_config.py").write_text(f"""c = get_config()  # noqa: F821
load_subconfig({str(REPO / 'hub' / 'jupyterhub_config.py')!r})  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{free_port()}"
c.JupyterHub.db_url = "sqlite:///{root / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = {str(root / 'cookie_secret')!r}
c.ConfigurableHTTPProxy.pid_file = {str(root / 'proxy.pid')!r}
c.Spawner.environment = {{"JUPYTER_CONFIG_PATH": {made_config_path!r}, "JUPYTER_PATH": {str(root / 'jupyter')!r}}}
c.Spawner.cmd = {STUDENT_SERVER!r}
c.Spawner.start_timeout = {START}
c.Spawner.http_timeout = {START}
""")
    made = Hub(f"http://127.0.0.1:{port}", root, uids, passwd, group, shadow)
    log_path = root / "jupyterhub.log"
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(root)}
    with log_path.open("w") as log:
        server = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                   made._namespace() + ' && exec "$@"', "sh", str(BIN / "jupyterhub"),
                                   "-f", str(root / "jupyterhub_config.py")],
                                  cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START
        while True:
            if server.poll() is not None:
                pytest.fail(f"jupyterhub exited ({server.returncode}):\n{log_path.read_text()[-5000:]}")
            with contextlib.suppress(OSError), urlopen(f"{made.url}/hub/api", timeout=5) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"jupyterhub did not answer within {START} s:\n{log_path.read_text()[-5000:]}")
            time.sleep(0.5)
        print(f"the hub's folder: {root}")
        yield made
    finally:
        proxy = int((root / "proxy.pid").read_text()) if (root / "proxy.pid").exists() else None
        server.send_signal(signal.SIGTERM)   # the hub stops the proxy and every student's server
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)   # anything of its session still there
        deadline = time.monotonic() + 30   # a server's kernels end a moment after the server
        while (left := _processes_of(set(uids.values()))) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proxy_left = proxy is not None and Path(f"/proc/{proxy}").exists() and \
            "configurable-http-proxy" in Path(f"/proc/{proxy}/cmdline").read_bytes().decode(errors="replace")
        if proxy_left:
            os.kill(proxy, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes of the class's accounts outlived the hub: {left}"
        assert not proxy_left, "configurable-http-proxy outlived the hub"


def _processes_of(uids: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
    return found


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


class Student:
    """One student's browser: logged in through the hub's page, working in JupyterLab's nbgrader panels."""

    def __init__(self, hub: Hub, account: str, context, shots: Path, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
        self.hub, self.account, self.context, self.shots = hub, account, context, shots
        self.page = context.new_page()
        self.page.set_default_timeout(STEP)
        self.page.on("console", lambda m: problems.append(f"{account}: console {m.text[:300]}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: problems.append(f"{account}: page error {e}"))

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.account}-{name}.png"))

    def log_in(self) -> None:
        page = self.page
        self.type_password()
        page.wait_for_url(f"**/user/{self.account}/lab**", timeout=START * 1000)
        page.wait_for_selector(".jp-LabShell")
        self.shot("1-lab")

    def type_password(self, password: str = PASSWORD) -> None:
        """The hub's login page, filled in and sent: the account's name, the class's password."""
        self.page.goto(f"{self.hub.url}/hub/login")
        self.page.fill("#username_input", self.account)
        self.page.fill("#password_input", password)
        self.page.click("#login_submit")

    def nbgrader_menu(self) -> list[str]:
        """The items of JupyterLab's Nbgrader menu, as the student sees them (the menu is closed again)."""
        self.page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        items = self.page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
        self.page.keyboard.press("Escape")
        return [item.strip() for item in items if item.strip()]

    def server_answers(self, path: str) -> tuple[int, str]:
        """The status and body of ``path`` on the student's own server, asked from their logged-in browser."""
        answer = self.context.request.get(f"{self.hub.url}/user/{self.account}/{path}")
        return answer.status, answer.text()

    def assignment_list(self) -> None:
        self.page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        self.page.click(".lm-Menu-itemLabel:text-is('Assignment List')")
        self.page.wait_for_selector("#released_assignments_list, #fetched_assignments_list")

    def fetch(self) -> None:
        self.assignment_list()
        self.page.click(f"#released_assignments_list .list_item:has-text('{ASSIGNMENT}') button:text-is('Fetch')")
        self.page.wait_for_selector(f"#fetched_assignments_list >> text={ASSIGNMENT}")
        self.shot("2-fetched")

    def run_all_and_validate(self) -> str:
        """Open the fetched notebook, Run All, save, Validate; the Validate dialog's text."""
        open_notebook(self.page, f"{self.hub.url}/user/{self.account}/lab/tree/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
                      START)
        run_all(self.page, 2 * STEP / 1000, self.account)
        self.shot("3-ran")
        save(self.page)
        said = validate(self.page, STEP / 1000)
        self.shot("4-validated")
        return said

    def submit(self) -> None:
        self.assignment_list()
        self.page.click(f"#fetched_assignments_list .list_item:has-text('{ASSIGNMENT}') button:text-is('Submit')")
        self.page.wait_for_selector(f"#submitted_assignments_list >> text={ASSIGNMENT}")
        self.shot("5-submitted")

    def feedback_page(self) -> str:
        """Fetch the feedback in the Assignment List, follow its "view feedback" link to the folder it landed in,
        open the page in JupyterLab, then in a tab of its own from the student's server; that page's HTML."""
        page = self.page
        self.assignment_list()
        page.click(f"#submitted_assignments_list .list_item:has-text('{ASSIGNMENT}') button:text-is('Fetch Feedback')")
        page.click("#submitted_assignments_list >> text=view feedback")
        listed = page.locator(f".jp-DirListing-item:has-text('{ASSIGNMENT}.html')")
        listed.dblclick()
        page.wait_for_selector("iframe")
        self.shot("6-feedback-in-lab")
        [local] = list((self.hub.home(self.account) / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        relative = local.relative_to(self.hub.home(self.account)).as_posix()
        tab = self.context.new_page()
        tab.goto(f"{self.hub.url}/user/{self.account}/files/{quote(relative)}")
        tab.wait_for_load_state()
        tab.screenshot(path=str(self.shots / f"{self.account}-7-feedback.png"))
        return tab.content()


def test_a_class_on_a_jupyterhub_from_release_to_each_students_feedback(hub: Hub,
                                                                        tmp_path_factory: pytest.TempPathFactory
                                                                        ) -> None:
    chromium = chromium_path()
    from playwright.sync_api import sync_playwright

    shots = tmp_path_factory.mktemp("hub-screenshots")
    print(f"screenshots: {shots}")
    lookup = notebook_index()[ASSIGNMENT]
    hub.run_as(INSTRUCTOR, REPO, "nbgrader", "release_assignment", ASSIGNMENT)

    problems: list[str] = []
    refused: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)

        def loopback_only(route) -> None:  # type: ignore[no-untyped-def]
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        students = {}
        try:
            # PAM knows eve and her password is right, but she is not of the class's group: the hub keeps her out, as
            # a wrong password keeps ada out. (The page answers 403, which the console reports: not a problem.)
            for account, password in ((OUTSIDER, PASSWORD), ("ada", f"not-{PASSWORD}")):
                context = browser.new_context()
                context.route("**/*", loopback_only)
                turned_away = Student(hub, account, context, shots, [])
                turned_away.type_password(password)
                said = turned_away.page.inner_text(".login_error")
                assert "Invalid username or password" in said and f"/user/{account}" not in turned_away.page.url, (
                    account, said, turned_away.page.url)
                context.close()
            for account, solve in STUDENTS.items():
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                context.route("**/*", loopback_only)
                student = students[account] = Student(hub, account, context, shots, problems)
                student.log_in()
                # nbgrader's student side only (hub/students); the kernel is the students' environment's, no grader.
                menu = student.nbgrader_menu()
                assert "Assignment List" in menu and not {"Formgrader", "Course List"} & set(menu), menu
                for path in ("formgrader", "formgraders"):   # formgrader's and the course list's server side
                    status, _ = student.server_answers(path)
                    assert status == 404, f"{account} reached nbgrader's {path}: {status}"
                _, lab = student.server_answers("lab")
                assert all(f'"@jupyter/nbgrader:{plugin}"' in lab.split('"disabledExtensions"', 1)[-1].split("]")[0]
                           for plugin in ("formgrader", "create-assignment", "course-list")), "plugins left on"
                status, specs = student.server_answers("api/kernelspecs")
                assert status == 200 and json.loads(specs)["kernelspecs"]["python3"]["spec"]["argv"] == STUDENT_KERNEL
                student.fetch()
                fetched = hub.home(account) / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
                assert fetched.stat().st_uid == hub.uids[account], "the fetched notebook is not the student's"
                assert fetched.read_bytes() == (REPO / "course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes(), (
                    "the student fetched something other than the release")
                # The student's answers (typed in JupyterLab, written here as they would save them), as the student.
                nbformat.write(fill(lookup, ASSIGNMENT, solve=solve), str(fetched))
                os.chown(fetched, hub.uids[account], hub.uids[account])
                said = student.run_all_and_validate()
                ran = [c for c in nbformat.read(str(fetched), as_version=4).cells if c.cell_type == "code"]
                errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
                if solve:
                    assert "Success! Your notebook passes all the tests." in said, said
                    assert all(c.execution_count for c in ran) and not errors, "Run All did not run every cell"
                    assert any("image/png" in o.get("data", {}) for c in ran for o in c.outputs), "no plot was drawn"
                else:
                    assert "Success" not in said and "The following cell failed" in said, said
                    assert errors and errors[0].ename == "NotImplementedError", (
                        f"the release's stub did not raise: cells run {[c.execution_count for c in ran]}")
                student.submit()

            # The instructor's own server on the hub: the hub's environment with hub/instructors (by_role), where
            # nbgrader's formgrader answers, and the grader's configuration (its collect) is read.
            context = browser.new_context()
            context.route("**/*", loopback_only)
            teacher = Student(hub, INSTRUCTOR, context, shots, problems)
            teacher.log_in()
            status, _ = teacher.server_answers("formgrader")
            assert status == 200, f"the instructor's server has no formgrader: {status}"
            commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in
                        _processes_of({hub.uids[INSTRUCTOR]}) if Path(f"/proc/{pid}/cmdline").exists()]
            assert [str(BIN / "jupyterhub-singleuser").encode()] in [c[1:2] for c in commands], (
                f"the instructor's server is not the hub's environment's: {commands}")
            context.close()

            # bob then hands in his blank notebook in ada's name (nbgrader's own option); it must not count for her.
            hub.run_as("bob", hub.home("bob"), *STUDENT_NBGRADER, "submit", ASSIGNMENT, "--student=ada")
            # The instructor, in a class workspace of their own: collect, grade, release the feedback.
            workspace = hub.home(INSTRUCTOR) / "fall"
            hub.run_as(INSTRUCTOR, hub.home(INSTRUCTOR), "mkdir", "fall")
            collected = hub.run_as(INSTRUCTOR, workspace, "nbgrader", "collect", ASSIGNMENT)
            assert re.search(r"claims to be ada's but is owned by bob: refused", collected.stderr), collected.stderr
            graded = hub.run_as(INSTRUCTOR, workspace, "python", "-m", "grader", "autograde", "--root", ".")
            assert "kernels, sandboxed (" in graded.stderr and "NOT sandboxed" not in graded.stderr, graded.stderr
            assert "ada " in graded.stdout and "bob " in graded.stdout, graded.stdout
            hub.run_as(INSTRUCTOR, workspace, "nbgrader", "release_feedback", ASSIGNMENT)

            scores = {}
            for account, student in students.items():
                page = student.feedback_page()
                text = _text(page)
                found = re.search(rf"{ASSIGNMENT} \(Score: ([\d.]+) / ([\d.]+)\)", text)
                assert found, f"{account}'s feedback page shows no score: {text[:500]}"
                scores[account] = float(found[1])
                assert "BEGIN HIDDEN TESTS" not in page and "grade_check_ids" not in page, f"{account}: hidden tests"
                assert "<math" in page, f"{account}'s feedback page has no typeset maths"
                mine = sorted((hub.home(account) / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
                graded_page = workspace / "feedback" / account / ASSIGNMENT / f"{ASSIGNMENT}.html"
                assert len(mine) == 1 and mine[0].read_bytes() == graded_page.read_bytes(), (account, mine)
                for step in ("autograded", "feedback"):   # where nbgrader's own autograde and generate_feedback put
                    folder = workspace / step / account / ASSIGNMENT   # them, for release_feedback to read
                    for name in ("timestamp.txt", "submission_secret.txt"):
                        assert (folder / name).read_bytes() == (workspace / "submitted" / account / ASSIGNMENT
                                                                / name).read_bytes(), f"{folder / name}"
            assert scores["bob"] == 0 < scores["ada"], scores
        finally:
            browser.close()

    # Each reads their own and no one else's: a home is its owner's alone, the exchange's feedback cannot be listed.
    ada_page = next((hub.home("ada") / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
    peek = hub.run_as("bob", hub.home("bob"), "cat", str(ada_page), check=False)
    assert peek.returncode != 0 and "Permission denied" in peek.stderr, peek
    listing = hub.run_as("bob", hub.home("bob"), "ls", str(hub.root / "exchange" / "embedding-layers" / "feedback"),
                         check=False)
    assert listing.returncode != 0 and "Permission denied" in listing.stderr, listing
    course = hub.root / "exchange" / "embedding-layers"
    moved = hub.run_as("bob", hub.home("bob"), "mv", str(course), str(hub.root / "exchange" / "mine"), check=False)
    assert moved.returncode != 0 and course.is_dir(), f"a student moved the course's exchange folder: {moved}"
    assert not refused, f"the pages asked for something off the machine: {refused[:5]}"
    assert not problems, "\n".join(problems)
