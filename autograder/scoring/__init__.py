"""The trusted side: starting the sandbox, PyTorch's references, judging and points."""
