"""Repository-wide pytest configuration: what nbval compares.

stderr is never compared (warnings differ between library versions and machines), nor are
images (a plot is checked by the assertion next to it, not by its pixels), nor widget
state (tqdm progress bars).
"""


def pytest_collectstart(collector):
    if getattr(collector, "fspath", None) is not None and collector.fspath.ext == ".ipynb":
        collector.skip_compare += (
            "stderr",
            "image/png",
            "image/svg+xml",
            "application/vnd.jupyter.widget-view+json",
        )
