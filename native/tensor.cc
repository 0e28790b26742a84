// Creation, export, metadata and lifetime of tensors.
#include "common.h"

namespace retalign {

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

// setExternalReporting(on) -> the previous setting: whether handles made from now on (on this thread)
// report their bytes to V8 (see g_reportExternal in common.h).
Napi::Value SetExternalReporting(const Napi::CallbackInfo& info) {
  bool prev = g_reportExternal;
  g_reportExternal = flag(info, 0, true);
  return Napi::Boolean::New(info.Env(), prev);
}
// reportExternal([handles]): reports each live handle's bytes to V8 if it has not yet (a tensor that
// left every tidy scope). Disposed handles are skipped.
Napi::Value ReportExternal(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (!info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "reportExternal: expected an array of tensor handles");
  Napi::Array a = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (isTensor(v)) TensorHandle::Unwrap(v.As<Napi::Object>())->report();
  }
  return info.Env().Undefined();
  GUARD_END
}
// externalBytes(handle): the bytes this handle has reported to V8 (0 if none); for tests.
Napi::Value ExternalBytes(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (!isTensor(info[0])) throw Napi::TypeError::New(info.Env(), "externalBytes: expected a tensor handle");
  return Napi::Number::New(info.Env(), static_cast<double>(TensorHandle::Unwrap(info[0].As<Napi::Object>())->bytes));
  GUARD_END
}

void RegisterTensorFns(Napi::Env env, Napi::Object exports) {
  EXPORT("setExternalReporting", SetExternalReporting);
  EXPORT("reportExternal", ReportExternal);
  EXPORT("externalBytes", ExternalBytes);
  EXPORT("fromArray", FromArray);
  EXPORT("toArray", ToArray);
  EXPORT("zeros", Zeros);
  EXPORT("ones", Ones);
  EXPORT("full", Full);
  EXPORT("rand", Rand);
  EXPORT("randn", Randn);
  EXPORT("randperm", Randperm);
  EXPORT("arange", Arange);
  EXPORT("shape", Shape);
  EXPORT("dtype", DType);
  EXPORT("device", Device);
  EXPORT("item", Item);
  EXPORT("to", To);
  EXPORT("dispose", Dispose);
  EXPORT("isDisposed", IsDisposed);
  EXPORT("liveCount", LiveCount);
}

}  // namespace retalign
