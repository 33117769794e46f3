"""The L1 family: ``L1Loss`` and its gradient op ``L1LossGrad`` (docs/SPEC.md)."""
from __future__ import annotations

from ..rules import OpDef

L1_LOSS_GRAD = OpDef(
    name="L1LossGrad", native_id=1, inputs=("grads", "predict", "label"), output="y",
    kind="grad", scale_numerator=1.0,
    doc="y = grads * sign(predict - label) * s, s = 1/N for mean and 1 otherwise.",
)
L1_LOSS = OpDef(
    name="L1Loss", native_id=3, inputs=("predict", "label"), output="loss", kind="loss",
    doc="e = |predict - label| over B; none: e, mean: mean(e), sum: sum(e).",
)
OPS = (L1_LOSS_GRAD, L1_LOSS)

#: the user-facing extras of the MindSpore face (see framework.families)
FACES = {
    L1_LOSS_GRAD.name: {"backward": ("grad_output", "input", "target")},
    L1_LOSS.name: {"cell": ("L1Loss", (("reduction", "mean"),))},
}


# -- float64 reference ------------------------------------------------------------

def l1_loss_grad(xp, grads, predict, label, scale):
    """``grads * sign(predict - label) * s`` (``sign(NaN)`` is NaN)."""
    return grads * xp.sign(predict - label) * scale


def l1_loss(xp, predict, label):
    """``|predict - label|``."""
    return xp.abs(predict - label)


REFERENCE = {L1_LOSS_GRAD.name: l1_loss_grad, L1_LOSS.name: l1_loss}


# -- gradients ----------------------------------------------------------------------

def l1_loss_bprop(b, predict, label, g, attrs):
    """d L1Loss(p, l) / d(p, l)."""
    t = b.call(L1_LOSS_GRAD.name, attrs, g, predict, label)
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label)


def l1_loss_grad_bprop(b, grads, predict, label, g, attrs):
    """d L1LossGrad(gr, p, l) / d(gr, p, l): sign is piecewise constant, so 0 for p and l."""
    return (b.reduce_to(b.call(L1_LOSS_GRAD.name, attrs, g, predict, label), grads),
            b.zeros_like(predict), b.zeros_like(label))


BPROPS = {L1_LOSS.name: l1_loss_bprop, L1_LOSS_GRAD.name: l1_loss_grad_bprop}


# -- ONNX function bodies -------------------------------------------------------------

def l1_loss_grad_body(b, x):
    """``grads * sign(predict - label)``."""
    return b.add("Mul", [x[0], b.sign(b.add("Sub", [x[1], x[2]], "diff"))], "t")


def l1_loss_body(b, x):
    """``|predict - label|``."""
    return b.add("Abs", [b.add("Sub", [x[0], x[1]], "diff")], "abs")


ONNX_BODIES = {L1_LOSS_GRAD.name: l1_loss_grad_body, L1_LOSS.name: l1_loss_body}
