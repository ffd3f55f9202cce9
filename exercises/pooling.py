"""Max-pooling by hand.

Max-pooling slides a window over each channel of an image and keeps only the
largest value in each window. With a stride equal to the window size it
shrinks the image (2x2 windows halve height and width) while keeping the
strongest responses, which lets later layers see larger regions cheaply.
"""

import torch


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """2-D max-pooling, as ``F.max_pool2d``.

        out[n, c, i, j] = max over 0 <= a < kH, 0 <= b < kW of
                          xp[n, c, i * sH + a, j * sW + b]

    where xp is x padded with ``-inf`` (padding never wins a max).

    Args:
        x: ``(N, C, H, W)`` tensor.
        kernel_size: int or ``(kH, kW)``.
        stride: int, ``(sH, sW)`` or None (None means ``kernel_size``).
        padding: int or ``(pH, pW)``; at most half the kernel on each axis
            (``2 * pH <= kH`` and ``2 * pW <= kW``), else ``ValueError``.

    Returns:
        ``(N, C, H_out, W_out)`` with H_out = ``(H + 2 pH - kH) // sH + 1``
        (floor; a leftover strip that cannot hold a window is dropped), W_out
        likewise. Same dtype and device as x; gradients flow to the maxima.

    Example:
        >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
        >>> max_pool2d(x, 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])

    Forbidden: ``F.max_pool2d`` / ``nn.MaxPool2d`` and the adaptive and
    fractional variants (ATen ``aten.max_pool2d``,
    ``aten.max_pool2d_with_indices``, ...).

    Tip: build the padded input with ``torch.full(..., float("-inf"),
    dtype=x.dtype, device=x.device)`` and copy x into its centre. Then, for
    each of the kH * kW offsets (a, b), the values that offset sees in every
    window form one strided slice ``xp[..., a : a + sH * (H_out - 1) + 1 : sH,
    b : ...]``; ``torch.stack`` them and take ``amax`` over the new dimension.
    """
    # TODO: your code here
    raise NotImplementedError
