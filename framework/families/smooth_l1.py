"""The SmoothL1 family: ``SmoothL1Loss`` and its gradient op ``SmoothL1LossGrad`` (docs/SPEC.md).

PyTorch's ``smooth_l1_loss``: with ``d = predict - label``, the elementwise loss is
``0.5 * d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 * beta`` (``beta == 0``
is L1), and the gradient op is ``dout * g(d) * s`` with ``g(d) = d / beta`` inside,
``sign(d)`` outside: what ops-nn's ``SmoothL1LossGradV2`` and
``aclnnSmoothL1LossBackward`` compute.
"""
from __future__ import annotations

from ..rules import REDUCTION, OpDef, float_attribute

#: the one attribute beyond ``reduction``; ``beta < 0`` and NaN are ValueErrors on every face
BETA = float_attribute("beta", 1.0, minimum=0.0,
                       doc="the threshold between the quadratic and the linear part (>= 0; 0 means L1)")

SMOOTH_L1_LOSS_GRAD = OpDef(
    name="SmoothL1LossGrad", native_id=4, inputs=("predict", "label", "dout"), output="y",
    kind="grad", scale_numerator=1.0, attributes=(REDUCTION, BETA),
    doc="y = dout * g(d) * s, d = predict - label, g(d) = d/beta where |d| < beta, else sign(d); "
        "s = 1/N for mean and 1 otherwise.",
)
SMOOTH_L1_LOSS = OpDef(
    name="SmoothL1Loss", native_id=5, inputs=("predict", "label"), output="loss", kind="loss",
    attributes=(REDUCTION, BETA),
    doc="e = 0.5*d^2/beta where |d| < beta, else |d| - 0.5*beta (d = predict - label) over B; "
        "none: e, mean: mean(e), sum: sum(e).",
)
OPS = (SMOOTH_L1_LOSS_GRAD, SMOOTH_L1_LOSS)

#: the user-facing extras of the MindSpore face (see framework.families): the aclnn names of the
#: grad op's inputs, and the drop-in Cell of the loss with its parameters in mindspore.nn's order
FACES = {
    SMOOTH_L1_LOSS_GRAD.name: {"backward": ("input", "target", "grad_output")},
    SMOOTH_L1_LOSS.name: {"cell": ("SmoothL1Loss", (("beta", 1.0), ("reduction", "none")))},
}


# -- float64 reference (NumPy; ``mindspore.ops`` for the composed forward on Ascend) ----

def smooth_l1_loss_grad(xp, predict, label, dout, scale, beta):
    """``dout * g(d) * s`` (``sign(NaN)`` is NaN)."""
    d = predict - label
    g = xp.sign(d) if beta == 0 else xp.where(xp.abs(d) < beta, d / beta, xp.sign(d))
    return dout * g * scale


def smooth_l1_loss(xp, predict, label, beta):
    """``0.5 * d^2 / beta`` inside ``|d| < beta``, ``|d| - 0.5 * beta`` outside."""
    d = predict - label
    a = xp.abs(d)
    return a if beta == 0 else xp.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)


REFERENCE = {SMOOTH_L1_LOSS_GRAD.name: smooth_l1_loss_grad, SMOOTH_L1_LOSS.name: smooth_l1_loss}


# -- gradients ----------------------------------------------------------------------

def _with(attrs, **changes):
    return tuple((k, changes.get(k, v)) for k, v in attrs)


def _scaled(b, attrs, w):
    """``w * s``, the op's own scale over ``w``'s shape: SmoothL1LossGrad(1, 0, w) with
    ``beta = 0`` is ``w * sign(1) * s``, so no binding restates the scale rule."""
    return b.call(SMOOTH_L1_LOSS_GRAD.name, _with(attrs, beta=0.0), b.scalar_one(w), b.scalar_zero(w), w)


def _curvature(xp, predict, label, dout, g, beta):
    """``g * dout * g'(d)``: ``g * dout / beta`` inside ``|d| < beta``, 0 outside. The mask is
    piecewise constant in ``d``: its derivative is 0, which ``stop_gradient`` says (a higher
    order then differentiates only ``g * dout``)."""
    d = xp.stop_gradient(predict - label)
    return xp.where(xp.abs(d) < beta, g * dout / beta, 0.0)


def smooth_l1_loss_bprop(b, predict, label, g, attrs):
    """d SmoothL1Loss(p, l) / d(p, l)."""
    t = b.call(SMOOTH_L1_LOSS_GRAD.name, attrs, predict, label, g)
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label)


def smooth_l1_loss_grad_bprop(b, predict, label, dout, g, attrs):
    """d SmoothL1LossGrad(p, l, d) / d(p, l, d): ``±g*dout*s/beta`` inside ``|d| < beta`` (0 outside,
    and everywhere for ``beta == 0``), and ``SmoothL1LossGrad(p, l, g)`` for ``dout``."""
    beta = dict(attrs)[BETA.name]
    ddout = b.reduce_to(b.call(SMOOTH_L1_LOSS_GRAD.name, attrs, predict, label, g), dout)
    if beta == 0:
        return b.zeros_like(predict), b.zeros_like(label), ddout
    t = _scaled(b, attrs, b.pointwise(_curvature, (predict, label, dout, g), (beta,)))
    return b.reduce_to(t, predict), b.neg_reduce_to(t, label), ddout


BPROPS = {SMOOTH_L1_LOSS.name: smooth_l1_loss_bprop, SMOOTH_L1_LOSS_GRAD.name: smooth_l1_loss_grad_bprop}


# -- ONNX function bodies -------------------------------------------------------------

def smooth_l1_loss_grad_body(b, x, beta):
    """``dout * Where(|d| < beta, d / beta, sign(d))``."""
    d = b.add("Sub", [x[0], x[1]], "diff")
    sign = b.sign(d)
    if beta == 0:
        return b.add("Mul", [x[2], sign], "t")
    inside = b.add("Less", [b.add("Abs", [d], "abs"), b.const_like(beta, "beta")], "inside")
    g = b.add("Where", [inside, b.add("Div", [d, b.const_like(beta, "beta")], "linear"), sign], "g")
    return b.add("Mul", [x[2], g], "t")


def smooth_l1_loss_body(b, x, beta):
    """``Where(|d| < beta, 0.5 * d * d / beta, |d| - 0.5 * beta)``."""
    d = b.add("Sub", [x[0], x[1]], "diff")
    a = b.add("Abs", [d], "abs")
    if beta == 0:
        return a
    quad = b.add("Div", [b.add("Mul", [b.add("Mul", [d, d], "sq"), b.const_like(0.5, "half")], "half_sq"),
                         b.const_like(beta, "beta")], "quad")
    lin = b.add("Sub", [a, b.const_like(0.5 * beta, "half_beta")], "lin")
    return b.add("Where", [b.add("Less", [a, b.const_like(beta, "beta")], "inside"), quad, lin], "e")


ONNX_BODIES = {SMOOTH_L1_LOSS_GRAD.name: smooth_l1_loss_grad_body, SMOOTH_L1_LOSS.name: smooth_l1_loss_body}
