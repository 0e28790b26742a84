// NN functions, losses and in-place parameter initialisation.
#include "common.h"

namespace retalign {

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
// groupNorm(x (N, C, ...), numGroups, weight?, bias?, eps)
Napi::Value GroupNorm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto w = optT(info[2]);
  auto b = optT(info[3]);
  return wrap(info.Env(), torch::group_norm(T(info[0]), integer(info, 1, 1), w ? *w : torch::Tensor(),
                                            b ? *b : torch::Tensor(), num(info, 4, 1e-5)));
  GUARD_END
}
// batchNorm(x (N, C, ...), weight?, bias?, runningMean?, runningVar?, training, momentum, eps):
// at::batch_norm, as PyTorch's F.batch_norm calls it: one autograd node with the fused backward; in
// training it normalizes with the batch statistics and updates the running statistics in place
// (momentum, unbiased variance); in eval it uses them.
Napi::Value BatchNorm(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  auto w = optT(info[1]);
  auto b = optT(info[2]);
  auto rm = optT(info[3]);
  auto rv = optT(info[4]);
  return wrap(info.Env(), torch::batch_norm(T(info[0]), w ? *w : torch::Tensor(), b ? *b : torch::Tensor(),
                                            rm ? *rm : torch::Tensor(), rv ? *rv : torch::Tensor(),
                                            flag(info, 5, true), num(info, 6, 0.1), num(info, 7, 1e-5),
                                            /*cudnn_enabled=*/true));
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

// In-place writes on parameters, outside autograd: one line per op.
#define IN_PLACE(NAME, EXPR)                          \
  Napi::Value NAME(const Napi::CallbackInfo& info) {  \
    GUARD_BEGIN torch::NoGradGuard ng;                \
    torch::Tensor& t = T(info[0]);                    \
    EXPR;                                             \
    return info.Env().Undefined();                    \
    GUARD_END                                         \
  }

IN_PLACE(CopyInto, t.copy_(T(info[1])))
IN_PLACE(NormalInit, t.normal_(num(info, 1, 0.0), num(info, 2, 1.0)))
IN_PLACE(UniformInit, t.uniform_(num(info, 1, 0.0), num(info, 2, 1.0)))
IN_PLACE(FillInit, t.fill_(scalar(info[1])))

void RegisterNN(Napi::Env env, Napi::Object exports) {
  EXPORT("softmax", Softmax);
  EXPORT("logSoftmax", LogSoftmax);
  EXPORT("layerNorm", LayerNorm);
  EXPORT("groupNorm", GroupNorm);
  EXPORT("batchNorm", BatchNorm);
  EXPORT("dropout", Dropout);
  EXPORT("crossEntropy", CrossEntropy);
  EXPORT("mseLoss", MseLoss);
  EXPORT("copyInto", CopyInto);
  EXPORT("normalInit", NormalInit);
  EXPORT("uniformInit", UniformInit);
  EXPORT("fillInit", FillInit);
}

}  // namespace retalign
