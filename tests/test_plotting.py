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


# ---------------------------------------------------------------- what is drawn (mutation-tested)
def test_plot_history_draws_the_values_against_epochs_with_log_scale_and_title():
    ax = plotting.plot_history({"train_loss": [3.0, 2.0, 0.5], "epoch": [1, 2, 3]}, logy=True,
                               title="run 1")
    (line,) = ax.get_lines()  # "epoch" is not a curve
    assert list(line.get_xdata()) == [1, 2, 3] and list(line.get_ydata()) == [3.0, 2.0, 0.5]
    assert line.get_marker() == "o"  # few epochs: each one marked
    assert ax.get_yscale() == "log" and ax.get_title() == "run 1"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    ax = plotting.plot_history({"train_loss": list(range(40, 0, -1))})
    assert ax.get_lines()[0].get_marker() in (None, "None", "")  # many epochs: no markers
    assert ax.get_yscale() == "linear" and ax.get_title() == ""
    ax = plotting.plot_history({"train_ppl": [9.0, 5.0]})
    assert ax.get_ylabel() == "value" and ax.get_lines()[0].get_label() == "training ppl"
    assert plotting.history_label("lr") == "lr" and plotting.history_label("val_") == "val "


def test_decision_boundary_covers_the_data_with_a_margin_and_colours_by_label():
    X = np.array([[0.0, -1.0], [2.0, 1.0], [1.0, 3.0]])
    y = np.array([0, 2, 1])
    seen = []

    def predict(P):
        seen.append(P.copy())
        return np.where(P[:, 0] > 1, 2, 0)

    ax = plotting.plot_decision_boundary(predict, X, y, resolution=7, margin=0.25, title="t")
    (P,) = seen
    assert P.shape == (49, 2)
    assert (P[:, 0].min(), P[:, 0].max(), P[:, 1].min(), P[:, 1].max()) == (-0.25, 2.25,
                                                                             -1.25, 3.25)
    regions, points = ax.collections
    assert list(regions.levels) == [-0.5, 0.5, 1.5, 2.5]  # one band per class
    np.testing.assert_array_equal(points.get_offsets(), X)
    np.testing.assert_array_equal(points.get_array(), y)
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("$x_1$", "$x_2$", "t")
    assert len(ax.figure.axes) == 1  # labels: no colour bar
    ax = plotting.plot_decision_boundary(lambda P: 1 / (1 + np.exp(-P[:, 0])), X[:2],
                                         np.array([0, 1]), resolution=9)
    filled, boundary, _ = ax.collections
    np.testing.assert_allclose(filled.levels, np.linspace(0, 1, 11))
    assert list(boundary.levels) == [0.5]
    assert list(ax.figure.axes[1].get_yticks()) == [0, 0.25, 0.5, 0.75, 1]


def test_show_images_puts_each_image_in_its_own_cell_in_order():
    imgs = torch.arange(5 * 3 * 4 * 2, dtype=torch.float32).reshape(5, 3, 4, 2) / 120  # [N, C, H, W]
    fig = plotting.show_images(imgs, labels=["a", "b", "c", "d", "e"], ncols=3, scale=2.0)
    assert len(fig.axes) == 6 and tuple(fig.get_size_inches()) == pytest.approx((6.0, 4.6))
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["a", "b", "c", "d", "e"]
    for ax, img in zip(shown, imgs, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), img.permute(1, 2, 0).numpy())
    assert all(not ax.axison for ax in fig.axes)
    fig = plotting.show_images(np.zeros((2, 1, 5, 6)))  # one channel: squeezed to [H, W]
    shown = [ax for ax in fig.axes if ax.images]
    assert shown[0].images[0].get_array().shape == (5, 6) and shown[0].get_title() == ""
    assert shown[0].images[0].get_cmap().name == "gray" and len(fig.axes) == 10


def test_loss_surface_contours_the_log_loss_and_marks_the_end_of_the_path():
    f = lambda x, y: x ** 2 + 10 * y ** 2
    path = np.array([[1.5, 1.0], [1.0, 0.5], [0.1, 0.2]])
    ax = plotting.plot_loss_surface(f, path, xlim=(-2, 3), ylim=(-1, 2), levels=7,
                                    title="sgd on a bowl")
    (cs,) = ax.collections
    # log10(f - min f + 1e-3) spans [-3, log10(9 + 40 + 1e-3)] on this window
    assert cs.levels.min() <= -3 + 0.8 and np.log10(49) - 0.8 <= cs.levels.max()
    assert 5 <= len(cs.levels) <= 9  # about `levels` contours
    line, star = ax.get_lines()
    np.testing.assert_array_equal(np.c_[line.get_xdata(), line.get_ydata()], path)
    assert list(star.get_xdata()) == [0.1] and list(star.get_ydata()) == [0.2]
    assert star.get_marker() == "*"
    assert ax.get_xlim() == (-2, 3) and ax.get_ylim() == (-1, 2)
    assert ax.get_title() == "sgd on a bowl" and ax.get_legend() is None  # no label
    ax = plotting.plot_loss_surface(f, logscale=False, levels=[1.0, 10.0])
    assert list(ax.collections[0].levels) == [1.0, 10.0] and not ax.get_lines()


