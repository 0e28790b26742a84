// retalign native addon: a thin Node-API layer over libtorch's stable C++ API.
//
// This file is the only code in the project that touches libtorch. It exposes tensors as opaque
// handles (an ObjectWrap holding a torch::Tensor) and flat functions over them; the TypeScript
// Tensor class in src/tensor/ gives them a typed, chainable API.
//
// Every entry point runs inside GUARD so that a c10::Error (shape mismatch, bad dtype, ...) becomes
// a JS Error carrying libtorch's message instead of aborting the process. Only stable API calls
// are used so the same file compiles against Debian's libtorch 1.13 and current 2.x (CUDA).

#include <napi.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::atomic<int64_t> g_live{0};

#define GUARD_BEGIN try {
#define GUARD_END                                                   \
  }                                                                 \
  catch (const Napi::Error&) {                                      \
    throw;                                                          \
  }                                                                 \
  catch (const c10::Error& e) {                                     \
    throw Napi::Error::New(info.Env(), e.what_without_backtrace()); \
  }                                                                 \
  catch (const std::exception& e) {                                 \
    throw Napi::Error::New(info.Env(), e.what());                   \
  }

// ---------------------------------------------------------------------------------------------
// Tensor handle

class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::FunctionReference ctor;
  torch::Tensor t;
  int64_t bytes = 0;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "TensorHandle", {});
    ctor = Napi::Persistent(f);
    ctor.SuppressDestruct();
    exports.Set("TensorHandle", f);
  }
  explicit TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}
  ~TensorHandle() override { release(); }

  void set(Napi::Env env, torch::Tensor x) {
    t = std::move(x);
    g_live++;
    // Tell V8 about CPU memory so the GC safety net runs under memory pressure.
    // Views share their base's storage: counting them again would report memory that does not
    // exist and make V8 run needless GC passes.
    if (t.defined() && t.device().is_cpu() && !t.is_view()) {
      bytes = static_cast<int64_t>(t.numel() * t.element_size());
      if (bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
    }
    env_ = env;
  }
  void release() {
    if (t.defined()) {
      t = torch::Tensor();
      g_live--;
      if (bytes > 0 && env_ != nullptr) {
        Napi::MemoryManagement::AdjustExternalMemory(env_, -bytes);
      }
      bytes = 0;
    }
  }

 private:
  napi_env env_ = nullptr;
};
Napi::FunctionReference TensorHandle::ctor;

Napi::Value wrap(Napi::Env env, torch::Tensor x) {
  Napi::Object o = TensorHandle::ctor.New({});
  TensorHandle::Unwrap(o)->set(env, std::move(x));
  return o;
}

torch::Tensor& T(const Napi::Value& v, const char* what = "tensor") {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(TensorHandle::ctor.Value())) {
    throw Napi::TypeError::New(v.Env(), std::string("expected a tensor handle for ") + what);
  }
  TensorHandle* h = TensorHandle::Unwrap(v.As<Napi::Object>());
  if (!h->t.defined()) {
    throw Napi::Error::New(v.Env(), std::string("use of a disposed tensor (") + what + ")");
  }
  return h->t;
}

bool isTensor(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(TensorHandle::ctor.Value());
}

std::optional<torch::Tensor> optT(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return T(v);
}

std::vector<int64_t> ints(const Napi::Value& v) {
  std::vector<int64_t> out;
  if (v.IsNumber()) {
    out.push_back(v.As<Napi::Number>().Int64Value());
    return out;
  }
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).As<Napi::Number>().Int64Value());
  return out;
}

std::vector<torch::Tensor> tensors(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<torch::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(T(a.Get(i)));
  return out;
}

Napi::Value wrapList(Napi::Env env, const std::vector<torch::Tensor>& xs) {
  Napi::Array a = Napi::Array::New(env, xs.size());
  for (size_t i = 0; i < xs.size(); i++) a.Set(static_cast<uint32_t>(i), wrap(env, xs[i]));
  return a;
}

torch::ScalarType dtypeOf(Napi::Env env, const std::string& s) {
  if (s == "float32") return torch::kFloat32;
  if (s == "float64") return torch::kFloat64;
  if (s == "float16") return torch::kFloat16;
  if (s == "bfloat16") return torch::kBFloat16;
  if (s == "int64") return torch::kInt64;
  if (s == "int32") return torch::kInt32;
  if (s == "int16") return torch::kInt16;
  if (s == "int8") return torch::kInt8;
  if (s == "uint8") return torch::kUInt8;
  if (s == "bool") return torch::kBool;
  throw Napi::TypeError::New(env, "unknown dtype '" + s +
                                      "' (expected float32, float64, float16, bfloat16, int64, "
                                      "int32, int16, int8, uint8 or bool)");
}

