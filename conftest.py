"""The test harness for the notebooks: what the book's tests need is set here, not in the chapters.

nbval starts each notebook's kernel with this process's environment, so these settings reach the
kernels (and the command-line runs inside them) without a line of test plumbing in a chapter.
``tools/run_notebooks.py`` applies the same settings when it executes or re-executes notebooks.
"""

import os

NOTEBOOK_ENV = {
    # TensorFlow's C++ start-up notices and Weights & Biases' run ids and paths are not results.
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # oneDNN on, as TensorFlow's default: set explicitly, TensorFlow does not print its notice that
    # oneDNN is on (which TF_CPP_MIN_LOG_LEVEL does not silence) into the first cell that imports it.
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "WANDB_SILENT": "true",
}

for _key, _value in NOTEBOOK_ENV.items():
    os.environ.setdefault(_key, _value)
