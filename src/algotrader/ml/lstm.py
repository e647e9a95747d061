"""An LSTM forecaster (PyTorch, CPU): the last ``lookback`` feature rows -> one forecast.

Seeded, fixed thread count, inputs standardised with the training window's mean and std, so the
same data gives the same weights. Install with ``pip install 'algotrader[ml-torch]'`` (a CPU
build of torch is enough).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from algotrader.errors import InvalidInputError


@contextmanager
def _threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _network(features: int, hidden: int) -> Any:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(features, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :]).squeeze(-1)

    return Net()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class LSTMModel:
    """One-layer LSTM plus a linear head; MSE on returns, BCE on directions."""

    def __init__(
        self,
        *,
        classifier: bool,
        seed: int,
        lookback: int,
        hidden: int,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        threads: int,
    ) -> None:
        if lookback < 1 or hidden < 1 or epochs < 1 or batch_size < 1:
            raise InvalidInputError(
                "invalid LSTM parameters",
                "lookback, hidden, epochs and batch_size must all be at least 1",
            )
        self.classifier = classifier
        self.seed = seed
        self.sequence_length = int(lookback)
        self.hidden = int(hidden)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.threads = max(1, int(threads))
        self._state: dict[str, np.ndarray] | None = None
        self._mean = np.zeros(0)
        self._std = np.ones(0)
        self._y_scale = 1.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        import torch

        flat = X.reshape(-1, X.shape[-1])
        self._mean = flat.mean(axis=0)
        std = flat.std(axis=0)
        self._std = np.where(std > 0, std, 1.0)
        target = y.astype(np.float64)
        if not self.classifier:
            scale = float(np.std(target))
            self._y_scale = scale if scale > 0 else 1.0
            target = target / self._y_scale
        with _threads(self.threads):
            torch.manual_seed(self.seed)
            net = _network(X.shape[-1], self.hidden)
            inputs = torch.from_numpy(self._standardise(X))
            labels = torch.from_numpy(target.astype(np.float32))
            loss_fn = torch.nn.BCEWithLogitsLoss() if self.classifier else torch.nn.MSELoss()
            optimiser = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
            order = torch.Generator().manual_seed(self.seed)
            net.train()
            for _ in range(self.epochs):
                for batch in torch.randperm(len(inputs), generator=order).split(self.batch_size):
                    optimiser.zero_grad()
                    loss = loss_fn(net(inputs[batch]), labels[batch])
                    loss.backward()
                    optimiser.step()
        # Plain arrays: the artefact unpickles without rebuilding torch's module classes.
        self._state = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The forward pass in float64 numpy, row by row (no torch needed to forecast).

        Each row's arithmetic is independent of the other rows of the batch, so a bar's
        forecast never changes when later bars are appended (a batched matrix product's last
        bits depend on the batch).
        """
        if len(X) == 0:
            return np.zeros(0)
        if self._state is None:
            raise RuntimeError("the LSTM is not fitted")
        weights = {k: v.astype(np.float64) for k, v in self._state.items()}
        w_ih, w_hh = weights["lstm.weight_ih_l0"], weights["lstm.weight_hh_l0"]
        bias = weights["lstm.bias_ih_l0"] + weights["lstm.bias_hh_l0"]
        inputs = (X - self._mean) / self._std
        h = np.zeros((X.shape[0], self.hidden))
        c = np.zeros((X.shape[0], self.hidden))
        for step in range(X.shape[1]):
            gates = (
                (inputs[:, step, None, :] * w_ih).sum(axis=-1)
                + (h[:, None, :] * w_hh).sum(axis=-1)
                + bias
            )
            i, f, g, o = np.split(gates, 4, axis=1)  # PyTorch's gate order
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        raw = (h * weights["head.weight"][0]).sum(axis=1) + weights["head.bias"][0]
        if self.classifier:
            return 2.0 * _sigmoid(raw) - 1.0
        return raw * self._y_scale

    def importance(self) -> np.ndarray | None:
        return None

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self._mean) / self._std).astype(np.float32)


__all__ = ["LSTMModel"]
