"""Padding and convolution by hand.

A convolution slides a small kernel over the input and takes a weighted sum of
each neighbourhood; the same weights are used at every position. (Like PyTorch
this is really cross-correlation: the kernel is not flipped.) Zero padding adds
"ghost pixels" so that border positions have neighbours too. You write padding,
the output-size formula, 1-D and 2-D convolution, and two hand-made kernels.
"""

import torch


def pad2d(x, padding):
    """Surround the last two dimensions (H, W) with zeros.

        out[..., i + ph, j + pw] = x[..., i, j],   0 everywhere else

    Args:
        x: ``(N, C, H, W)`` tensor.
        padding: int p (same on all sides) or pair ``(ph, pw)``: ph zero rows
            above and below, pw zero columns left and right.

    Returns:
        ``(N, C, H + 2 ph, W + 2 pw)`` tensor, dtype and device of x.
        Gradients flow back to x.

    Example:
        >>> pad2d(torch.ones(1, 1, 1, 2), 1)
        tensor([[[[0., 0., 0., 0.],
                  [0., 1., 1., 0.],
                  [0., 0., 0., 0.]]]])

    Forbidden: ``F.pad`` / ``nn.ZeroPad2d`` (ATen ``aten.constant_pad_nd``,
    ``aten.pad``) and the reflection/replication pads.

    Tip: allocate the zeros with ``x.new_zeros(shape)`` (same dtype and
    device as x) and copy x into the centre with slice assignment,
    ``out[..., ph:ph + H, pw:pw + W] = x``; autograd tracks the copy.
    """
    ### BEGIN SOLUTION
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    out = x.new_zeros((*x.shape[:-2], height + 2 * ph, width + 2 * pw))
    out[..., ph : ph + height, pw : pw + width] = x
    return out
    ### END SOLUTION


def conv_output_size(size, kernel_size, padding=0, stride=1):
    """Number of positions a kernel takes along one axis.

        out = (size + 2 * padding - kernel_size) // stride + 1

    The kernel starts flush with the (padded) start and moves ``stride`` steps
    at a time while it still fits entirely; a leftover that is too short for
    one more step is dropped (floor).

    Args:
        size: input length along the axis.
        kernel_size: kernel length (>= 1).
        padding: zeros added at each end (>= 0).
        stride: step between positions (>= 1).

    Returns:
        A Python ``int``. Raises ``ValueError`` when the kernel is longer than
        the padded input.

    Example:
        >>> conv_output_size(32, 3)             # "valid": shrinks by k - 1
        30
        >>> conv_output_size(32, 3, padding=1)  # "same" for a 3-wide kernel
        32
        >>> conv_output_size(7, 3, stride=2)    # positions 0, 2, 4
        3

    Tip: check the fit before dividing; ``//`` rounds toward minus infinity.
    """
    ### BEGIN SOLUTION
    padded = size + 2 * padding
    if kernel_size < 1 or stride < 1 or padding < 0:
        raise ValueError("kernel_size and stride must be >= 1 and padding >= 0")
    if kernel_size > padded:
        raise ValueError(
            f"kernel of size {kernel_size} does not fit an input of size "
            f"{size} padded by {padding}"
        )
    return (padded - kernel_size) // stride + 1
    ### END SOLUTION


