"""The MSE family: ``MseLoss`` and its gradient op ``MseLossGrad`` (docs/SPEC.md)."""
from __future__ import annotations

from ..rules import OpDef

MSE_LOSS_GRAD = OpDef(
    name="MseLossGrad", native_id=0, inputs=("predict", "label", "dout"), output="y",
    kind="grad", scale_numerator=2.0,
    doc="y = dout * (predict - label) * s, s = 2/N for mean and 2 for none and sum.",
)
MSE_LOSS = OpDef(
    name="MseLoss", native_id=2, inputs=("predict", "label"), output="loss", kind="loss",
    doc="e = (predict - label)^2 over B; none: e, mean: mean(e), sum: sum(e).",
)
OPS = (MSE_LOSS_GRAD, MSE_LOSS)

#: the user-facing extras of the MindSpore face (see framework.families)
FACES = {
    MSE_LOSS_GRAD.name: {"backward": ("input", "target", "grad_output")},
    MSE_LOSS.name: {"cell": ("MSELoss", (("reduction", "mean"),))},
}


# -- float64 reference ------------------------------------------------------------

def mse_loss_grad(xp, predict, label, dout, scale):
    """``dout * (predict - label) * s``."""
    return dout * (predict - label) * scale


def mse_loss(xp, predict, label):
    """``(predict - label)^2``."""
    d = predict - label
    return d * d


REFERENCE = {MSE_LOSS_GRAD.name: mse_loss_grad, MSE_LOSS.name: mse_loss}


# -- gradients ----------------------------------------------------------------------
# The term ``g * d * s`` of MseLossGrad's gradient is ``MseLossGrad(g, 0, d)``
# (``d * (g - 0) * s``): the same scale over the same broadcast shape, computed by
# the op itself, so no binding restates the scale rule and dynamic shapes need no
# host-side element count.

def mse_loss_bprop(b, predict, label, g, attrs):
    """d MseLoss(p, l) / d(p, l), given the incoming gradient ``g``."""
    t = b.call(MSE_LOSS_GRAD.name, attrs, predict, label, g)
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label)


def mse_loss_grad_bprop(b, predict, label, dout, g, attrs):
    """d MseLossGrad(p, l, d) / d(p, l, d): ``g*d*s``, ``-g*d*s``, ``MseLossGrad(p, l, g)``."""
    gds = b.call(MSE_LOSS_GRAD.name, attrs, g, b.scalar_zero(g), dout)  # = g * d * s
    return (b.reduce_to(gds, predict), b.neg_reduce_to(gds, label),
            b.reduce_to(b.call(MSE_LOSS_GRAD.name, attrs, predict, label, g), dout))


BPROPS = {MSE_LOSS.name: mse_loss_bprop, MSE_LOSS_GRAD.name: mse_loss_grad_bprop}


# -- ONNX function bodies -------------------------------------------------------------

def mse_loss_grad_body(b, x):
    """``dout * (predict - label)``."""
    return b.add("Mul", [x[2], b.add("Sub", [x[0], x[1]], "diff")], "t")


def mse_loss_body(b, x):
    """``(predict - label)^2`` as ``diff * diff``."""
    diff = b.add("Sub", [x[0], x[1]], "diff")
    return b.add("Mul", [diff, diff], "sq")


ONNX_BODIES = {MSE_LOSS_GRAD.name: mse_loss_grad_body, MSE_LOSS.name: mse_loss_body}
