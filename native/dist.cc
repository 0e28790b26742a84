// Data-parallel collectives over PyTorch's c10d: one process group per process (like
// torch.distributed's default group), made from a TCPStore or FileStore rendezvous, with Gloo on CPU
// and NCCL on CUDA where the libtorch build has it.
//
// Why c10d and not our own sockets: it is the engine torchrun/DDP users already run, it ships inside
// libtorch_cpu (Debian's 1.13 exports TCPStore, FileStore, ProcessGroupGloo, Reducer), and Gloo's
// ring all-reduce is what the Python peer measures against.
//
// Failure handling: every collective waits with the group's timeout; when one fails (a peer's socket
// closed, or the timeout), the error names the ranks that stopped answering. Each rank increments a
// heartbeat counter in the store every HEARTBEAT_MS from a thread of its own (its own TCP client), so
// a survivor can tell a dead rank (counter frozen) from a live one; an unreachable store means rank 0
// (its host) is gone. The group objects are deliberately never destroyed at exit: a destructor that
// joins Gloo's threads could block on the dead peer.
//
// API differences between libtorch 1.13 (ProcessGroup) and 2.x (Backend) stay in this file: only
// calls present in both are used (allreduce/broadcast/allgather/barrier returning a Work with wait()).
//
// Built without c10d (RETALIGN_NO_DIST: a libtorch without the distributed headers, or no gloo
// headers), every function here throws an error that says so; the rest of the addon is unaffected.

#include "common.h"

#ifndef RETALIGN_NO_DIST
// ProcessGroupGloo.hpp is guarded by USE_C10D_GLOO, a define of torch's own build.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef RETALIGN_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <mutex>
#include <thread>
#endif