const char* dtypeName(torch::ScalarType s) {
  switch (s) {
    case torch::kFloat32: return "float32";
    case torch::kFloat64: return "float64";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return "unsupported";
  }
}

torch::Device deviceOf(Napi::Env env, const std::string& s) {
  try {
    return torch::Device(s);
  } catch (const c10::Error& e) {
    throw Napi::TypeError::New(env, "unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
  }
}

torch::TensorOptions opts(const Napi::CallbackInfo& info, size_t dtypeArg, size_t deviceArg) {
  auto o = torch::TensorOptions().dtype(torch::kFloat32);
  if (info.Length() > dtypeArg && info[dtypeArg].IsString())
    o = o.dtype(dtypeOf(info.Env(), info[dtypeArg].As<Napi::String>()));
  if (info.Length() > deviceArg && info[deviceArg].IsString())
    o = o.device(deviceOf(info.Env(), info[deviceArg].As<Napi::String>()));
  return o;
}

// A JS number that holds an integer becomes an integer Scalar (as a Python int literal does), so
// int64 tensors stay int64 under `t.add(1)`, `clamp`, `where`; any other number is a double.
torch::Scalar scalar(const Napi::Value& v) {
  if (v.IsBoolean()) return torch::Scalar(v.As<Napi::Boolean>().Value());
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    return torch::Scalar(static_cast<int64_t>(d));
  }
  return torch::Scalar(d);
}

double num(const Napi::CallbackInfo& info, size_t i, double dflt) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : dflt;
}
int64_t integer(const Napi::CallbackInfo& info, size_t i, int64_t dflt) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int64Value() : dflt;
}
bool flag(const Napi::CallbackInfo& info, size_t i, bool dflt) {
  return info.Length() > i && info[i].IsBoolean() ? info[i].As<Napi::Boolean>().Value() : dflt;
}

// ---------------------------------------------------------------------------------------------
// Creation and export

// fromArray(typedArray, shape, dtype) -> copies the data into a new CPU tensor.
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  auto shape = ints(info[1]);
  torch::ScalarType st = dtypeOf(info.Env(), info[2].As<Napi::String>());
  Napi::ArrayBuffer ab = ta.ArrayBuffer();
  uint8_t* src = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
  int64_t n = 1;
  for (auto d : shape) n *= d;
  torch::Tensor out = torch::empty(shape, torch::TensorOptions().dtype(st));
  size_t need = static_cast<size_t>(n) * out.element_size();
  if (ta.ByteLength() != need) {
    throw Napi::RangeError::New(info.Env(), "fromArray: typed array holds " +
                                                std::to_string(ta.ByteLength()) + " bytes, shape needs " +
                                                std::to_string(need));
  }
  if (need > 0) std::memcpy(out.data_ptr(), src, need);
  return wrap(info.Env(), out);
  GUARD_END
}

// toArray(t) -> a typed array copy (contiguous, CPU). float16/bfloat16 come back as Uint16Array bits.
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  torch::Tensor t = T(info[0]).detach().to(torch::kCPU).contiguous();
  size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(ab.Data(), t.data_ptr(), bytes);
  size_t n = static_cast<size_t>(t.numel());
  switch (t.scalar_type()) {
    case torch::kFloat32: return Napi::Float32Array::New(env, n, ab, 0);
    case torch::kFloat64: return Napi::Float64Array::New(env, n, ab, 0);
    case torch::kInt64: return Napi::BigInt64Array::New(env, n, ab, 0);
    case torch::kInt32: return Napi::Int32Array::New(env, n, ab, 0);
    case torch::kInt16: return Napi::Int16Array::New(env, n, ab, 0);
    case torch::kInt8: return Napi::Int8Array::New(env, n, ab, 0);
    case torch::kUInt8:
    case torch::kBool: return Napi::Uint8Array::New(env, n, ab, 0);
    case torch::kFloat16:
    case torch::kBFloat16: return Napi::Uint16Array::New(env, n, ab, 0);
    default: throw Napi::TypeError::New(env, "toArray: unsupported dtype");
  }
  GUARD_END
}

