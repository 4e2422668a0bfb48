"""nbval executes the result notebooks here; the training notebooks are left to the workflow.

Why: a training notebook's defaults train a real-data run of the `cpu` profile (the profile
the book shows), which needs the recordings and an hour; tests/book/test_book.py executes every
training notebook with papermill through the smoke workflow instead, on synthetic data.
"""

collect_ignore = ["dvs128.ipynb", "nmnist.ipynb", "shd.ipynb"]
