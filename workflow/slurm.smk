# Included by the Snakefile. Only for Snakemake's SLURM executor (workflow/profiles/slurm):
# a SLURM status check that keeps failing fails the workflow, loudly, instead of leaving it
# waiting forever.
#
# Why: snakemake-executor-plugin-slurm 2.8.0 (requirements-cluster.txt) asks SLURM for its
# jobs' states with its status command (squeue or sacct) up to `slurm-status-attempts`
# times per check. When every attempt fails (a controller that does not answer, sacct
# without accounting), it drops all its active jobs without a word and Snakemake waits for
# them forever: no plugin setting bounds that (tests/workflow/test_slurm.py shows it). The
# profile spaces the attempts (`max-status-checks-per-second`), which sets how long an
# outage is waited out; here the last failed attempt of a check raises instead, which
# stops the workflow with the command and SLURM's error (the plugin logs that only at
# debug level). Jobs already submitted keep running; the error says how to see and cancel
# them.

import shlex

from snakemake_interface_common.exceptions import WorkflowError


class _NotedLogger:
    """The plugin's logger, keeping the debug messages too: the plugin says why a status
    query failed only in a debug message, which the error below must quote."""

    def __init__(self, logger):
        self.logger = logger
        self.notes = []

    def debug(self, message):
        self.notes.append(message)
        self.logger.debug(message)

    def __getattr__(self, name):
        return getattr(self.logger, name)


def fail_when_status_fails(plugin):
    """Wrap `plugin.query_job_status` (the one call of every status attempt) so that the
    `slurm-status-attempts`-th failure in a row raises a WorkflowError."""
    query = plugin.query_job_status
    failures = []

    async def query_or_fail(command, logger):
        noted = _NotedLogger(logger)
        status, seconds = await query(command, noted)
        if status is not None:
            failures.clear()
            return status, seconds
        failures.append(noted.notes[-1] if noted.notes else "no error message")
        attempts = workflow.executor_settings.status_attempts
        if len(failures) < attempts:
            return status, seconds
        words = shlex.split(command)
        name = words[words.index("--name") + 1]
        raise WorkflowError(
            f"SLURM's status command failed {len(failures)} times in a row "
            f"(slurm-status-attempts: {attempts}): {command}\n{failures[-1]}\n"
            "Snakemake stops rather than wait forever for jobs it can no longer see. Jobs "
            f"already submitted keep running: 'squeue --name {name}' lists them, 'scancel "
            f"--name {name}' cancels them. Once SLURM answers and they have ended (or are "
            "cancelled), run the same command again: finished runs are kept, the others "
            "resume from their last checkpoint."
        )

    plugin.query_job_status = query_or_fail


# The plugin is imported by Snakemake's plugin registry whenever it is installed; where it
# is not, there is no SLURM executor to guard.
if "snakemake_executor_plugin_slurm" in sys.modules:
    fail_when_status_fails(sys.modules["snakemake_executor_plugin_slurm"])