Napi::Value Zeros(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::zeros(ints(info[0]), opts(info, 1, 2))); GUARD_END
}
Napi::Value Ones(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::ones(ints(info[0]), opts(info, 1, 2))); GUARD_END
}
Napi::Value Full(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::full(ints(info[0]), scalar(info[1]), opts(info, 2, 3)));
  GUARD_END
}
Napi::Value Rand(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::rand(ints(info[0]), opts(info, 1, 2))); GUARD_END
}
Napi::Value Randn(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::randn(ints(info[0]), opts(info, 1, 2))); GUARD_END
}
Napi::Value Randperm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  return wrap(info.Env(), torch::randperm(integer(info, 0, 0), torch::TensorOptions().dtype(torch::kInt64)));
  GUARD_END
}
Napi::Value Arange(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  return wrap(info.Env(), torch::arange(scalar(info[0]), scalar(info[1]), scalar(info[2]), opts(info, 3, 4)));
  GUARD_END
}

// ---------------------------------------------------------------------------------------------
// Metadata, conversion, lifetime

Napi::Value Shape(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto s = T(info[0]).sizes();
  Napi::Array a = Napi::Array::New(info.Env(), s.size());
  for (size_t i = 0; i < s.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), s[i]));
  return a;
  GUARD_END
}
Napi::Value DType(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return Napi::String::New(info.Env(), dtypeName(T(info[0]).scalar_type())); GUARD_END
}
Napi::Value Device(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return Napi::String::New(info.Env(), T(info[0]).device().str()); GUARD_END
}
Napi::Value Item(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor t = T(info[0]);
  if (t.numel() != 1)
    throw Napi::Error::New(info.Env(), "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
  if (t.scalar_type() == torch::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
  return Napi::Number::New(info.Env(), t.item<double>());
  GUARD_END
}
Napi::Value To(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor t = T(info[0]);
  if (info[1].IsString()) t = t.to(deviceOf(info.Env(), info[1].As<Napi::String>()));
  if (info[2].IsString()) t = t.to(dtypeOf(info.Env(), info[2].As<Napi::String>()));
  return wrap(info.Env(), t);
  GUARD_END
}
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  if (isTensor(info[0])) TensorHandle::Unwrap(info[0].As<Napi::Object>())->release();
  return info.Env().Undefined();
}
Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !TensorHandle::Unwrap(info[0].As<Napi::Object>())->t.defined());
}
Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(g_live.load()));
}

// ---------------------------------------------------------------------------------------------
// Elementwise and shape ops (generated by small macros: one line per op)

#define UNARY(NAME, EXPR)                                        \
  Napi::Value NAME(const Napi::CallbackInfo& info) {             \
    GUARD_BEGIN torch::Tensor& a = T(info[0]);                   \
    return wrap(info.Env(), EXPR);                               \
    GUARD_END                                                    \
  }

UNARY(Neg, torch::neg(a))
UNARY(Exp, torch::exp(a))
UNARY(Log, torch::log(a))
UNARY(Sqrt, torch::sqrt(a))
UNARY(Rsqrt, torch::rsqrt(a))
UNARY(Abs, torch::abs(a))
UNARY(Tanh, torch::tanh(a))
UNARY(Erf, torch::erf(a))
UNARY(Sigmoid, torch::sigmoid(a))
UNARY(Relu, torch::relu(a))
UNARY(Sin, torch::sin(a))
UNARY(Cos, torch::cos(a))
UNARY(Contiguous, a.contiguous())
UNARY(Clone, a.clone())
UNARY(Detach, a.detach())
UNARY(LogicalNot, torch::logical_not(a))
UNARY(IsFinite, torch::isfinite(a))
UNARY(Grad, a.grad())

Napi::Value Gelu(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  std::string approx = info.Length() > 1 && info[1].IsString() ? std::string(info[1].As<Napi::String>()) : "none";
  return wrap(info.Env(), torch::gelu(T(info[0]), approx));
  GUARD_END
}

#define BINARY(NAME, FN)                                                                 \
  Napi::Value NAME(const Napi::CallbackInfo& info) {                                     \
    GUARD_BEGIN torch::Tensor& a = T(info[0]);                                           \
    if (isTensor(info[1])) return wrap(info.Env(), FN(a, T(info[1])));                   \
    return wrap(info.Env(), FN(a, scalar(info[1])));                                     \
    GUARD_END                                                                            \
  }

