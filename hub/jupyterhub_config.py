"""JupyterHub for a class of this course on one machine: every student an OS user with a server of their own, the
notebooks and the feedback passed through nbgrader's exchange, grading done by the instructor with the grader.

Start it as root, from the repository root, after `make hub` (configurable-http-proxy, from the npm registry):

    .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Students log in at http://HOST:8000 with their system account (PAM; members of the group `embedding-layers`), get
JupyterLab with nbgrader's Assignment List (Nbgrader > Assignment List: fetch, Validate, submit, fetch feedback);
their server runs as them, in their home. The instructor, with `export JUPYTER_CONFIG_PATH=$PWD/hub/everyone`,
releases with `nbgrader release_assignment 01_lookup` from the repository root, then in a class workspace collects
with `nbgrader collect 01_lookup`, grades with `python -m grader autograde --root .` and returns the pages with
`nbgrader release_feedback 01_lookup` (README, "A class on a JupyterHub"). tests/test_hub.py runs exactly that, with
separate OS users and a browser.

Not done here, and needed for a real class (README): a student's server can read whatever their OS user can, so the
checkout (solutions/, grader/, .git/) must be out of their reach, with the environment installed where they can read
it; TLS in front of the hub (it listens on loopback only); limits on memory and CPU (LocalProcessSpawner enforces
none: SystemdSpawner does). (nbgrader's exchange would trust the student id a student gives; the course's collect,
configured in hub/everyone/nbgrader_config.py, counts a submission for its owner: grader/compat/exchange.py.)
"""

import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- injected by traitlets when JupyterHub loads this file

HUB = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent   # the environment the hub runs in is every student's too (requirements.txt)

c.JupyterHub.bind_url = "http://127.0.0.1:8000"   # loopback: put a TLS proxy in front (OS passwords cross it)
# The hub's state where only root reads it, not in the checkout: `sudo mkdir -m 700 -p /srv/jupyterhub`
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "/srv/jupyterhub/jupyterhub-proxy.pid"
c.ConfigurableHTTPProxy.command = [str(HUB / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.authenticator_class = "pam"          # the machine's accounts...
c.PAMAuthenticator.allowed_groups = {"embedding-layers"}   # ...of the class's group only (JupyterHub 6 allows none
c.Authenticator.admin_users = set()                         # by default); name the instructors here
c.JupyterHub.spawner_class = "localprocess"       # each student's server as their own OS user, in their home
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": str(HUB / "everyone")}   # the course id and the exchange
