"""ctypes binding of the Ascend CPU simulation library (a test helper, not a test module).

``_lossgrad_ascend_sim.so`` (test-only, never installed: built by ``make test`` with
CMake's ``LOSSGRAD_ASCEND_SIM`` option into ``build/ascend-sim/``, or the path in
``$LOSSGRAD_ASCEND_SIM_LIB``) holds the op package's CANN-free tiling planner, the real Ascend C kernel
sources compiled against a host stand-in of the Ascend C API, the ONNX plugin's
attribute parser and the op table. The ``test_ascend_*`` modules import
:func:`sim` from here. The ctypes mirror of the tiling struct is built from the
library's own field table, so it cannot drift from the C++ X-macro list.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lossgrad_ops.framework import definitions as _defs
from lossgrad_ops.framework.arrays import dtype_name, np_dtype
from lossgrad_ops.framework.cpu import NativeLibraryError
from tests.helpers import ascend_sim_missing_message, ascend_sim_path

#: the grad ops of the Ascend package, in native-id order
OPS = tuple(op.name for op in _defs.OPS.values() if op.kind == "grad")
#: its loss ops, in native-id order
LOSS_OPS = tuple(op.name for op in _defs.OPS.values() if op.kind == "loss")
#: every op of the package; the position is the Ascend op id (grad ops first)
ALL_OPS = OPS + LOSS_OPS
MAX_ATTRS = 8  # the C API's attribute arrays


def attr_arrays(op: str, attrs: Optional[Dict[str, float]]):
    """(values, given) by declared index for the C API; None: every attribute at its default."""
    values, given = (ctypes.c_double * MAX_ATTRS)(), (ctypes.c_int32 * MAX_ATTRS)()
    names = [a.name for a in _defs.OPS[op].attributes]
    for name, value in (attrs or {}).items():
        i = names.index(name)  # a ValueError for an attribute the op does not declare
        values[i], given[i] = float(value), 1
    return values, given
DTYPES = ("float16", "bfloat16", "float32")
#: Atlas A2 (910B) vector core: 192 KB unified buffer; 40 or 48 AIV cores.
UB_A2 = 192 * 1024
CORES_A2 = 40

_CTYPE = {(0, 8): ctypes.c_uint64, (1, 8): ctypes.c_int64, (2, 4): ctypes.c_float}


@dataclass
class Plan:
    ok: bool
    message: str
    tiling: Dict[str, object]
    raw_tiling: ctypes.Structure
    block_dim: int
    workspace: int
    ub_needed: int
    scale: float
    out_shape: Tuple[int, ...]
    modes: Tuple[int, int, int]
    reduction: int


@dataclass
class Report:
    status: int
    message: str
    block_dim: int
    tile: int
    ub_needed: int
    ub_used: int
    workspace: int
    copy_in: int
    copy_out: int
    pad_in: int
    pad_out: int
    truncated: int
    partial_compares: int
    vector_ops: int
    barriers: int
    max_copy_bytes: int
    output_unaligned: int
    input_unaligned: int
    violations: int
    core_elems: List[int]
    scale: float
    modes: Tuple[int, int, int]


class Sim:
    """The simulation library with typed entry points."""

    def __init__(self) -> None:
        if not os.path.exists(ascend_sim_path()):
            raise NativeLibraryError(ascend_sim_missing_message())  # a skip under LOSSGRAD_ALLOW_MISSING_NATIVE=1
        lib = ctypes.CDLL(ascend_sim_path())
        lib.lgsim_abi_version.restype = ctypes.c_int
        assert lib.lgsim_abi_version() == 2, "stale simulation library: rebuild it"
        for fn in ("lgsim_sizeof_tiling", "lgsim_sizeof_plan_out", "lgsim_sizeof_run_args",
                   "lgsim_sizeof_run_report"):
            getattr(lib, fn).restype = ctypes.c_uint64
        lib.lgsim_tiling_field.restype = ctypes.c_int
        lib.lgsim_tiling_field.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)] + \
            [ctypes.POINTER(ctypes.c_uint64)] * 3 + [ctypes.POINTER(ctypes.c_int)]
        self.lib = lib
        self.fields = self._fields()
        self.Tiling = type("LossGradTilingPlain", (ctypes.Structure,), {"_fields_": [
            (name, _CTYPE[(kind, size)] * count if count > 1 else _CTYPE[(kind, size)])
            for name, _, size, count, kind in self.fields]})

        class PlanOut(ctypes.Structure):
            _fields_ = [("tiling", self.Tiling), ("blockDim", ctypes.c_uint64),
                        ("userWorkspaceBytes", ctypes.c_uint64), ("ubBytesNeeded", ctypes.c_uint64),
                        ("scale", ctypes.c_double), ("outDims", ctypes.c_int64 * 8), ("ok", ctypes.c_int32),
                        ("reduction", ctypes.c_int32), ("outRank", ctypes.c_int32), ("modes", ctypes.c_int32 * 3),
                        ("message", ctypes.c_char * 1024)]

        class RunArgs(ctypes.Structure):
            _fields_ = [("inputs", ctypes.c_void_p * 3), ("output", ctypes.c_void_p),
                        ("reduction", ctypes.c_char_p), ("coreNum", ctypes.c_uint64), ("ubBytes", ctypes.c_uint64),
                        ("dims", (ctypes.c_int64 * 8) * 3), ("ranks", ctypes.c_int32 * 3), ("op", ctypes.c_int32),
                        ("dtype", ctypes.c_int32), ("dry", ctypes.c_int32),
                        ("attrGiven", ctypes.c_int32 * MAX_ATTRS), ("attrValues", ctypes.c_double * MAX_ATTRS)]

        counters = ["blockDim", "tileLength", "ubBytesNeeded", "ubBytesUsedMax", "userWorkspaceBytes",
                    "dataCopyIn", "dataCopyOut", "dataCopyPadIn", "dataCopyPadOut", "truncatedCopies",
                    "partialCompares", "vectorOps", "barriers", "maxCopyBytes", "outputUnaligned32",
                    "inputUnaligned32", "violationCount"]

        class RunReport(ctypes.Structure):
            _fields_ = [(c, ctypes.c_uint64) for c in counters] + [
                ("coreOutputElems", ctypes.c_uint64 * 64), ("scale", ctypes.c_double), ("status", ctypes.c_int32),
                ("modes", ctypes.c_int32 * 3), ("message", ctypes.c_char * 4096)]

        self.PlanOut, self.RunArgs, self.RunReport = PlanOut, RunArgs, RunReport
        shape_args = [ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64)]
        lib.lgsim_plan.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p] + shape_args + \
            [ctypes.c_uint64, ctypes.c_uint64, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int32),
             ctypes.POINTER(PlanOut)]
        lib.lgsim_onnx_attributes.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32),
                                              ctypes.POINTER(ctypes.c_double), ctypes.c_char_p, ctypes.c_uint64]
        lib.lgsim_max_attrs.restype = ctypes.c_int
        lib.lgsim_run.argtypes = [ctypes.POINTER(RunArgs), ctypes.POINTER(RunReport)]
        lib.lgsim_core_slice.argtypes = [ctypes.POINTER(self.Tiling), ctypes.c_uint64,
                                         ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)]
        lib.lgsim_broadcast.argtypes = [ctypes.c_int] + shape_args + [
            ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p, ctypes.c_uint64]
        lib.lgsim_onnx_reduction.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64,
                                             ctypes.c_char_p, ctypes.c_uint64]
        lib.lgsim_onnx_attr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint64,
                                         ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)]
        lib.lgsim_defs_json.restype = ctypes.c_char_p
        lib.lgsim_constant.restype = ctypes.c_uint64
        lib.lgsim_constant.argtypes = [ctypes.c_char_p]
        lib.lgsim_ub_bytes_for_tile.restype = ctypes.c_uint64
        lib.lgsim_ub_bytes_for_tile.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64,
                                                ctypes.c_uint64]
        # op_host / plugin sources built against the CANN stand-ins (sim/cann_stubs)
        lib.lgsim_cann_ops_json.restype = ctypes.c_char_p
        lib.lgsim_plugin_json.restype = ctypes.c_char_p
        lib.lgsim_cann_dtype.argtypes = [ctypes.c_char_p]
        lib.lgsim_cann_tiling.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                          ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int32),
                                          ctypes.POINTER(ctypes.c_int32)] + shape_args + [
            ctypes.c_uint32, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint64,
            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint64)]
        lib.lgsim_cann_infer_shape.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int32),
                                               ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p,
                                               ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int64)]
        lib.lgsim_cann_infer_dtype.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int32),
                                               ctypes.POINTER(ctypes.c_int32)]
        lib.lgsim_plugin_parse.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64,
                                           ctypes.c_char_p, ctypes.c_uint64]
        assert lib.lgsim_max_attrs() <= MAX_ATTRS

    # -- introspection ---------------------------------------------------------
    def _fields(self) -> List[Tuple[str, int, int, int, int]]:
        out = []
        total = self.lib.lgsim_tiling_field(-1, None, None, None, None, None)
        for i in range(total):
            name, off, size, count, kind = (ctypes.c_char_p(), ctypes.c_uint64(), ctypes.c_uint64(),
                                            ctypes.c_uint64(), ctypes.c_int())
            self.lib.lgsim_tiling_field(i, ctypes.byref(name), ctypes.byref(off), ctypes.byref(size),
                                        ctypes.byref(count), ctypes.byref(kind))
            out.append((name.value.decode(), off.value, size.value, count.value, kind.value))
        return out

    def constant(self, name: str) -> int:
        return int(self.lib.lgsim_constant(name.encode()))

    def defs(self) -> dict:
        return json.loads(self.lib.lgsim_defs_json().decode())

    def ub_bytes_for_tile(self, op: str, dtype: str, queue_inputs: int, tile: int, reduce_cores: int = 0) -> int:
        """UB bytes of a tile; ``reduce_cores`` > 0: a loss op's "mean"/"sum" on that many cores."""
        return int(self.lib.lgsim_ub_bytes_for_tile(ALL_OPS.index(op), DTYPES.index(dtype), queue_inputs, tile,
                                                    reduce_cores))

    # -- helpers ---------------------------------------------------------------
    @staticmethod
    def _shape_arrays(shapes: Sequence[Sequence[int]]):
        ranks = (ctypes.c_int32 * 3)(*[len(s) for s in shapes])
        dims = (ctypes.c_int64 * 24)()
        for k, s in enumerate(shapes):
            for i, d in enumerate(list(s)[:8]):
                dims[k * 8 + i] = int(d)
        return ranks, dims

    def tiling_dict(self, raw: ctypes.Structure) -> Dict[str, object]:
        out = {}
        for name, _, _, count, _ in self.fields:
            v = getattr(raw, name)
            out[name] = list(v) if count > 1 else v
        return out

    # -- entry points ----------------------------------------------------------
    def plan(self, op: str, dtype: str, shapes: Sequence[Sequence[int]], reduction: Optional[str] = "mean",
             cores: int = CORES_A2, ub: int = UB_A2, attrs: Optional[Dict[str, float]] = None) -> Plan:
        """The host plan; ``attrs``: declared attributes beyond the reduction (absent: defaults)."""
        ranks, dims = self._shape_arrays(shapes)
        out = self.PlanOut()
        red = None if reduction is None else reduction.encode()
        values, given = attr_arrays(op, attrs)
        self.lib.lgsim_plan(ALL_OPS.index(op), DTYPES.index(dtype) if dtype in DTYPES else 7, red, ranks, dims,
                            cores, ub, values, given, ctypes.byref(out))
        return Plan(ok=bool(out.ok), message=out.message.decode(), tiling=self.tiling_dict(out.tiling),
                    raw_tiling=out.tiling, block_dim=out.blockDim, workspace=out.userWorkspaceBytes,
                    ub_needed=out.ubBytesNeeded, scale=out.scale, out_shape=tuple(out.outDims[:out.outRank]),
                    modes=tuple(out.modes), reduction=out.reduction)

    def core_slice(self, raw_tiling: ctypes.Structure, core: int) -> Tuple[int, int]:
        start, count = ctypes.c_uint64(), ctypes.c_uint64()
        self.lib.lgsim_core_slice(ctypes.byref(raw_tiling), core, ctypes.byref(start), ctypes.byref(count))
        return start.value, count.value

    def broadcast(self, op: str, shapes: Sequence[Sequence[int]]):
        """(True, shape) or (False, message): the InferShape rule of op_host."""
        ranks, dims = self._shape_arrays(shapes)
        out_rank, out_dims = ctypes.c_int32(), (ctypes.c_int64 * 8)()
        msg = ctypes.create_string_buffer(1024)
        ok = self.lib.lgsim_broadcast(ALL_OPS.index(op), ranks, dims, ctypes.byref(out_rank), out_dims, msg, 1024)
        return (True, tuple(out_dims[:out_rank.value])) if ok else (False, msg.value.decode())

    def onnx_reduction(self, op_type: str, attrs_json: str) -> Tuple[int, str, str]:
        red, err = ctypes.create_string_buffer(64), ctypes.create_string_buffer(1024)
        status = self.lib.lgsim_onnx_reduction(op_type.encode(), attrs_json.encode(), red, 64, err, 1024)
        return status, red.value.decode(), err.value.decode()

    def onnx_attributes(self, op: str, attrs_json: str):
        """The plugin's parse of the declared attributes beyond the reduction:
        (1, {name: value}) found, (0, {}) none given, (-1, message) an error."""
        values, given = (ctypes.c_double * MAX_ATTRS)(), (ctypes.c_int32 * MAX_ATTRS)()
        err = ctypes.create_string_buffer(1024)
        status = self.lib.lgsim_onnx_attributes(ALL_OPS.index(op), attrs_json.encode(), given, values, err, 1024)
        if status < 0:
            return status, err.value.decode()
        names = [a.name for a in _defs.OPS[op].attributes]
        return status, {names[i]: values[i] for i in range(len(names)) if given[i]}

    def onnx_attr(self, attrs_json: str, name: str, kind: str):
        """Attribute ``name`` read by the plugin's typed reads as ``kind`` (float, int, string, bool):
        (1, value), (0, None) absent, (-1, type name) another type, (-2, message) malformed JSON."""
        code = {"bool": 0, "float": 1, "int": 2, "string": 3}[kind]
        text, i, f = ctypes.create_string_buffer(1024), ctypes.c_int64(), ctypes.c_double()
        status = self.lib.lgsim_onnx_attr(attrs_json.encode(), name.encode(), code, text, 1024, ctypes.byref(i),
                                          ctypes.byref(f))
        if status != 1:
            return status, (text.value.decode() if status < 0 else None)
        value = {"bool": bool(i.value), "float": f.value, "int": i.value}.get(kind)
        return status, text.raw[:len(text.value)].decode("utf-8") if value is None else value

    # -- op_host and plugin code through the CANN stand-ins -----------------------
    def cann_ops(self) -> Dict[str, dict]:
        return {d["name"]: d for d in json.loads(self.lib.lgsim_cann_ops_json().decode())}

    def plugin_registrations(self) -> List[dict]:
        return json.loads(self.lib.lgsim_plugin_json().decode())

    def cann_dtype(self, name: str) -> int:
        return int(self.lib.lgsim_cann_dtype(name.encode()))

    def cann_tiling(self, op: str, shapes, dtypes, reduction: Optional[str] = "mean", has_attrs: bool = True,
                    cores: int = CORES_A2, ub: int = UB_A2, sys_workspace: int = 16 << 20,
                    attrs: Optional[Dict[str, float]] = None):
        """TilingFunc of op_host in a stand-in TilingContext: (status, tiling dict, block dim, workspace);
        ``attrs``: float attributes set in the context (the others unset)."""
        ranks, dims = self._shape_arrays(shapes)
        values, given = attr_arrays(op, attrs) if op in ALL_OPS else attr_arrays(OPS[0], None)
        codes = (ctypes.c_int32 * 3)(*[self.cann_dtype(d) for d in dtypes])
        buf = ctypes.create_string_buffer(4096)
        size, block, ws = ctypes.c_uint64(), ctypes.c_uint32(), ctypes.c_uint64()
        status = self.lib.lgsim_cann_tiling(op.encode(), None if reduction is None else reduction.encode(),
                                            int(has_attrs), values, given, codes, ranks, dims, cores, ub, sys_workspace, buf, 4096,
                                            ctypes.byref(size), ctypes.byref(block), ctypes.byref(ws))
        tiling = self.Tiling.from_buffer_copy(buf.raw[:ctypes.sizeof(self.Tiling)])
        return status, size.value, self.tiling_dict(tiling), block.value, ws.value

    def cann_infer_shape(self, op: str, shapes, reduction: Optional[str] = None):
        """The registered InferShape on ``shapes`` (one per input) with the reduction attribute
        (None: unset): (True, shape) or (False, None)."""
        ranks = (ctypes.c_int32 * 3)(*[len(s) for s in shapes])
        dims = (ctypes.c_int64 * 30)()
        for k, s in enumerate(shapes):
            for i, d in enumerate(list(s)[:10]):
                dims[k * 10 + i] = int(d)
        out_rank, out = ctypes.c_int32(), (ctypes.c_int64 * 10)()
        ok = self.lib.lgsim_cann_infer_shape(op.encode(), len(shapes), ranks, dims,
                                             None if reduction is None else reduction.encode(),
                                             ctypes.byref(out_rank), out)
        return (True, tuple(out[:out_rank.value])) if ok == 1 else (False, None)

    def cann_infer_dtype(self, op: str, dtypes):
        codes = (ctypes.c_int32 * 3)(*[self.cann_dtype(d) for d in dtypes])
        out = ctypes.c_int32()
        ok = self.lib.lgsim_cann_infer_dtype(op.encode(), len(dtypes), codes, ctypes.byref(out))
        return (True, out.value) if ok == 1 else (False, None)

    def plugin_parse(self, op: str, attribute_json: Optional[str], with_attrs: bool = False):
        """The registered parse function: (status, reduction set), or with ``with_attrs``
        (status, reduction, {name: {"type": .., "value": text}} of every attribute set)."""
        red, attrs = ctypes.create_string_buffer(64), ctypes.create_string_buffer(4096)
        status = self.lib.lgsim_plugin_parse(op.encode(), None if attribute_json is None else attribute_json.encode(),
                                             red, 64, attrs, 4096)
        if with_attrs:
            return status, red.value.decode(), json.loads(attrs.value.decode() or "{}")
        return status, red.value.decode()

    def run(self, op: str, inputs: Sequence, reduction: Optional[str] = "mean", cores: int = CORES_A2,
            ub: int = UB_A2, dtype: Optional[str] = None, dry: bool = False,
            attrs: Optional[Dict[str, float]] = None) -> Tuple[Optional[np.ndarray], Report]:
        """Run the kernel on simulated cores.

        ``inputs`` are the op's NumPy arrays (three for a grad op, two for a loss op) of one
        dtype (then the output is returned: a loss op's "mean"/"sum" as a 0-d array), or, with
        ``dry=True``, their shapes and ``dtype``: no data is moved, only the kernel's index and
        data-movement logic runs.
        """
        reduces = op in LOSS_OPS and (reduction or "mean") in ("mean", "sum")
        args = self.RunArgs()
        keep = []
        if dry:
            shapes = [tuple(s) for s in inputs]
            out = None
        else:
            arrays = [np.array(a, order="C", copy=True) for a in inputs]  # (ascontiguousarray makes 0-d 1-d)
            dtype = dtype or dtype_name(arrays[0].dtype)
            assert all(a.dtype == np_dtype(dtype) for a in arrays), "one dtype for all inputs"
            shapes = [a.shape for a in arrays]
            out_shape = () if reduces else np.broadcast_shapes(*shapes)
            out = np.empty(out_shape, dtype=np_dtype(dtype))
            for k, a in enumerate(arrays):
                args.inputs[k] = a.ctypes.data if a.size else None
            args.output = out.ctypes.data if out.size else None
            keep = arrays
        assert dtype in DTYPES
        for k, s in enumerate(shapes):
            args.ranks[k] = len(s)
            for i, d in enumerate(list(s)[:8]):
                args.dims[k][i] = int(d)
        args.reduction = None if reduction is None else reduction.encode()
        args.coreNum, args.ubBytes = cores, ub
        args.op, args.dtype, args.dry = ALL_OPS.index(op), DTYPES.index(dtype), int(dry)
        values, given = attr_arrays(op, attrs)
        args.attrValues, args.attrGiven = values, given
        rep = self.RunReport()
        self.lib.lgsim_run(ctypes.byref(args), ctypes.byref(rep))
        del keep
        report = Report(
            status=rep.status, message=rep.message.decode(), block_dim=rep.blockDim, tile=rep.tileLength,
            ub_needed=rep.ubBytesNeeded, ub_used=rep.ubBytesUsedMax, workspace=rep.userWorkspaceBytes,
            copy_in=rep.dataCopyIn, copy_out=rep.dataCopyOut, pad_in=rep.dataCopyPadIn, pad_out=rep.dataCopyPadOut,
            truncated=rep.truncatedCopies, partial_compares=rep.partialCompares, vector_ops=rep.vectorOps,
            barriers=rep.barriers, max_copy_bytes=rep.maxCopyBytes, output_unaligned=rep.outputUnaligned32,
            input_unaligned=rep.inputUnaligned32, violations=rep.violationCount,
            core_elems=list(rep.coreOutputElems[:min(rep.blockDim, 64)]), scale=rep.scale, modes=tuple(rep.modes))
        return (out if report.status == 0 else None), report


@functools.lru_cache(maxsize=None)
def sim() -> Sim:
    return Sim()