BINARY(Add, torch::add)
BINARY(Sub, torch::sub)
BINARY(Mul, torch::mul)
BINARY(Div, torch::div)
BINARY(Pow, torch::pow)
BINARY(Eq, torch::eq)
BINARY(Ne, torch::ne)
BINARY(Lt, torch::lt)
BINARY(Le, torch::le)
BINARY(Gt, torch::gt)
BINARY(Ge, torch::ge)
Napi::Value Maximum2(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (isTensor(info[1])) return wrap(info.Env(), torch::maximum(T(info[0]), T(info[1])));
  return wrap(info.Env(), torch::clamp_min(T(info[0]), scalar(info[1])));
  GUARD_END
}
Napi::Value Minimum2(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (isTensor(info[1])) return wrap(info.Env(), torch::minimum(T(info[0]), T(info[1])));
  return wrap(info.Env(), torch::clamp_max(T(info[0]), scalar(info[1])));
  GUARD_END
}

Napi::Value LogicalAnd(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::logical_and(T(info[0]), T(info[1]))); GUARD_END
}
Napi::Value LogicalOr(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::logical_or(T(info[0]), T(info[1]))); GUARD_END
}
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::matmul(T(info[0]), T(info[1]))); GUARD_END
}
Napi::Value Bmm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::bmm(T(info[0]), T(info[1]))); GUARD_END
}
// linear(x, weight (out,in), bias?) = x @ W^T + b, fused as in PyTorch.
Napi::Value Linear(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto b = optT(info[2]);
  return wrap(info.Env(), b ? torch::linear(T(info[0]), T(info[1]), *b) : torch::linear(T(info[0]), T(info[1])));
  GUARD_END
}
// conv2d(x, weight, bias?, stride, padding)
Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto b = optT(info[2]);
  auto stride = ints(info[3]);
  auto padding = ints(info[4]);
  return wrap(info.Env(), torch::conv2d(T(info[0]), T(info[1]), b ? *b : torch::Tensor(), stride, padding));
  GUARD_END
}
Napi::Value Where(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& c = T(info[0]);
  if (isTensor(info[1]) && isTensor(info[2])) return wrap(info.Env(), torch::where(c, T(info[1]), T(info[2])));
  if (isTensor(info[1])) return wrap(info.Env(), torch::where(c, T(info[1]), scalar(info[2])));
  if (isTensor(info[2])) return wrap(info.Env(), torch::where(c, scalar(info[1]), T(info[2])));
  throw Napi::TypeError::New(info.Env(), "where: at least one of a, b must be a tensor");
  GUARD_END
}
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  c10::optional<torch::Scalar> lo, hi;
  if (info[1].IsNumber()) lo = scalar(info[1]);
  if (info[2].IsNumber()) hi = scalar(info[2]);
  return wrap(info.Env(), torch::clamp(T(info[0]), lo, hi));
  GUARD_END
}
Napi::Value MaskedFill(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).masked_fill(T(info[1]), scalar(info[2]))); GUARD_END
}

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).reshape(ints(info[1]))); GUARD_END
}
Napi::Value View(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).view(ints(info[1]))); GUARD_END
}
Napi::Value Permute(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).permute(ints(info[1]))); GUARD_END
}
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).transpose(integer(info, 1, 0), integer(info, 2, 1))); GUARD_END
}
Napi::Value Unsqueeze(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).unsqueeze(integer(info, 1, 0))); GUARD_END
}
Napi::Value Squeeze(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (info[1].IsNumber()) return wrap(info.Env(), T(info[0]).squeeze(integer(info, 1, 0)));
  return wrap(info.Env(), T(info[0]).squeeze());
  GUARD_END
}
Napi::Value Expand(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).expand(ints(info[1]))); GUARD_END
}
Napi::Value Flatten(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), T(info[0]).flatten(integer(info, 1, 0), integer(info, 2, -1))); GUARD_END
}
Napi::Value Cat(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::cat(tensors(info[0]), integer(info, 1, 0))); GUARD_END
}
Napi::Value Stack(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::stack(tensors(info[0]), integer(info, 1, 0))); GUARD_END
}
// split(t, sizes (int or int[]), dim)
Napi::Value Split(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  int64_t dim = integer(info, 2, 0);
  if (info[1].IsNumber()) return wrapList(info.Env(), t.split(info[1].As<Napi::Number>().Int64Value(), dim));
  return wrapList(info.Env(), t.split_with_sizes(ints(info[1]), dim));
  GUARD_END
}
Napi::Value Narrow(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  return wrap(info.Env(), T(info[0]).narrow(integer(info, 1, 0), integer(info, 2, 0), integer(info, 3, 0)));
  GUARD_END
}
Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::index_select(T(info[0]), integer(info, 1, 0), T(info[2]))); GUARD_END
}
Napi::Value Gather(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::gather(T(info[0]), integer(info, 1, 0), T(info[2]))); GUARD_END
}
Napi::Value Embedding(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::embedding(T(info[0]), T(info[1]))); GUARD_END
}
Napi::Value OneHot(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::one_hot(T(info[0]), integer(info, 1, -1))); GUARD_END
}

