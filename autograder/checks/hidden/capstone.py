"""Hidden checks of capstone.py: DigitNet with its defaults, one channel, wide, a single image and many
digits; train_epoch with the penalty on every step, batches of one, a batch larger than the data, a
zero learning rate and in float32; accuracy when nothing or everything is right, and on one image."""

from autograder.checks.public.capstone import (
    accuracy_case,
    digitnet_case,
    f32,
    f64,
    init_case,
    one_batch_per_call,
    one_epoch,
    steps_case,
)

CHECKS = [
    init_case(()),
    init_case((16, 5)),
    digitnet_case((), f64, 2, grad=True),
    digitnet_case((1,), f64, 4, grad=True),
    digitnet_case((2, 2), f64, 1, grad=True),
    digitnet_case((3, 4), f64, 1, images=True),
    digitnet_case((16,), f32, 64, images=True),
    steps_case(one_batch_per_call(8, 0.4, {"l2": 0.05, "batch_size": 8}, count=4), f64),
    steps_case(one_epoch(5, 0.1, {"l2": 0.02, "batch_size": 1}), f64),
    steps_case(one_epoch(20, 0.3, {"batch_size": 64}), f64),
    steps_case(one_epoch(33, 0.0, {"l2": 0.1, "batch_size": 16}), f64),
    steps_case(one_epoch(50, 0.5, {"l2": 0.001, "batch_size": 16}), f32),
    accuracy_case(30, 0, f32),
    accuracy_case(1, 1, f64),
    accuracy_case(364, 301, f32),
]
