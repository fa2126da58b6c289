"""keyfunnel: pipeline analytics for key-account (enterprise B2B) sales.

The package never imports streamlit, so the CLI, notebooks and tests use it without a browser.
"""

import os
import sys

__version__ = "0.1.0"

# BLAS on one thread, so that keyfunnel's numbers do not depend on the machine's cores: how many threads OpenBLAS
# splits a product over changes its last bits (a win model's coefficients by up to 1.4e-13 at 100k deals), and the
# fits and simulations run side by side on keyfunnel's own threads instead (analytics.forecasting.threads). Set
# before numpy loads its BLAS, which reads these once; where numpy came first (`streamlit run app.py`), the loaded
# library is told. A value the environment already gives is kept.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
for _name in BLAS_THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")
if "numpy" in sys.modules and os.environ["OPENBLAS_NUM_THREADS"] == "1":
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