// ---------------------------------------------------------------------------------------------
// Reductions

// sum/mean(t, dims|undefined, keepdim)
Napi::Value Sum(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  if (info[1].IsUndefined() || info[1].IsNull()) return wrap(info.Env(), t.sum());
  return wrap(info.Env(), t.sum(ints(info[1]), flag(info, 2, false)));
  GUARD_END
}
Napi::Value Mean(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  if (info[1].IsUndefined() || info[1].IsNull()) return wrap(info.Env(), t.mean());
  return wrap(info.Env(), t.mean(ints(info[1]), flag(info, 2, false)));
  GUARD_END
}
// max(t) -> scalar tensor; max(t, dim, keepdim) -> [values, indices]
Napi::Value Max(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  if (!info[1].IsNumber()) return wrap(info.Env(), t.max());
  auto r = t.max(integer(info, 1, 0), flag(info, 2, false));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
  GUARD_END
}
Napi::Value Min(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  if (!info[1].IsNumber()) return wrap(info.Env(), t.min());
  auto r = t.min(integer(info, 1, 0), flag(info, 2, false));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
  GUARD_END
}
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  if (!info[1].IsNumber()) return wrap(info.Env(), t.argmax());
  return wrap(info.Env(), t.argmax(integer(info, 1, 0), flag(info, 2, false)));
  GUARD_END
}
Napi::Value Topk(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto r = torch::topk(T(info[0]), integer(info, 1, 1), integer(info, 2, -1), flag(info, 3, true), true);
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
  GUARD_END
}
Napi::Value Sort(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto r = torch::sort(T(info[0]), integer(info, 1, -1), flag(info, 2, false));
  return wrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
  GUARD_END
}
// norm(t, p, dim|undefined, keepdim)
Napi::Value Norm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::Tensor& t = T(info[0]);
  double p = num(info, 1, 2.0);
  if (info[2].IsUndefined() || info[2].IsNull()) return wrap(info.Env(), t.norm(p));
  return wrap(info.Env(), t.norm(p, ints(info[2]), flag(info, 3, false)));
  GUARD_END
}
Napi::Value Normalize(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  namespace F = torch::nn::functional;
  return wrap(info.Env(), F::normalize(T(info[0]), F::NormalizeFuncOptions()
                                                       .p(num(info, 1, 2.0))
                                                       .dim(integer(info, 2, -1))
                                                       .eps(num(info, 3, 1e-12))));
  GUARD_END
}
Napi::Value Logsumexp(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::logsumexp(T(info[0]), ints(info[1]), flag(info, 2, false))); GUARD_END
}

// ---------------------------------------------------------------------------------------------
// NN functions and losses

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::softmax(T(info[0]), integer(info, 1, -1))); GUARD_END
}
Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::log_softmax(T(info[0]), integer(info, 1, -1))); GUARD_END
}
// layerNorm(x, normalizedShape, weight?, bias?, eps)
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto w = optT(info[2]);
  auto b = optT(info[3]);
  return wrap(info.Env(), torch::layer_norm(T(info[0]), ints(info[1]), w ? *w : torch::Tensor(),
                                            b ? *b : torch::Tensor(), num(info, 4, 1e-5)));
  GUARD_END
}
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::dropout(T(info[0]), num(info, 1, 0.5), flag(info, 2, true))); GUARD_END
}
int64_t reductionOf(const Napi::CallbackInfo& info, size_t i) {
  std::string r = info.Length() > i && info[i].IsString() ? std::string(info[i].As<Napi::String>()) : "mean";
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  if (r == "none") return at::Reduction::None;
  throw Napi::TypeError::New(info.Env(), "unknown reduction '" + r + "' (expected mean, sum or none)");
}
// crossEntropy(logits (N,C), target (N) int64, weight?, ignoreIndex, labelSmoothing, reduction)
Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto w = optT(info[2]);
  return wrap(info.Env(), torch::cross_entropy_loss(T(info[0]), T(info[1]), w ? *w : torch::Tensor(),
                                                    reductionOf(info, 5), integer(info, 3, -100),
                                                    num(info, 4, 0.0)));
  GUARD_END
}
Napi::Value MseLoss(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return wrap(info.Env(), torch::mse_loss(T(info[0]), T(info[1]), reductionOf(info, 2))); GUARD_END
}