namespace retalign {

#ifndef RETALIGN_NO_DIST

namespace {

constexpr int HEARTBEAT_MS = 500;

// Gloo's ProcessGroupGloo (1.13: a ProcessGroup; 2.x: a Backend) and NCCL's share these calls.
struct Group {
  std::string backend;
  int rank = 0;
  int world = 1;
  std::chrono::milliseconds timeout{30000};
  std::string where;  // "tcp://host:port" or "file://path", for messages
  std::string prefix;  // of every key this group writes (a restarted job's attempt gets its own)
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef RETALIGN_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  // Heartbeats: a store client of their own (TCP), used under hbLock by the thread and the diagnosis.
  c10::intrusive_ptr<c10d::Store> hbStore;
  std::mutex hbLock;
  std::atomic<bool> hbStop{false};
  std::atomic<bool> failed{false};
};

// Never freed (see the file header): leaked on purpose at exit, replaced by distDestroy + distInit.
Group* g_group = nullptr;

Group& group(const Napi::Env& env, const char* op) {
  if (g_group == nullptr) {
    throw Napi::Error::New(env, std::string("dist.") + op + ": no process group (call initProcessGroup first)");
  }
  if (g_group->failed) {
    throw Napi::Error::New(env, std::string("dist.") + op + ": the process group already failed; restart the job");
  }
  return *g_group;
}

std::string hbKey(const Group& g, int r) { return g.prefix + "/hb/" + std::to_string(r); }

void heartbeatLoop(Group* g) {
  while (!g->hbStop) {
    try {
      std::lock_guard<std::mutex> lk(g->hbLock);
      g->hbStore->add(hbKey(*g, g->rank), 1);
    } catch (...) {
      // The store is gone (rank 0 died) or busy: the diagnosis reports it when a collective fails.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(HEARTBEAT_MS));
  }
}

// Which ranks stopped answering: two reads of every heartbeat counter, 3 periods apart.
std::string diagnose(Group& g) {
  std::vector<int64_t> a(g.world), b(g.world);
  try {
    {
      std::lock_guard<std::mutex> lk(g.hbLock);
      for (int r = 0; r < g.world; r++) a[r] = g.hbStore->add(hbKey(g, r), 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3 * HEARTBEAT_MS + 100));
    {
      std::lock_guard<std::mutex> lk(g.hbLock);
      for (int r = 0; r < g.world; r++) b[r] = g.hbStore->add(hbKey(g, r), 0);
    }
  } catch (const std::exception& e) {
    return "the rendezvous store at " + g.where + " is unreachable, so its host (rank 0, or torchrun's agent on the master) is gone";
  }
  std::string dead;
  for (int r = 0; r < g.world; r++) {
    if (r != g.rank && b[r] == a[r]) dead += (dead.empty() ? "" : ", ") + std::to_string(r);
  }
  if (dead.empty()) return "every rank still answers its heartbeat (a rank may be stalled, or the network failed)";
  return std::string(dead.find(',') == std::string::npos ? "rank " : "ranks ") + dead + " stopped answering (heartbeat frozen)";
}

// Waits for a collective; on failure marks the group failed and names the ranks that are gone.
// Throws std::runtime_error (GUARD turns it into a JS Error): it may run inside autograd's backward.
template <typename W>
void waitOrExplain(Group& g, W work, const char* op) {
  try {
    work->wait();
  } catch (const std::exception& e) {
    g.failed = true;
    std::string why = diagnose(g);
    std::string msg = e.what();
    if (auto c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
    throw std::runtime_error("dist." + std::string(op) + " failed on rank " + std::to_string(g.rank) + " of " +
                             std::to_string(g.world) + " (" + g.backend + ", timeout " + std::to_string(g.timeout.count()) +
                             " ms): " + why + "; " + msg);
  }
}

#define PG_CALL(g, CALL) ((g).gloo ? (g).gloo->CALL : NCCL_CALL(g, CALL))
#ifdef RETALIGN_NCCL
#define NCCL_CALL(g, CALL) (g).nccl->CALL
#else
#define NCCL_CALL(g, CALL) (throw std::runtime_error("no NCCL"), (g).gloo->CALL)
#endif

void allreduceSum(Group& g, torch::Tensor& t, const char* op) {
  std::vector<torch::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  waitOrExplain(g, PG_CALL(g, allreduce(v, o)), op);
}

// Several tensors as one flat buffer for one collective (a view of the tensor itself when there is
// one contiguous tensor), and the buffer's values back into them (nothing to do for that view).
torch::Tensor flatten(const std::vector<torch::Tensor>& xs) {
  if (xs.size() == 1 && xs[0].is_contiguous()) return xs[0].view(-1);
  std::vector<torch::Tensor> flat;
  for (const auto& x : xs) flat.push_back(x.reshape(-1));
  return torch::cat(flat);
}

void unflattenInto(const torch::Tensor& buf, std::vector<torch::Tensor>& xs) {
  if (xs.size() == 1 && xs[0].is_contiguous()) return;
  int64_t off = 0;
  for (auto& x : xs) {
    x.copy_(buf.narrow(0, off, x.numel()).view_as(x));
    off += x.numel();
  }
}

void broadcastFrom(Group& g, torch::Tensor& t, int root, const char* op) {
  std::vector<torch::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  waitOrExplain(g, PG_CALL(g, broadcast(v, o)), op);
}

// Every rank's x (same shape), concatenated along dim 0 in rank order: (world * n, ...).
torch::Tensor gatherCat(Group& g, const torch::Tensor& x, const char* op) {
  torch::Tensor src = x.contiguous();
  // Sizes first: Gloo needs equal sizes, and a mismatch should say so rather than corrupt memory.
  auto n = torch::tensor({src.dim() > 0 ? src.size(0) : int64_t(1)}, torch::TensorOptions().dtype(torch::kInt64).device(src.device()));
  std::vector<std::vector<torch::Tensor>> ns(1);
  for (int r = 0; r < g.world; r++) ns[0].push_back(torch::empty_like(n));
  std::vector<torch::Tensor> nin{n};
  waitOrExplain(g, PG_CALL(g, allgather(ns, nin)), op);
  for (int r = 0; r < g.world; r++) {
    int64_t nr = ns[0][r].item<int64_t>();
    if (nr != n.item<int64_t>()) {
      throw std::runtime_error(std::string("dist.") + op + ": rank " + std::to_string(r) + " has " + std::to_string(nr) +
                               " rows, rank " + std::to_string(g.rank) + " has " + std::to_string(n.item<int64_t>()) +
                               " (every rank must gather the same shape)");
    }
  }
  std::vector<std::vector<torch::Tensor>> outs(1);
  for (int r = 0; r < g.world; r++) outs[0].push_back(torch::empty_like(src));
  std::vector<torch::Tensor> in{src};
  waitOrExplain(g, PG_CALL(g, allgather(outs, in)), op);
  return torch::cat(outs[0], 0);
}

// OpenCLIP's gather_with_grad (torch.distributed.nn.all_gather): forward concatenates every rank's
// rows; backward sums the gathered gradient over ranks (each rank differentiated the same global
// loss) and keeps this rank's rows.
struct GatherWithGrad : public torch::autograd::Function<GatherWithGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x) {
    Group& g = *g_group;
    ctx->saved_data["n"] = x.size(0);
    return gatherCat(g, x.detach(), "allGatherWithGrad");
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    Group& g = *g_group;
    int64_t n = ctx->saved_data["n"].toInt();
    torch::Tensor gsum = grads[0].contiguous().clone();
    allreduceSum(g, gsum, "allGatherWithGrad (backward)");
    return {gsum.narrow(0, g.rank * n, n)};
  }
};

std::string str(const Napi::Object& o, const char* k, const std::string& dflt) {
  return o.Has(k) && o.Get(k).IsString() ? o.Get(k).As<Napi::String>().Utf8Value() : dflt;
}
int64_t i64(const Napi::Object& o, const char* k, int64_t dflt) {
  return o.Has(k) && o.Get(k).IsNumber() ? o.Get(k).As<Napi::Number>().Int64Value() : dflt;
}

}  // namespace

// initProcessGroup({ backend: 'gloo'|'nccl', rank, worldSize, timeoutMs, store: 'tcp'|'file',
//                    host, port, path, storeServer?, prefix? }): joins the group; rank 0 hosts the
// TCPStore unless storeServer is false (under torchrun its agent hosts it at MASTER_PORT).
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  if (g_group != nullptr && !g_group->failed) throw Napi::Error::New(env, "dist.initProcessGroup: a process group already exists (destroy it first)");
  Napi::Object o = info[0].As<Napi::Object>();
  auto g = std::make_unique<Group>();
  g->backend = str(o, "backend", "gloo");
  g->rank = static_cast<int>(i64(o, "rank", 0));
  g->world = static_cast<int>(i64(o, "worldSize", 1));
  g->timeout = std::chrono::milliseconds(i64(o, "timeoutMs", 30000));
  if (g->world < 1 || g->rank < 0 || g->rank >= g->world) {
    throw Napi::Error::New(env, "dist.initProcessGroup: rank " + std::to_string(g->rank) + " is not in [0, worldSize=" + std::to_string(g->world) + ")");
  }
  g->prefix = str(o, "prefix", "retalign");
  std::string kind = str(o, "store", "tcp");
  if (kind == "tcp") {
    std::string host = str(o, "host", "127.0.0.1");
    int64_t port = i64(o, "port", 29500);
    g->where = "tcp://" + host + ":" + std::to_string(port);
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = o.Has("storeServer") && o.Get("storeServer").IsBoolean() ? o.Get("storeServer").As<Napi::Boolean>().Value() : g->rank == 0;
    so.numWorkers = static_cast<std::size_t>(g->world);
    so.waitWorkers = true;
    so.timeout = g->timeout;
    g->store = c10::make_intrusive<c10d::TCPStore>(host, so);
    c10d::TCPStoreOptions ho = so;
    ho.isServer = false;
    ho.numWorkers = decltype(ho.numWorkers)();  // empty, in c10::optional (1.13) and std::optional (2.x) alike
    ho.waitWorkers = false;
    ho.timeout = std::chrono::milliseconds(std::min<int64_t>(g->timeout.count(), 5000));
    g->hbStore = c10::make_intrusive<c10d::TCPStore>(host, ho);
  } else if (kind == "file") {
    std::string path = str(o, "path", "");
    if (path.empty()) throw Napi::Error::New(env, "dist.initProcessGroup: store 'file' needs a path");
    g->where = "file://" + path;
    g->store = c10::make_intrusive<c10d::FileStore>(path, g->world);
    g->store->setTimeout(g->timeout);
    g->hbStore = g->store;  // FileStore ops are serialized by a file lock
  } else {
    throw Napi::Error::New(env, "dist.initProcessGroup: store '" + kind + "' is not one of tcp, file");
  }
  if (g->backend == "gloo") {
    auto go = c10d::ProcessGroupGloo::Options::create(g->timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != 0) {
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else {
      // As torch.distributed: the address this host's name resolves to, else loopback.
      try {
        go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      } catch (const std::exception&) {
        go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      }
    }
    go->threads = 2;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(g->prefix + "/pg", g->store);
    g->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, g->rank, g->world, go);
  } else if (g->backend == "nccl") {
#ifdef RETALIGN_NCCL
    auto no = c10d::ProcessGroupNCCL::Options::create();
    no->timeout = g->timeout;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(g->prefix + "/pg", g->store);
    g->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, g->rank, g->world, no);
#else
    throw Napi::Error::New(env, "dist.initProcessGroup: backend 'nccl' is not available: this addon was built against a libtorch "
                                "without NCCL (a CPU build such as Debian's); use backend 'gloo', or rebuild native/ against a CUDA "
                                "libtorch (LIBTORCH=<dir> or a CUDA python torch)");
#endif
  } else {
    throw Napi::Error::New(env, "dist.initProcessGroup: backend '" + g->backend + "' is not one of gloo, nccl");
  }
  {
    std::lock_guard<std::mutex> lk(g->hbLock);
    g->hbStore->add(hbKey(*g, g->rank), 1);
  }
  Group* raw = g.release();
  std::thread(heartbeatLoop, raw).detach();
  g_group = raw;
  return env.Undefined();
  GUARD_END
}

