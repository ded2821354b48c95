"""JupyterHub for a class of this course on one machine: every student an OS user with a server of their own, the
notebooks and the feedback passed through nbgrader's exchange, grading done by the instructor with the grader.

Set it up as root, from the repository root (README, "A class on a JupyterHub", has every command):

    make hub                      # configurable-http-proxy, from the npm registry
    make students-env             # /opt/embedding-layers/students: hub/students/requirements.txt, no grader, and
                                  # hub/students + hub/everyone copied into its etc/jupyter (again after changing them)
    groupadd instructors && usermod -aG instructors,embedding-layers TEACH     # each instructor or TA
    chgrp -R instructors . && chmod -R o-rwx .                                 # the checkout: instructors only
    .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Students log in at http://HOST:8000 with their system account (PAM; members of the group `embedding-layers`), get
JupyterLab with nbgrader's Assignment List (Nbgrader > Assignment List: fetch, Validate, submit, fetch feedback) and
none of its instructor tools; their server runs as them, in their home, from the students' environment (numpy,
torch, matplotlib, JupyterLab, nbgrader and JupyterHub's single-user server at the lock's versions, no grader), which
holds its own configuration: nothing of the checkout is read on a student's behalf. Instructors (the members of the
group `instructors`) get servers from the hub's environment with hub/instructors; in a terminal, with
`export JUPYTER_CONFIG_PATH=$PWD/hub/instructors:$PWD/hub/everyone`, they release with
`.venv/bin/nbgrader release_assignment 01_lookup` from the repository root, then in a class workspace collect with
`nbgrader collect 01_lookup`, grade with `python -m grader autograde --root .` (as themselves, not as root) and return
the pages with `nbgrader release_feedback 01_lookup`. tests/test_hub.py runs exactly that, with separate OS users and
a browser, the students' servers unable to import grader and configured from a `make students-config` copy.

Not done here, and needed for a real class (README): TLS in front of the hub (it listens on loopback only); limits
on memory and CPU (LocalProcessSpawner enforces none: SystemdSpawner does). (nbgrader's exchange would trust the
student id a student gives; the course's collect, configured in hub/instructors/nbgrader_config.py, counts a
submission for its owner: grader/compat/exchange.py.)
"""

import grp
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- injected by traitlets when JupyterHub loads this file

HUB = Path(__file__).resolve().parent
STUDENTS_ENV = Path("/opt/embedding-layers/students")   # hub/students/requirements.txt, built as said above
# The instructors' and TAs' accounts: the members of the group `instructors` (README), read as the hub starts.
INSTRUCTORS: set[str] = next((set(g.gr_mem) for g in grp.getgrall() if g.gr_name == "instructors"), set())

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
    class workspace) with hub/instructors and hub/everyone on its config path; a student's keeps c.Spawner.cmd, the
    students' environment, whose own etc/jupyter holds its configuration (`make students-env` copies hub/students
    and hub/everyone there), so nothing of the checkout is read on a student's behalf."""
    if spawner.user.name not in INSTRUCTORS:
        return
    spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    path = os.pathsep.join([str(HUB / "instructors"), str(HUB / "everyone")])
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": path}


c.Spawner.pre_spawn_hook = by_role