// ---------------------------------------------------------------------------------------------
// In-place initialisation (used on parameters under no-grad)

Napi::Value CopyInto(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::NoGradGuard ng;
  T(info[0]).copy_(T(info[1]));
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value NormalInit(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::NoGradGuard ng;
  T(info[0]).normal_(num(info, 1, 0.0), num(info, 2, 1.0));
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value UniformInit(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::NoGradGuard ng;
  T(info[0]).uniform_(num(info, 1, 0.0), num(info, 2, 1.0));
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value FillInit(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  torch::NoGradGuard ng;
  T(info[0]).fill_(scalar(info[1]));
  return info.Env().Undefined();
  GUARD_END
}

// ---------------------------------------------------------------------------------------------
// Autograd

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  T(info[0]).set_requires_grad(flag(info, 1, true));
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return Napi::Boolean::New(info.Env(), T(info[0]).requires_grad()); GUARD_END
}
Napi::Value HasGrad(const Napi::CallbackInfo& info) {
  GUARD_BEGIN return Napi::Boolean::New(info.Env(), T(info[0]).grad().defined()); GUARD_END
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto g = optT(info[1]);
  if (g) T(info[0]).backward(*g);
  else T(info[0]).backward();
  return info.Env().Undefined();
  GUARD_END
}
// zeroGrad(params[]): drops the .grad tensors (set_to_none, PyTorch's default).
Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  for (auto& p : tensors(info[0])) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(flag(info, 0, true));
  return Napi::Boolean::New(info.Env(), prev);
}
Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  std::vector<torch::Tensor> ps;
  for (auto& p : tensors(info[0]))
    if (p.grad().defined()) ps.push_back(p);
  if (ps.empty()) return Napi::Number::New(info.Env(), 0.0);
  double n = torch::nn::utils::clip_grad_norm_(ps, num(info, 1, 1.0), num(info, 2, 2.0));
  return Napi::Number::New(info.Env(), n);
  GUARD_END
}

// ---------------------------------------------------------------------------------------------
// AdamW (libtorch's) with parameter groups

