"""What every user of the class's JupyterHub reads, students and instructors alike: the course and the exchange.

The hub's configuration (hub/jupyterhub_config.py) puts this folder on every server's JUPYTER_CONFIG_PATH; an
instructor's shell gets it with `export JUPYTER_CONFIG_PATH=/path/to/repository/hub/everyone` (or a copy of this file
in /etc/jupyter/). nbgrader's exchange is one folder every user can write to, as nbgrader's documentation sets it up:
`sudo mkdir -p /srv/nbgrader/exchange && sudo chmod 1777 /srv/nbgrader/exchange` (the sticky bit: no student
may move or remove a folder that is not theirs, the course's included).
"""

c = get_config()  # noqa: F821 -- injected by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "embedding-layers"
c.Exchange.root = "/srv/nbgrader/exchange"
# A submission counts for the student who owns it: nbgrader's collect would take bob's folder named for ada as hers.
c.ExchangeFactory.collect = "grader.compat.exchange.CollectOwnSubmissions"
