// Shared by the addon's translation units: includes, the error guard, the tensor handle and the
// argument helpers. See retalign.cc for what the addon is and why it looks like this.
#pragma once

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

namespace retalign {

inline std::atomic<int64_t> g_live{0};
// Whether new handles report their CPU bytes to V8 when made (per JS thread). The TS scopes turn it off
// while a tidy scope is open: its tensors are freed deterministically when it closes, and reporting
// them made V8 see GBs of external memory come and go in every training step and run a full
// mark-compact of an 8 MB heap several times per step. A tensor that outlives every scope is
// reported then (reportExternal), so the GC safety net still sees what only the GC will free.
inline thread_local bool g_reportExternal = true;

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
  inline static Napi::FunctionReference ctor;
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
    env_ = env;
    if (g_reportExternal) report();
  }
  // Tell V8 about CPU memory (once per handle) so the GC safety net runs under memory pressure.
  // Views share their base's storage: counting them again would report memory that does not
  // exist and make V8 run needless GC passes.
  void report() {
    if (bytes == 0 && env_ != nullptr && t.defined() && t.device().is_cpu() && !t.is_view()) {
      bytes = static_cast<int64_t>(t.numel() * t.element_size());
      if (bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env_, bytes);
    }
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

inline Napi::Value wrap(Napi::Env env, torch::Tensor x) {
  Napi::Object o = TensorHandle::ctor.New({});
  TensorHandle::Unwrap(o)->set(env, std::move(x));
  return o;
}

inline torch::Tensor& T(const Napi::Value& v, const char* what = "tensor") {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(TensorHandle::ctor.Value())) {
    throw Napi::TypeError::New(v.Env(), std::string("expected a tensor handle for ") + what);
  }
  TensorHandle* h = TensorHandle::Unwrap(v.As<Napi::Object>());
  if (!h->t.defined()) {
    throw Napi::Error::New(v.Env(), std::string("use of a disposed tensor (") + what + ")");
  }
  return h->t;
}

inline bool isTensor(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(TensorHandle::ctor.Value());
}

inline std::optional<torch::Tensor> optT(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  return T(v);
}

inline std::vector<int64_t> ints(const Napi::Value& v) {
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

inline std::vector<torch::Tensor> tensors(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<torch::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(T(a.Get(i)));
  return out;
}

inline Napi::Value wrapList(Napi::Env env, const std::vector<torch::Tensor>& xs) {
  Napi::Array a = Napi::Array::New(env, xs.size());
  for (size_t i = 0; i < xs.size(); i++) a.Set(static_cast<uint32_t>(i), wrap(env, xs[i]));
  return a;
}

inline torch::ScalarType dtypeOf(Napi::Env env, const std::string& s) {
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

inline const char* dtypeName(torch::ScalarType s) {
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

inline torch::Device deviceOf(Napi::Env env, const std::string& s) {
  try {
    return torch::Device(s);
  } catch (const c10::Error& e) {
    throw Napi::TypeError::New(env, "unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
  }
}

inline torch::TensorOptions opts(const Napi::CallbackInfo& info, size_t dtypeArg, size_t deviceArg) {
  auto o = torch::TensorOptions().dtype(torch::kFloat32);
  if (info.Length() > dtypeArg && info[dtypeArg].IsString())
    o = o.dtype(dtypeOf(info.Env(), info[dtypeArg].As<Napi::String>()));
  if (info.Length() > deviceArg && info[deviceArg].IsString())
    o = o.device(deviceOf(info.Env(), info[deviceArg].As<Napi::String>()));
  return o;
}

// A JS number that holds an integer becomes an integer Scalar (as a Python int literal does), so
// int64 tensors stay int64 under `t.add(1)`, `clamp`, `where`; any other number is a double.
inline torch::Scalar scalar(const Napi::Value& v) {
  if (v.IsBoolean()) return torch::Scalar(v.As<Napi::Boolean>().Value());
  double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
    return torch::Scalar(static_cast<int64_t>(d));
  }
  return torch::Scalar(d);
}

inline double num(const Napi::CallbackInfo& info, size_t i, double dflt) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : dflt;
}
inline int64_t integer(const Napi::CallbackInfo& info, size_t i, int64_t dflt) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int64Value() : dflt;
}
inline bool flag(const Napi::CallbackInfo& info, size_t i, bool dflt) {
  return info.Length() > i && info[i].IsBoolean() ? info[i].As<Napi::Boolean>().Value() : dflt;
}

// Each translation unit exports its functions onto the module object.
void RegisterTensorFns(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterNN(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterDist(Napi::Env env, Napi::Object exports);
void RegisterAllocator(Napi::Env env, Napi::Object exports);

#define EXPORT(NAME, FN) exports.Set(NAME, Napi::Function::New(env, FN, NAME))

}  // namespace retalign