// Stops the heartbeat and forgets the group. The objects are leaked if the group failed (their
// destructors could block on a dead peer); a healthy group is destroyed.
Napi::Value DestroyProcessGroup(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  if (g_group == nullptr) return info.Env().Undefined();
  Group* g = g_group;
  g_group = nullptr;
  g->hbStop = true;
  // The detached heartbeat thread still holds g: leave it (a few hundred bytes) rather than race it.
  if (!g->failed) {
    if (g->gloo) {
      g->gloo->barrier()->wait();
    }
  }
  return info.Env().Undefined();
  GUARD_END
}

Napi::Value DistInfo(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", true);
#ifdef RETALIGN_NCCL
  o.Set("nccl", true);
#else
  o.Set("nccl", false);
#endif
  o.Set("initialized", g_group != nullptr);
  if (g_group != nullptr) {
    o.Set("rank", g_group->rank);
    o.Set("worldSize", g_group->world);
    o.Set("backend", g_group->backend);
    o.Set("store", g_group->where);
  }
  return o;
  GUARD_END
}

// allReduce(tensors, op: 'sum'|'mean'): in place; the tensors travel as one flat buffer per dtype.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Group& g = group(env, "allReduce");
  auto xs = tensors(info[0]);
  std::string op = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum";
  if (op != "sum" && op != "mean") throw Napi::Error::New(env, "dist.allReduce: op '" + op + "' is not one of sum, mean");
  torch::NoGradGuard ng;
  if (xs.empty()) return env.Undefined();
  torch::Tensor buf = flatten(xs);
  allreduceSum(g, buf, "allReduce");
  if (op == "mean") buf.div_(g.world);
  unflattenInto(buf, xs);
  return env.Undefined();
  GUARD_END
}