def conv1d(x, weight, bias=None, stride=1, padding=0):
    """1-D convolution (cross-correlation), as ``F.conv1d``.

        out[n, o, t] = bias[o] + sum_c sum_k weight[o, c, k] * xp[n, c, t * stride + k]

    where xp is x with ``padding`` zeros at both ends of the last axis.

    Shapes:
        x: ``(N, C_in, L)``; weight: ``(C_out, C_in, K)``; bias: ``(C_out,)``
        or None; stride, padding: ints.
        returns ``(N, C_out, L_out)``, L_out = ``conv_output_size(L, K,
        padding, stride)``.

    Example:
        >>> x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
        >>> conv1d(x, torch.tensor([[[-1.0, 1.0]]]))  # differences of neighbours
        tensor([[[1., 1., 1.]]])

    Forbidden: ``F.conv1d``, ``F.conv2d``, ``Tensor.unfold``/``F.unfold``
    and every ATen convolution or im2col op: build the sliding window
    yourself.

    Tip: loop over the K kernel offsets, not over output positions. For offset
    k the inputs seen by all output positions are one strided slice,
    ``xp[:, :, k : k + stride * (L_out - 1) + 1 : stride]`` of shape
    ``(N, C_in, L_out)``; contract it with ``weight[:, :, k]`` (``(C_out,
    C_in)``) using ``torch.einsum`` and add up the K results.
    """
    ### BEGIN SOLUTION
    length = x.shape[-1]
    kernel = weight.shape[-1]
    out_len = conv_output_size(length, kernel, padding, stride)
    padded = x.new_zeros((*x.shape[:-1], length + 2 * padding))
    padded[..., padding : padding + length] = x
    span = stride * (out_len - 1) + 1
    out = 0
    for k in range(kernel):
        window = padded[..., k : k + span : stride]
        out = out + torch.einsum("ncl,oc->nol", window, weight[:, :, k])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1)
    return out
    ### END SOLUTION


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation), as ``F.conv2d``.

        out[n, o, i, j] = bias[o] + sum_c sum_{a, b}
                          weight[o, c, a, b] * xp[n, c, i * sh + a, j * sw + b]

    where xp = ``pad2d(x, padding)``.

    Shapes:
        x: ``(N, C_in, H, W)``; weight: ``(C_out, C_in, kH, kW)``;
        bias: ``(C_out,)`` or None; stride, padding: int or ``(h, w)`` pair.
        returns ``(N, C_out, H_out, W_out)`` with H_out =
        ``conv_output_size(H, kH, ph, sh)`` and W_out likewise.

    Example:
        >>> x = torch.arange(9.0).reshape(1, 1, 3, 3)
        >>> conv2d(x, torch.ones(1, 1, 2, 2))  # sums of 2x2 blocks
        tensor([[[[ 8., 12.],
                  [20., 24.]]]])

    Forbidden: as ``conv1d`` (no ``F.conv2d``, no ``unfold``, no ATen
    convolution or im2col op) and, via ``pad2d``, no ``F.pad``.

    Tip: as in ``conv1d``, loop over the kH * kW kernel offsets (a, b); each
    gives one strided 2-D slice of the padded input of shape ``(N, C_in,
    H_out, W_out)``, contracted with ``weight[:, :, a, b]`` by
    ``torch.einsum("nchw,oc->nohw", ...)``. Nine small matrix products for a
    3x3 kernel, no Python loop over pixels.
    """
    ### BEGIN SOLUTION
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    ph, pw = (padding, padding) if isinstance(padding, int) else tuple(padding)
    height, width = x.shape[-2:]
    k_h, k_w = weight.shape[-2:]
    out_h = conv_output_size(height, k_h, ph, sh)
    out_w = conv_output_size(width, k_w, pw, sw)
    padded = pad2d(x, (ph, pw))
    span_h = sh * (out_h - 1) + 1
    span_w = sw * (out_w - 1) + 1
    out = 0
    for a in range(k_h):
        for b in range(k_w):
            window = padded[..., a : a + span_h : sh, b : b + span_w : sw]
            out = out + torch.einsum("nchw,oc->nohw", window, weight[:, :, a, b])
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out
    ### END SOLUTION


def edge_kernel():
    """A 3x3 kernel that detects vertical edges (dark on the left, bright on the right).

    With ``conv2d(image, edge_kernel())`` (no padding, no bias) the output must be

    - 0 everywhere on a constant image,
    - 0 everywhere on an image that only changes from top to bottom,
    - > 0 on every window that straddles a boundary with dark pixels on its
      left and bright pixels on its right, and 0 on windows that do not.

    Returns:
        ``(1, 1, 3, 3)`` float32 tensor (C_out = C_in = 1).

    Example:
        >>> step = torch.tensor([[0.0, 0.0, 1.0, 1.0]] * 3).reshape(1, 1, 3, 4)
        >>> conv2d(step, edge_kernel()).squeeze()
        tensor([3., 3.])

    Tip: the output is a weighted sum of the window. Make the weights of each
    row add up to 0 (so anything constant along a row vanishes) and give the
    right-hand column positive, the left-hand column negative weights.
    """
    ### BEGIN SOLUTION
    row = [-1.0, 0.0, 1.0]
    return torch.tensor([row, row, row], dtype=torch.float32).reshape(1, 1, 3, 3)
    ### END SOLUTION


def blur_kernel(size=3):
    """A ``size`` x ``size`` box-blur kernel: every output is the window's mean.

        kernel[0, 0, a, b] = 1 / size^2   for all a, b

    The entries are equal and sum to 1, so a constant image is unchanged.

    Args:
        size: odd kernel side, >= 1.

    Returns:
        ``(1, 1, size, size)`` float32 tensor.

    Example:
        >>> blur_kernel(3).sum()
        tensor(1.)
        >>> blur_kernel(1)
        tensor([[[[1.]]]])

    Tip: ``torch.full(shape, value, dtype=torch.float32)``.
    """
    ### BEGIN SOLUTION
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return torch.full((1, 1, size, size), 1.0 / (size * size), dtype=torch.float32)
    ### END SOLUTION
