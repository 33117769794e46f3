// Probe of MindSpore's newer custom-op path (ops.CustomOpBuilder, MindSpore >= 2.6) for
// benchmarks/bench_calls.py --custom-op-builder: one PyNative op of three same-shape inputs whose
// kernel is the project's native kernel core, called through lossgrad_run of the installed
// _lossgrad_native library (its address, the op's native id and its attribute array come from
// framework.cpu). Built by CustomOpBuilder.load() at first use (a compiler at run time), so it is
// a measurement only, not a face of the package. PyNative only (no op_def YAML: no graph mode).
#include <cstdint>
#include <stdexcept>

#include "ms_extension/api.h"

namespace {

constexpr int kMaxRank = 8;  // framework.definitions.MAX_RANK (cpu._TensorRef's layout)

struct TensorRef {
  void* data;
  int32_t dtype;
  int32_t ndim;
  int64_t shape[kMaxRank];
  int64_t strides[kMaxRank];
};

using RunFn = int (*)(int32_t, const void*, int32_t, const TensorRef*, TensorRef*, char*, int64_t);

TensorRef Ref(const ms::Tensor& t, int32_t dtype) {
  TensorRef r{};
  r.data = t.GetDataPtr();
  r.dtype = dtype;
  const auto shape = t.shape();
  r.ndim = static_cast<int32_t>(shape.size());
  if (r.ndim > kMaxRank) throw std::invalid_argument("rank above 8");
  int64_t stride = 1;
  for (int k = r.ndim - 1; k >= 0; --k) {
    r.shape[k] = shape[k];
    r.strides[k] = stride;
    stride *= shape[k];
  }
  return r;
}

class Probe : public ms::pynative::PyboostRunner {
 public:
  Probe(RunFn run, int32_t op, const void* attrs, int32_t dtype)
      : PyboostRunner("LossgradProbe"), run_(run), op_(op), attrs_(attrs), dtype_(dtype) {}
  void LaunchKernel() override {
    TensorRef in[3] = {Ref(inputs()[0], dtype_), Ref(inputs()[1], dtype_), Ref(inputs()[2], dtype_)};
    TensorRef out = Ref(outputs()[0], dtype_);
    char err[256] = {0};
    if (run_(op_, attrs_, 3, in, &out, err, sizeof err) != 0) throw std::runtime_error(err);
  }

 private:
  RunFn run_;
  int32_t op_;
  const void* attrs_;
  int32_t dtype_;
};

ms::Tensor Eval(const ms::Tensor& a, const ms::Tensor& b, const ms::Tensor& c, int64_t run, int64_t op,
                int64_t attrs, int64_t dtype) {
  auto out = ms::Tensor(a.data_type(), a.shape());
  auto runner = std::make_shared<Probe>(reinterpret_cast<RunFn>(run), static_cast<int32_t>(op),
                                        reinterpret_cast<const void*>(attrs), static_cast<int32_t>(dtype));
  runner->Run({a, b, c}, {out});
  return out;
}

py::object RunProbe(const ms::Tensor& a, const ms::Tensor& b, const ms::Tensor& c, int64_t run, int64_t op,
                    int64_t attrs, int64_t dtype) {
  return ms::pynative::PyboostRunner::Call<1>(Eval, a, b, c, run, op, attrs, dtype);
}

}  // namespace

PYBIND11_MODULE(MS_EXTENSION_NAME, m) {
  m.def("run", &RunProbe, "the native kernel of a 3-input same-shape op through a PyboostRunner");
}