class AdamWHandle : public Napi::ObjectWrap<AdamWHandle> {
 public:
  static Napi::FunctionReference ctor;
  std::unique_ptr<torch::optim::AdamW> opt;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "AdamW",
                                   {InstanceMethod("step", &AdamWHandle::Step),
                                    InstanceMethod("zeroGrad", &AdamWHandle::ZeroGrad),
                                    InstanceMethod("setLr", &AdamWHandle::SetLr),
                                    InstanceMethod("getLr", &AdamWHandle::GetLr),
                                    InstanceMethod("saveState", &AdamWHandle::SaveState),
                                    InstanceMethod("loadState", &AdamWHandle::LoadState)});
    ctor = Napi::Persistent(f);
    ctor.SuppressDestruct();
    exports.Set("AdamW", f);
  }

  // new AdamW(groups: {params, lr, weightDecay}[], {beta1, beta2, eps})
  explicit AdamWHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWHandle>(info) {
    GUARD_BEGIN
    Napi::Array groups = info[0].As<Napi::Array>();
    Napi::Object o = info[1].As<Napi::Object>();
    double b1 = o.Get("beta1").As<Napi::Number>().DoubleValue();
    double b2 = o.Get("beta2").As<Napi::Number>().DoubleValue();
    double eps = o.Get("eps").As<Napi::Number>().DoubleValue();
    std::vector<torch::optim::OptimizerParamGroup> pgs;
    for (uint32_t i = 0; i < groups.Length(); i++) {
      Napi::Object g = groups.Get(i).As<Napi::Object>();
      auto gopts = std::make_unique<torch::optim::AdamWOptions>(g.Get("lr").As<Napi::Number>().DoubleValue());
      gopts->betas(std::make_tuple(b1, b2)).eps(eps).weight_decay(g.Get("weightDecay").As<Napi::Number>().DoubleValue());
      pgs.emplace_back(tensors(g.Get("params")), std::move(gopts));
    }
    torch::optim::AdamWOptions defaults(1e-3);
    defaults.betas(std::make_tuple(b1, b2)).eps(eps);
    opt = std::make_unique<torch::optim::AdamW>(pgs, defaults);
    GUARD_END
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    GUARD_BEGIN opt->step(); return info.Env().Undefined(); GUARD_END
  }
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    GUARD_BEGIN opt->zero_grad(); return info.Env().Undefined(); GUARD_END
  }
  // setLr(lr, groupIndex?) : all groups when no index is given
  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    GUARD_BEGIN
    double lr = num(info, 0, 1e-3);
    auto& gs = opt->param_groups();
    for (size_t i = 0; i < gs.size(); i++) {
      if (info[1].IsNumber() && static_cast<size_t>(integer(info, 1, 0)) != i) continue;
      static_cast<torch::optim::AdamWOptions&>(gs[i].options()).lr(lr);
    }
    return info.Env().Undefined();
    GUARD_END
  }
  Napi::Value GetLr(const Napi::CallbackInfo& info) {
    GUARD_BEGIN
    auto& gs = opt->param_groups();
    size_t i = static_cast<size_t>(integer(info, 0, 0));
    if (i >= gs.size()) throw Napi::RangeError::New(info.Env(), "getLr: no such parameter group");
    return Napi::Number::New(info.Env(), static_cast<torch::optim::AdamWOptions&>(gs[i].options()).lr());
    GUARD_END
  }
  // Serialized optimizer state (step counts, exp_avg, exp_avg_sq) as bytes, for exact resume.
  Napi::Value SaveState(const Napi::CallbackInfo& info) {
    GUARD_BEGIN
    torch::serialize::OutputArchive ar;
    opt->save(ar);
    std::ostringstream os;
    ar.save_to(os);
    std::string s = os.str();
    return Napi::Buffer<char>::Copy(info.Env(), s.data(), s.size());
    GUARD_END
  }
  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    GUARD_BEGIN
    Napi::Buffer<char> b = info[0].As<Napi::Buffer<char>>();
    std::istringstream is(std::string(b.Data(), b.Length()));
    torch::serialize::InputArchive ar;
    ar.load_from(is);
    opt->load(ar);
    return info.Env().Undefined();
    GUARD_END
  }
};
Napi::FunctionReference AdamWHandle::ctor;

// ---------------------------------------------------------------------------------------------
// Runtime

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  GUARD_BEGIN torch::manual_seed(static_cast<uint64_t>(integer(info, 0, 0))); return info.Env().Undefined(); GUARD_END
}
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor s;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    s = gen.get_state();
  }
  return wrap(info.Env(), s);
  GUARD_END
}
Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(info[0]));
  return info.Env().Undefined();
  GUARD_END
}
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  GUARD_BEGIN torch::set_num_threads(static_cast<int>(integer(info, 0, 1))); return info.Env().Undefined(); GUARD_END
}
Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), torch::get_num_threads());
}
Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::cuda::is_available());
}
Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (torch::cuda::is_available()) torch::cuda::synchronize();
  return info.Env().Undefined();
  GUARD_END
}
// setAutocast(device 'cpu'|'cuda', enabled, dtype): mixed precision for the ops that follow
// (matmuls/linear/conv in the lower precision; reductions, norms and losses in float32), as
// torch.autocast does. Returns the previous enabled state.
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  std::string dev = info[0].As<Napi::String>();
  bool on = flag(info, 1, false);
  torch::ScalarType dt = info.Length() > 2 && info[2].IsString() ? dtypeOf(info.Env(), info[2].As<Napi::String>()) : torch::kBFloat16;
  bool prev;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  c10::DeviceType type = dev == "cuda" ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  prev = at::autocast::is_autocast_enabled(type);
  at::autocast::set_autocast_dtype(type, dt);
  at::autocast::set_autocast_enabled(type, on);
#else
  if (dev == "cuda") {
    prev = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(dt);
    at::autocast::set_enabled(on);
  } else {
    prev = at::autocast::is_cpu_enabled();
    at::autocast::set_autocast_cpu_dtype(dt);
    at::autocast::set_cpu_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
  return Napi::Boolean::New(info.Env(), prev);
  GUARD_END
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
}

}  // namespace

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  TensorHandle::Init(env, exports);
  AdamWHandle::Init(env, exports);
