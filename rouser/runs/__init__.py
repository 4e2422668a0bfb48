"""Running the paper's experiments: one run, its epochs, checkpoints and record, and the registries.

A run is one validated `rouser.config.RunConfig`; `train` trains it (epochs, measurements,
checkpoints, resume) and writes its record, one JSON file whose name is the hash of the
config. `experiments` says which runs stand behind each figure and table, `results` which
figures and tables there are; `first_steps` is the study of the first optimizer steps.
The layer below (`rouser.data`, the method at the package's top) never imports from here.
"""
