// retalign native addon: a thin Node-API layer over libtorch's stable C++ API.
//
// native/ is the only code in the project that touches libtorch (this file wires the module;
// common.h holds the handle and helpers; tensor.cc, ops.cc, nn.cc, autograd.cc the functions). It exposes tensors as opaque
// handles (an ObjectWrap holding a torch::Tensor) and flat functions over them; the TypeScript
// Tensor class in src/tensor/ gives them a typed, chainable API.
//
// Every entry point runs inside GUARD so that a c10::Error (shape mismatch, bad dtype, ...) becomes
// a JS Error carrying libtorch's message instead of aborting the process. Only stable API calls
// are used so the same sources compile against Debian's libtorch 1.13 and current 2.x (CUDA).

#include <napi.h>

#include "common.h"

Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  retalign::RegisterAllocator(env, exports);  // first: every tensor after it uses the caching CPU allocator
  retalign::TensorHandle::Init(env, exports);
  retalign::RegisterTensorFns(env, exports);
  retalign::RegisterOps(env, exports);
  retalign::RegisterNN(env, exports);
  retalign::RegisterAutograd(env, exports);
  retalign::RegisterDist(env, exports);
  return exports;
}

NODE_API_MODULE(retalign, InitAll)