#define EXPORT(NAME, FN) exports.Set(NAME, Napi::Function::New(env, FN, NAME))
  EXPORT("fromArray", FromArray); EXPORT("toArray", ToArray);
  EXPORT("zeros", Zeros); EXPORT("ones", Ones); EXPORT("full", Full); EXPORT("rand", Rand);
  EXPORT("randn", Randn); EXPORT("randperm", Randperm); EXPORT("arange", Arange);
  EXPORT("shape", Shape); EXPORT("dtype", DType); EXPORT("device", Device); EXPORT("item", Item);
  EXPORT("to", To); EXPORT("dispose", Dispose); EXPORT("isDisposed", IsDisposed); EXPORT("liveCount", LiveCount);
  EXPORT("neg", Neg); EXPORT("exp", Exp); EXPORT("log", Log); EXPORT("sqrt", Sqrt); EXPORT("rsqrt", Rsqrt);
  EXPORT("abs", Abs); EXPORT("tanh", Tanh); EXPORT("erf", Erf); EXPORT("sigmoid", Sigmoid); EXPORT("relu", Relu);
  EXPORT("sin", Sin); EXPORT("cos", Cos); EXPORT("gelu", Gelu);
  EXPORT("contiguous", Contiguous); EXPORT("clone", Clone); EXPORT("detach", Detach); EXPORT("grad", Grad);
  EXPORT("logicalNot", LogicalNot); EXPORT("logicalAnd", LogicalAnd); EXPORT("logicalOr", LogicalOr);
  EXPORT("isfinite", IsFinite);
  EXPORT("add", Add); EXPORT("sub", Sub); EXPORT("mul", Mul); EXPORT("div", Div); EXPORT("pow", Pow);
  EXPORT("eq", Eq); EXPORT("ne", Ne); EXPORT("lt", Lt); EXPORT("le", Le); EXPORT("gt", Gt); EXPORT("ge", Ge);
  EXPORT("maximum", Maximum2); EXPORT("minimum", Minimum2);
  EXPORT("matmul", Matmul); EXPORT("bmm", Bmm); EXPORT("linear", Linear); EXPORT("conv2d", Conv2d);
  EXPORT("where", Where); EXPORT("clamp", Clamp); EXPORT("maskedFill", MaskedFill);
  EXPORT("reshape", Reshape); EXPORT("view", View); EXPORT("permute", Permute); EXPORT("transpose", Transpose);
  EXPORT("unsqueeze", Unsqueeze); EXPORT("squeeze", Squeeze); EXPORT("expand", Expand); EXPORT("flatten", Flatten);
  EXPORT("cat", Cat); EXPORT("stack", Stack); EXPORT("split", Split); EXPORT("narrow", Narrow);
  EXPORT("indexSelect", IndexSelect); EXPORT("gather", Gather); EXPORT("embedding", Embedding); EXPORT("oneHot", OneHot);
  EXPORT("sum", Sum); EXPORT("mean", Mean); EXPORT("max", Max); EXPORT("min", Min); EXPORT("argmax", Argmax);
  EXPORT("topk", Topk); EXPORT("sort", Sort); EXPORT("norm", Norm); EXPORT("normalize", Normalize);
  EXPORT("logsumexp", Logsumexp);
  EXPORT("softmax", Softmax); EXPORT("logSoftmax", LogSoftmax); EXPORT("layerNorm", LayerNorm);
  EXPORT("dropout", Dropout); EXPORT("crossEntropy", CrossEntropy); EXPORT("mseLoss", MseLoss);
  EXPORT("copyInto", CopyInto); EXPORT("normalInit", NormalInit); EXPORT("uniformInit", UniformInit);
  EXPORT("fillInit", FillInit);
  EXPORT("setRequiresGrad", SetRequiresGrad); EXPORT("requiresGrad", RequiresGrad); EXPORT("hasGrad", HasGrad);
  EXPORT("backward", Backward); EXPORT("zeroGrad", ZeroGrad); EXPORT("setGradEnabled", SetGradEnabled);
  EXPORT("isGradEnabled", IsGradEnabled); EXPORT("clipGradNorm", ClipGradNorm);
  EXPORT("manualSeed", ManualSeed); EXPORT("getRngState", GetRngState); EXPORT("setRngState", SetRngState);
  EXPORT("setNumThreads", SetNumThreads); EXPORT("getNumThreads", GetNumThreads);
  EXPORT("cudaIsAvailable", CudaIsAvailable); EXPORT("cudaDeviceCount", CudaDeviceCount);
  EXPORT("cudaSynchronize", CudaSynchronize); EXPORT("setAutocast", SetAutocast); EXPORT("version", Version);
#undef EXPORT
  return exports;
}

NODE_API_MODULE(retalign, InitAll)
