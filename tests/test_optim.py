"""KerasAdam follows Keras' Adam update step for step; the seed experiments train with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from decoderlab.optim import KerasAdam

STEPS = 8
LR, BETA_1, BETA_2, EPS = 1e-3, 0.9, 0.999, 1e-7


def keras_adam_reference(
    theta: np.ndarray, gradients: list[np.ndarray], amsgrad: bool = False
) -> np.ndarray:
    """Keras' ``Adam.update_step`` (keras/src/optimizers/adam.py) written out in numpy."""
    theta, m, v, v_hat = (theta.copy(), *(np.zeros_like(theta) for _ in range(3)))
    for t, g in enumerate(gradients, start=1):
        alpha = LR * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        m += (g - m) * (1 - BETA_1)
        v += (g * g - v) * (1 - BETA_2)
        v_hat = np.maximum(v_hat, v)
        theta -= m * alpha / (np.sqrt(v_hat if amsgrad else v) + EPS)
    return theta


def gradient_sequence(shape: tuple[int, ...]) -> list[np.ndarray]:
    """Gradients over ``STEPS`` steps spanning 1e-8..1, where eps matters and where it does not;
    they shrink after step 4, so amsgrad's running maximum of v differs from v."""
    rng = np.random.default_rng(0)
    scales = 10.0 ** rng.uniform(-8, 0, size=shape)
    return [
        rng.standard_normal(shape) * scales * (1.0 if step < 4 else 0.1) for step in range(STEPS)
    ]


def run_torch(optimizer_class, theta0: np.ndarray, gradients, **kwargs) -> np.ndarray:
    param = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
    optimizer = optimizer_class([param], lr=LR, betas=(BETA_1, BETA_2), eps=EPS, **kwargs)
    for g in gradients:
        param.grad = torch.tensor(g)
        optimizer.step()
    return param.detach().numpy()


@pytest.mark.parametrize(
    "kernel", [{"foreach": False}, {"foreach": True}, {"fused": True}], ids=str
)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_matches_the_keras_update_in_float64(kernel, amsgrad):
    theta0 = np.random.default_rng(1).standard_normal((4, 6))
    gradients = gradient_sequence(theta0.shape)
    expected = keras_adam_reference(theta0, gradients, amsgrad)
    found = run_torch(KerasAdam, theta0, gradients, amsgrad=amsgrad, **kernel)
    np.testing.assert_allclose(found - theta0, expected - theta0, rtol=1e-12, atol=1e-18)


def test_torch_adam_is_not_the_keras_update():
    """The reference tells the two rules apart at these gradients (what KerasAdam fixes)."""
    theta0 = np.random.default_rng(1).standard_normal((4, 6))
    gradients = gradient_sequence(theta0.shape)
    expected = keras_adam_reference(theta0, gradients)
    torch_adam = run_torch(torch.optim.Adam, theta0, gradients)
    assert np.abs(torch_adam - expected).max() > 1e-4


def test_a_closure_and_a_state_dict_round_trip():
    """Lightning steps with a closure and resumes from a state dict: the update is unchanged,
    and Keras' eps stays in param_groups."""
    theta0 = np.random.default_rng(2).standard_normal(5)
    gradients = gradient_sequence(theta0.shape)
    param = torch.nn.Parameter(torch.tensor(theta0))
    optimizer = KerasAdam([param], lr=LR, eps=EPS)
    for g in gradients[:3]:

        def closure(g=g):
            param.grad = torch.tensor(g)
            return 0.5

        assert optimizer.step(closure) == 0.5
    saved = optimizer.state_dict()
    assert saved["param_groups"][0]["eps"] == EPS
    resumed = KerasAdam([param], lr=LR, eps=EPS)
    resumed.load_state_dict(saved)
    for g in gradients[3:]:
        param.grad = torch.tensor(g)
        resumed.step()
    expected = keras_adam_reference(theta0, gradients)
    np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize("experiment", ["seed_upsampling2d", "seed_conv2dtranspose"])
def test_seed_experiments_train_with_keras_adam(make_cfg, experiment):
    cfg = make_cfg(f"experiment={experiment}")
    model = instantiate(cfg.model, in_shape=(1, 28, 28))
    optimizer = model.configure_optimizers()
    assert type(optimizer) is KerasAdam
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["eps"] == 1e-7


def test_any_model_can_select_keras_adam(make_cfg):
    cfg = make_cfg("model/decoder=pixel_shuffle", "model/optimizer=keras_adam")
    model = instantiate(cfg.model, in_shape=(1, 28, 28))
    assert type(model.configure_optimizers()) is KerasAdam
    assert type(instantiate(make_cfg().model, in_shape=(1, 28, 28)).configure_optimizers()) is (
        torch.optim.Adam
    )
