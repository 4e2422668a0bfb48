"""The report layer: every table and figure of the paper drawn from run records.

``style`` (the look and one formatter per fact), ``plotting`` (statistics over seeds and
panel helpers), ``tables`` and ``figures`` (pure functions: records in, DataFrame or Figure
out), ``claims`` (the "Does it reproduce?" verdicts), ``run_plots`` (one run's curves) and
``render`` (registry entry -> saved and displayed page).
"""

from rouser.report.render import render

__all__ = ["render"]
