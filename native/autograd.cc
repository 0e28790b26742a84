// Autograd, AdamW with parameter groups, and runtime settings (seed, RNG state, threads, CUDA, autocast).
#include "common.h"

namespace retalign {

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
  inline static Napi::FunctionReference ctor;
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

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  AdamWHandle::Init(env, exports);
  EXPORT("setRequiresGrad", SetRequiresGrad);
  EXPORT("requiresGrad", RequiresGrad);
  EXPORT("hasGrad", HasGrad);
  EXPORT("backward", Backward);
  EXPORT("zeroGrad", ZeroGrad);
  EXPORT("setGradEnabled", SetGradEnabled);
  EXPORT("isGradEnabled", IsGradEnabled);
  EXPORT("clipGradNorm", ClipGradNorm);
  EXPORT("manualSeed", ManualSeed);
  EXPORT("getRngState", GetRngState);
  EXPORT("setRngState", SetRngState);
  EXPORT("setNumThreads", SetNumThreads);
  EXPORT("getNumThreads", GetNumThreads);
  EXPORT("cudaIsAvailable", CudaIsAvailable);
  EXPORT("cudaDeviceCount", CudaDeviceCount);
  EXPORT("cudaSynchronize", CudaSynchronize);
  EXPORT("setAutocast", SetAutocast);
  EXPORT("version", Version);
}

}  // namespace retalign
