"""A synthetic class's own code: learners who wrote ``losses.py`` their own way, and a copy disguised.

The reference solutions, the mutant zoo (``tests/mutants.py``) and the legal corpus (``tests/legal.py``)
all share the reference code; a class report's similarity must find, among them, the one pair that
was copied (renamed variables, functions reordered) and flag no pair that was written apart. The two
own implementations below were written independently of each other and of the reference.
"""

from __future__ import annotations

import ast
import io
import keyword
import tokenize

from mutants import SOLUTIONS, splice

# A learner who writes loops and explicit names (the one whose work is copied).
OWN_A = {
    "log_softmax": """
def log_softmax(logits, dim=-1):
    # </pre><script>document.title = "pwned"</script><img src=x onerror="document.title = 'pwned'">
    biggest = torch.max(logits, dim=dim, keepdim=True).values.detach()
    centred = logits - biggest
    normaliser = torch.log(torch.sum(torch.exp(centred), dim=dim, keepdim=True))
    result = centred - normaliser
    return result
""",
    "nll_loss": """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    allowed = ["none", "sum", "mean"]
    if reduction not in allowed:
        raise ValueError("unknown reduction " + str(reduction))
    n_classes = log_probs.shape[1]
    if weight is None:
        weight = torch.ones(n_classes, dtype=log_probs.dtype, device=log_probs.device)
    target = target.to(log_probs.device)
    valid = target.ne(ignore_index)
    clean = target.clone()
    clean[~valid] = 0
    chosen = torch.gather(log_probs, 1, clean.view(-1, 1)).view(-1)
    per_class = weight.index_select(0, clean) * valid.to(log_probs.dtype)
    per_item = -(per_class * chosen) * valid.to(log_probs.dtype)
    if reduction == "none":
        return per_item
    total = per_item.sum()
    if reduction == "sum":
        return total
    denominator = per_class.sum()
    return total / denominator
""",
    "cross_entropy": """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    log_p = log_softmax(logits, dim=1)
    answer = nll_loss(log_p, target, weight=weight, reduction=reduction, ignore_index=ignore_index)
    return answer
""",
}

# A learner who thinks in masks and one-hot vectors (written apart from A).
OWN_C = {
    "log_softmax": """
def log_softmax(logits, dim=-1):
    m = logits.detach().amax(dim, keepdim=True)
    lse = m + (logits - m).exp().sum(dim, keepdim=True).log()
    return logits - lse
""",
    "nll_loss": """
def nll_loss(log_probs, target, weight=None, reduction="mean", ignore_index=-100):
    if reduction not in {"none", "mean", "sum"}:
        raise ValueError(f"bad reduction: {reduction}")
    c = log_probs.size(1)
    w = log_probs.new_ones(c) if weight is None else weight
    t = target.to(log_probs.device)
    keep = (t != ignore_index)
    t0 = t.masked_fill(~keep, 0)
    onehot = torch.nn.functional.one_hot(t0, c).to(log_probs.dtype)
    if log_probs.dim() > 2:
        onehot = onehot.movedim(-1, 1)
    wt = (onehot * w.view(1, -1, *([1] * (log_probs.dim() - 2)))).sum(1) * keep
    out = -(onehot * log_probs).sum(1) * wt
    return {"none": lambda: out, "sum": lambda: out.sum(), "mean": lambda: out.sum() / wt.sum()}[reduction]()
""",
    "cross_entropy": """
def cross_entropy(logits, target, weight=None, reduction="mean", ignore_index=-100):
    return nll_loss(log_softmax(logits, 1), target, weight, reduction, ignore_index)
""",
}


def own_module(bodies: dict[str, str]) -> str:
    """The reference ``losses.py`` (its docstrings: the stub) with each function replaced by ``bodies``."""
    source = (SOLUTIONS / "losses.py").read_text(encoding="utf-8")
    for name, body in bodies.items():
        source = splice(source, name, body)
    return source


def disguise(source: str) -> str:
    """``source`` as a copier hands it in: every local name renamed and the functions in reverse order."""
    tree = ast.parse(source)
    defined = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    defined |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    defined -= {"torch", "np", "F", "nn"}
    names = {name: f"v{i}_{name[::-1]}" for i, name in enumerate(sorted(defined))}
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in names and not keyword.iskeyword(tok.string):
            tok = tok._replace(string=names[tok.string])
        tokens.append(tok)
    renamed = tokenize.untokenize(tokens)
    # keyword arguments at call sites were renamed with the parameters they name: still valid Python
    tree = ast.parse(renamed)
    lines = renamed.splitlines(keepends=True)
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    head = "".join(lines[: defs[0].lineno - 1])
    chunks = ["".join(lines[d.lineno - 1 : d.end_lineno]) for d in defs]
    return head + "\n\n".join(reversed(chunks)) + "\n"
