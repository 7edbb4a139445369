"""Trains the next-reading predictor used by streaming_anomaly.py and exports it to ONNX.

Needs PyTorch (only to regenerate the committed model): `pip install torch==2.13.0 onnxscript`,
then `python examples/train_anomaly_model.py`. Writes examples/models/anomaly_lstm.onnx.
The model: LSTM(4 -> 32) over the readings, Linear(32 -> 4) on every step, predicting the next
reading. Input "readings" [batch, seq, 4] (batch-first), output "prediction" [batch, seq, 4].
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sensors import N_SENSORS, normal_stream  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class NextReading(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.lstm = nn.LSTM(N_SENSORS, hidden, batch_first=True)
        self.head = nn.Linear(hidden, N_SENSORS)

    def forward(self, readings):
        y, _ = self.lstm(readings)
        return self.head(y)


def main() -> None:
    torch.manual_seed(0)
    model = NextReading()
    data = np.stack([normal_stream(2000, seed) for seed in range(16)])  # [16, 2000, 4]
    x = torch.from_numpy(data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(150):
        start = int(torch.randint(0, 2000 - 201, ()).item())
        chunk = x[:, start:start + 201]
        pred = model(chunk[:, :-1])
        loss = nn.functional.mse_loss(pred, chunk[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % 25 == 0 or epoch == 149:
            print(f"epoch {epoch}: mse {loss.item():.5f}")
    model.eval()
    out = os.path.join(HERE, "models", "anomaly_lstm.onnx")
    example = torch.zeros(1, 10, N_SENSORS)
    torch.onnx.export(model, (example,), out, input_names=["readings"], output_names=["prediction"],
                      dynamic_axes={"readings": {0: "batch", 1: "seq"}, "prediction": {0: "batch", 1: "seq"}},
                      opset_version=17, dynamo=False)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
