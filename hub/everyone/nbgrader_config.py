"""What every user of the class's JupyterHub reads, students and instructors alike: the course and the exchange.

Students' servers read it from the students' environment's etc/jupyter (`make students-env` copies it there);
instructors from the checkout, with
`export JUPYTER_CONFIG_PATH=/path/to/repository/hub/instructors:/path/to/repository/hub/everyone` (their hub
servers get the same from hub/jupyterhub_config.py). Nothing here may name the grader: students' environment has none.
nbgrader's exchange is one folder every user can write to, as nbgrader's documentation sets it up:
`sudo mkdir -p /srv/nbgrader/exchange && sudo chmod 1777 /srv/nbgrader/exchange` (the sticky bit: no student may
move or remove a folder that is not theirs, the course's included).
"""

c = get_config()  # noqa: F821 -- injected by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "embedding-layers"
c.Exchange.root = "/srv/nbgrader/exchange"
