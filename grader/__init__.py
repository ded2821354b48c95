"""The instructor side of *Embedding Layers, from first principles*.

Kept import-free on purpose: hidden test cells import ``grader.content.hidden.*`` inside every student kernel, and
must not pay for nbgrader. The command line is ``python -m grader`` (:mod:`grader.cli`).
"""
