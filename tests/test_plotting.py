import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plot_history_draws_one_line_per_key():
    ax = plotting.plot_history({"train_loss": [3, 2, 1], "val_acc": [0.5, 0.7, 0.9]},
                               title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["training loss",
                                                             "validation accuracy"]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert ax.get_ylabel() == "value"  # two metrics on one axes: a generic name
    ax = plotting.plot_history({"train_loss": [3, 2, 1], "val_acc": [0.5, 0.7, 0.9]},
                               keys=["val_acc"])
    assert len(ax.get_lines()) == 1
    assert ax.get_ylabel() == "accuracy"
    assert ax.get_legend().get_texts()[0].get_text() == "validation accuracy"


def test_plot_history_labels_and_ylabel_can_be_given():
    history = {"train_loss": [3, 2], "val_loss": [3.5, 2.5], "lr": [0.1, 0.05]}
    ax = plotting.plot_history(history, keys=["train_loss", "val_loss"])
    assert ax.get_ylabel() == "loss"
    ax = plotting.plot_history(history, keys=["lr"], labels=["learning rate"], ylabel="lr")
    assert ax.get_lines()[0].get_label() == "learning rate" and ax.get_ylabel() == "lr"
    with pytest.raises(ValueError):
        plotting.plot_history(history, keys=["train_loss", "val_loss"], labels=["one"])


def test_history_label_reads_as_words():
    assert plotting.history_label("test_acc") == "test accuracy"
    assert plotting.history_label("val_loss") == "validation loss"
    assert plotting.history_label("grad_norm") == "grad norm"


def test_decision_boundary_for_labels_and_probabilities():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    y = np.array([0, 1, 1])
    ax = plotting.plot_decision_boundary(lambda P: (P.sum(1) > 0.5).astype(int), X, y,
                                         resolution=20)
    assert len(ax.collections) >= 2  # filled regions + the scatter
    ax = plotting.plot_decision_boundary(lambda P: 1 / (1 + np.exp(-P.sum(1))), X, y,
                                         resolution=20)
    assert len(ax.collections) >= 3  # regions, the p = 0.5 contour, the scatter
    assert len(ax.figure.axes) == 2 and ax.figure.axes[1].get_ylabel() == "p(class 1)"
    _, ax = plt.subplots()
    plotting.plot_decision_boundary(lambda P: 1 / (1 + np.exp(-P.sum(1))), X, y, ax=ax,
                                    resolution=20, colorbar=False)
    assert len(ax.figure.axes) == 1


def test_show_images_accepts_tensors_with_channels():
    fig = plotting.show_images(torch.rand(7, 1, 8, 8), labels=list(range(7)), ncols=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 8 and len(shown) == 7
    assert shown[2].get_title() == "2"


def test_loss_surface_with_two_paths_on_one_axes():
    f = lambda x, y: x ** 2 + 10 * y ** 2
    path = np.array([[1.5, 1.0], [1.0, 0.5], [0.1, 0.0]])
    ax = plotting.plot_loss_surface(f, path, label="sgd")
    n_contours = len(ax.collections)
    plotting.plot_loss_surface(f, path * 0.5, ax=ax, label="adam")
    assert len(ax.collections) == n_contours  # the surface is drawn once
    assert {"sgd", "adam"} <= {line.get_label() for line in ax.get_lines()}