// broadcast(tensors, root): in place, as one flat buffer.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Group& g = group(env, "broadcast");
  auto xs = tensors(info[0]);
  int root = static_cast<int>(integer(info, 1, 0));
  torch::NoGradGuard ng;
  if (xs.empty()) return env.Undefined();
  for (auto& x : xs) {
    if (x.scalar_type() != xs[0].scalar_type()) throw Napi::Error::New(env, "dist.broadcast: tensors of one call must share a dtype");
  }
  torch::Tensor buf = flatten(xs);
  broadcastFrom(g, buf, root, "broadcast");
  unflattenInto(buf, xs);
  return env.Undefined();
  GUARD_END
}

// allGather(x): every rank's x concatenated along dim 0 (no gradient).
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Group& g = group(env, "allGather");
  torch::NoGradGuard ng;
  return wrap(env, gatherCat(g, T(info[0]), "allGather"));
  GUARD_END
}

// allGatherWithGrad(x): as allGather, with the gradient of this rank's rows (see GatherWithGrad).
Napi::Value AllGatherWithGrad(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  group(env, "allGatherWithGrad");
  return wrap(env, GatherWithGrad::apply(T(info[0])));
  GUARD_END
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Group& g = group(env, "barrier");
  waitOrExplain(g, PG_CALL(g, barrier()), "barrier");
  return env.Undefined();
  GUARD_END
}

