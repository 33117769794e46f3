"""The op families: one module per family (a loss and its gradient op), everything Python knows about them.

A family module declares, and :mod:`framework.registry` collects and checks:

``OPS``
    its :class:`framework.rules.OpDef` declarations (inputs in CANN order, kind,
    scale numerator, declared attributes, dtype rule), standard library only;
``REFERENCE``
    op name -> the float64 formula of docs/SPEC.md over an array namespace ``xp``
    (NumPy for :mod:`framework.reference`, ``mindspore.ops`` where a face composes
    a loss from built-ins): ``f(xp, *inputs, **attrs)`` is the elementwise value of
    a loss, ``f(xp, *inputs, scale, **attrs)`` the value of a grad op;
``BPROPS``
    op name -> ``bprop(b, *inputs, g, attrs)``: the gradients with respect to
    every input, over a :class:`framework.gradients.GradBackend` ``b``; ``attrs``
    are the op's canonical attribute values (:attr:`framework.rules.Plan.attrs`,
    ``(("reduction", "mean"), ...)``), passed on unchanged to the ops the formula
    calls (the ops of a family declare the same attributes);
``ONNX_BODIES``
    op name -> ``body(b, x, **attrs)``: the standard-ONNX nodes of the elementwise
    value (before the scale of a grad op, before the reduction of a loss), built
    with the function-body builder ``b`` of :mod:`onnx_ops.functions` over the
    input value names ``x`` (already in the compute type).

``FACES`` (optional)
    op name -> the user-facing extras of the MindSpore face (:mod:`ms_ops`):
    ``{"backward": names}`` for a grad op gives the aclnn/PyTorch names of its
    inputs, in the op's order, for a ``<op>_backward(grad_output, input, target,
    ...)`` function (the aclnn order); ``{"cell": (class name, parameters)}`` for
    a loss gives the drop-in ``mindspore.nn`` Cell: its class name and its
    ``(attribute, default)`` parameters in that Cell's order.

``**attrs`` are the declared attributes other than ``reduction``, canonical. A
module here is a family because it is here: the registry imports every module of
this package. NumPy is imported inside the formulas, never at module level (the
build imports the declarations without it).
"""
