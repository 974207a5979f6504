"""05's model under tf.distribute: MirroredStrategy over two CPU devices trains to the same weights
as one device (what docs/scale.md says to use on a host with several GPUs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Logical devices must be set before TensorFlow starts, so this runs in a process of its own.
SCRIPT = """
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from utils.models.sequence import build_sequence_model

rng = np.random.default_rng(0)
n, steps = 64, 6
x = {"event_type": rng.integers(1, 5, (n, steps)).astype("int32"),
     "category": rng.integers(0, 9, (n, steps)).astype("int32"),
     "brand": rng.integers(0, 7, (n, steps)).astype("int32"),
     "numeric": rng.normal(size=(n, steps, 6)).astype("float32")}
y = np.repeat(np.eye(2, dtype="float32")[rng.integers(0, 2, n)][:, None], steps, 1)
w = np.full((n, steps), 1 / n, "float32")

def weights_after(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(1)
        model = build_sequence_model("lstm", {"event_type": 5, "category": 9, "brand": 7}, 6, 0, units=8)
    model.fit(tf.data.Dataset.from_tensor_slices((x, y, w)).batch(32), epochs=2, verbose=0)
    return model.get_weights()

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
one = weights_after(tf.distribute.get_strategy())
both = weights_after(mirrored)
print(json.dumps({"replicas": mirrored.num_replicas_in_sync,
                  "max_difference": max(float(np.abs(a - b).max()) for a, b in zip(both, one))}))
"""


@pytest.mark.slow
def test_mirrored_training_on_two_devices_matches_one_device():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["max_difference"] < 1e-5  # float32 sums in another order
