"""JupyterHub for a class of this course on one machine: every student an OS user with a server of their own, the
notebooks and the feedback passed through nbgrader's exchange, grading done by the instructor with the grader.

Start it as root, from the repository root, after `make hub` (configurable-http-proxy, from the npm registry) and
once the students' environment is built (below):

    .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Students log in at http://HOST:8000 with their system account (PAM; members of the group `embedding-layers`), get
JupyterLab with nbgrader's Assignment List (Nbgrader > Assignment List: fetch, Validate, submit, fetch feedback) and
none of its instructor tools (hub/students); their server runs as them, in their home, from the students'
environment: numpy, torch, matplotlib, JupyterLab, nbgrader and JupyterHub's single-user server at the lock's
versions, and no grader (hub/students/requirements.txt):

    sudo python3.11 -m venv /opt/embedding-layers/students
    sudo /opt/embedding-layers/students/bin/pip install -r hub/students/requirements.txt

The checkout (solutions/, grader/ with the hidden tests and references, .git/) must be out of the students' reach:
only the instructors' group may read it, except hub/, which every server reads its configuration from
(`chgrp -R instructors . && chmod -R o-rwx . && chmod o+x . && chmod -R o+rX hub`); the hub runs as root from the
checkout's .venv. The instructors (INSTRUCTORS below), with
`export JUPYTER_CONFIG_PATH=$PWD/hub/instructors:$PWD/hub/everyone`, release with
`nbgrader release_assignment 01_lookup` from the repository root, then in a class workspace collect with
`nbgrader collect 01_lookup`, grade with `python -m grader autograde --root .` and return the pages with
`nbgrader release_feedback 01_lookup` (README, "A class on a JupyterHub"). tests/test_hub.py runs exactly that, with
separate OS users and a browser, the students' servers unable to import grader.

Not done here, and needed for a real class (README): TLS in front of the hub (it listens on loopback only); limits
on memory and CPU (LocalProcessSpawner enforces none: SystemdSpawner does). (nbgrader's exchange would trust the
student id a student gives; the course's collect, configured in hub/instructors/nbgrader_config.py, counts a
submission for its owner: grader/compat/exchange.py.)
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- injected by traitlets when JupyterHub loads this file

HUB = Path(__file__).resolve().parent
STUDENTS_ENV = Path("/opt/embedding-layers/students")   # hub/students/requirements.txt, built as said above
INSTRUCTORS: set[str] = set()   # the instructors' and TAs' accounts: their servers get hub/instructors, not students'

c.JupyterHub.bind_url = "http://127.0.0.1:8000"   # loopback: put a TLS proxy in front (OS passwords cross it)
# The hub's state where only root reads it, not in the checkout: `sudo mkdir -m 700 -p /srv/jupyterhub`
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/jupyterhub-proxy.pid"
c.ConfigurableHTTPProxy.command = [str(HUB / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.authenticator_class = "pam"          # the machine's accounts...
c.PAMAuthenticator.allowed_groups = {"embedding-layers"}   # ...of the class's group only (JupyterHub 6 allows none
c.Authenticator.admin_users = set()                         # by default)
c.JupyterHub.spawner_class = "localprocess"       # each student's server as their own OS user, in their home
c.Spawner.cmd = [str(STUDENTS_ENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"


def by_role(spawner) -> None:  # type: ignore[no-untyped-def]
    """Before a server starts: an instructor's runs from the hub's own environment (the grader's, for formgrader in a
    class workspace) with hub/instructors on its config path; a student's from the students' environment
    (c.Spawner.cmd) with hub/students. Both read hub/everyone after it."""
    instructor = spawner.user.name in INSTRUCTORS
    if instructor:
        spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    first = str(HUB / ("instructors" if instructor else "students"))
    after = spawner.environment.get("JUPYTER_CONFIG_PATH", "")
    if not after.startswith(first + os.pathsep):   # a server started again keeps one copy
        spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": os.pathsep.join([first, after])}


c.Spawner.environment = {"JUPYTER_CONFIG_PATH": str(HUB / "everyone")}   # the course id and the exchange
c.Spawner.pre_spawn_hook = by_role