def test_loss_surface_contours_are_level_sets_of_the_log_loss():
    f = lambda x, y: x ** 2 + 10 * y ** 2
    ax = plotting.plot_loss_surface(f, xlim=(-2, 3), ylim=(-1, 2), levels=[0.0, 0.5, 1.0])
    cs = ax.collections[0]
    assert list(cs.levels) == [0.0, 0.5, 1.0]
    for level, segs in zip(cs.levels, cs.allsegs, strict=True):
        pts = np.concatenate(segs)
        assert len(pts) > 20 and pts[:, 0].max() > pts[:, 0].min()  # a closed curve, not a dot
        # log10(f - min f + 1e-3); the grid's minimum of f is ~0 (the bowl's bottom)
        np.testing.assert_allclose(np.log10(f(*pts.T) + 1e-3), level, atol=0.02)
    ax = plotting.plot_loss_surface(f, [[1.0, 1.0], [0.5, 0.2]], logscale=False,
                                    levels=[2.0, 5.0])
    for level, segs in zip(ax.collections[0].levels, ax.collections[0].allsegs, strict=True):
        pts = np.concatenate(segs)
        np.testing.assert_allclose(f(*pts.T), level, rtol=0.02)
    assert ax.get_lines()[0].get_marker() == "o"  # every visited point marked


def test_plot_history_draws_on_the_axes_given_and_reads_compound_metric_names():
    _, given = plt.subplots()
    assert plotting.plot_history({"train_loss": [1.0, 0.5]}, ax=given) is given
    assert len(given.get_lines()) == 1
    assert plotting.history_label("val_grad_norm") == "validation grad norm"
    assert plotting.history_label("train_top_5_acc") == "training top 5 acc"


def test_decision_boundary_regions_and_boundary_lie_where_predict_says():
    X = np.array([[0.0, 0.0], [2.0, 1.0], [1.0, 2.0]])
    calls = []

    def proba(P):
        calls.append(len(P))
        return np.clip(P[:, 0] - 0.5, 0, 1)  # exactly 0 and 1 at the ends: probabilities
    fig, (a1, a2) = plt.subplots(1, 2)
    plt.sca(a2)
    width = a1.get_position().width
    ax = plotting.plot_decision_boundary(proba, X, np.array([0, 1, 1]), ax=a1)
    assert ax is a1 and calls == [200 * 200]  # the default resolution
    assert a1.get_position().width < width  # its colour bar took room from a1, not a2
    filled, boundary, points = ax.collections
    assert filled.colorbar is not None
    xs = np.concatenate(boundary.allsegs[0])[:, 0]
    np.testing.assert_allclose(xs, 1.0, atol=0.02)  # p = 0.5 where x1 = 1
    assert ax.get_xlim() == pytest.approx((-0.5, 2.5))  # the default margin
    # labels of three classes (predict says only 0 or 1): bands, colours fixed per class
    y = np.array([0, 2, 1])
    ax = plotting.plot_decision_boundary(lambda P: (P[:, 0] > 1).astype(int), X, y,
                                         resolution=50)
    regions, points = ax.collections
    assert list(regions.levels) == [-0.5, 0.5, 1.5, 2.5] and len(ax.figure.axes) == 1
    ax.figure.canvas.draw()  # resolves the colours
    tab10 = plt.get_cmap("tab10")
    np.testing.assert_allclose(points.get_facecolor()[:, :3],
                               [tab10(k)[:3] for k in y])  # class k is tab10's colour k
    left = np.concatenate(regions.allsegs[0])  # the band of class 0
    right = np.concatenate(regions.allsegs[1])  # the band of class 1
    assert left[:, 0].max() <= 1.1 and right[:, 0].min() >= 0.9
    np.testing.assert_allclose(regions.get_facecolor()[:2, :3], [tab10(0)[:3], tab10(1)[:3]])
    ax = plotting.plot_decision_boundary(lambda P: P[:, 0] > 1, X, y, resolution=20)  # bools
    assert list(ax.collections[0].levels) == [-0.5, 0.5, 1.5, 2.5]


def test_show_images_takes_tensors_that_require_grad():
    imgs = torch.rand(2, 1, 4, 4, requires_grad=True)
    fig = plotting.show_images(imgs, ncols=2)
    shown = [ax for ax in fig.axes if ax.images]
    np.testing.assert_array_equal(shown[1].images[0].get_array(), imgs[1, 0].detach().numpy())