// allReduceGradients(params, bucketBytes): averages the gradients over ranks in buckets of at most
// bucketBytes (one all-reduce per bucket, as DDP's 25 MiB buckets). A parameter whose gradient is
// undefined on some ranks (an input dropped there) reduces as zeros, and stays undefined only when
// it is undefined on every rank, so all ranks hold the same gradients afterwards.
Napi::Value AllReduceGradients(const Napi::CallbackInfo& info) {
  GUARD_BEGIN
  Napi::Env env = info.Env();
  Group& g = group(env, "allReduceGradients");
  auto ps = tensors(info[0]);
  int64_t cap = integer(info, 1, 25 << 20);
  torch::NoGradGuard ng;
  const int64_t P = static_cast<int64_t>(ps.size());
  if (P == 0) return env.Undefined();
  auto dev = ps[0].device();
  std::vector<float> hasV(P, 0.0f);
  for (int64_t i = 0; i < P; i++) hasV[i] = ps[i].grad().defined() ? 1.0f : 0.0f;
  torch::Tensor has = torch::tensor(hasV).to(dev);
  allreduceSum(g, has, "allReduceGradients (which gradients exist)");
  auto hasCpu = has.cpu().contiguous();
  const float* hasP = hasCpu.data_ptr<float>();
  std::vector<torch::Tensor> grads(P);
  for (int64_t i = 0; i < P; i++) {
    if (hasP[i] == 0) continue;
    if (!ps[i].grad().defined()) ps[i].mutable_grad() = torch::zeros_like(ps[i]);
    grads[i] = ps[i].grad();
  }
  int64_t i = 0;
  while (i < P) {
    if (!grads[i].defined()) { i++; continue; }
    // One bucket: consecutive gradients of one dtype and device up to cap bytes.
    std::vector<int64_t> idx{i};
    int64_t bytes = grads[i].numel() * grads[i].element_size();
    int64_t j = i + 1;
    for (; j < P; j++) {
      if (!grads[j].defined()) continue;
      int64_t b = grads[j].numel() * grads[j].element_size();
      if (grads[j].scalar_type() != grads[i].scalar_type() || grads[j].device() != grads[i].device() || bytes + b > cap) break;
      idx.push_back(j);
      bytes += b;
    }
    std::vector<torch::Tensor> bucket;
    for (auto k : idx) bucket.push_back(grads[k]);
    torch::Tensor buf = flatten(bucket);
    allreduceSum(g, buf, "allReduceGradients");
    buf.div_(g.world);
    unflattenInto(buf, bucket);
    i = j;
  }
  return env.Undefined();
  GUARD_END
}

#else  // RETALIGN_NO_DIST

static Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "distributed training is not available: this addon was built against a libtorch without "
                                     "c10d's headers or without gloo's headers (Debian: apt-get install libgloo-dev; then node native/build.mjs --force)");
}
static Napi::Value DistInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", false);
  o.Set("nccl", false);
  o.Set("initialized", false);
  return o;
}
#define InitProcessGroup Unavailable
#define DestroyProcessGroup Unavailable
#define AllReduce Unavailable
#define Broadcast Unavailable
#define AllGather Unavailable
#define AllGatherWithGrad Unavailable
#define Barrier Unavailable
#define AllReduceGradients Unavailable

#endif

void RegisterDist(Napi::Env env, Napi::Object exports) {
  EXPORT("distInit", InitProcessGroup);
  EXPORT("distDestroy", DestroyProcessGroup);
  EXPORT("distInfo", DistInfo);
  EXPORT("distAllReduce", AllReduce);
  EXPORT("distBroadcast", Broadcast);
  EXPORT("distAllGather", AllGather);
  EXPORT("distAllGatherWithGrad", AllGatherWithGrad);
  EXPORT("distBarrier", Barrier);
  EXPORT("distAllReduceGradients", AllReduceGradients);
}

}  // namespace retalign
