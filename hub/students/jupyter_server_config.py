"""A student's server on the class's JupyterHub: nbgrader's student side only. `make students-env` copies this file,
labconfig/page_config.json and hub/everyone/nbgrader_config.py into the students' environment's etc/jupyter, where
their servers read them (the checkout is closed to students).

nbgrader installs its instructor tools for everyone in an environment; a student needs the Assignment List and
Validate, not the Formgrader (which would offer to grade, in their home, a course that is not there) or the Course
List. labconfig/page_config.json hides the same tools, and Create Assignment's cell toolbar, in JupyterLab. A setting
in a student's own ~/.jupyter does not undo this (this dictionary replaces theirs); their own Python config or a
`jupyter lab` from a terminal could, and reach nothing but the student's own files.
"""

c = get_config()  # noqa: F821 -- injected by traitlets when the server loads this file

c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
}
