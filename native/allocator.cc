// A caching CPU allocator for large tensor buffers, installed as libtorch's CPU allocator when the
// addon loads (RETALIGN_CPU_CACHE_MB=0 leaves libtorch's default, glibc's posix_memalign).
//
// Why: a training step frees and allocates the same large buffers every step (activations,
// gradients). Through glibc they either come from fresh mmap()s, whose pages the kernel faults in
// and zeroes on first touch, or from a heap that, in this process, fragments and grows: JS handles
// (small C++ objects freed only when V8 collects them) sit between the large blocks. Measured on
// bench/engine's ViT-S block step, 1 thread (the 2-core machine, Dec 2026): with glibc's defaults
// ~90k page faults per step, about 40% of the step's CPU time in the kernel, and a peak RSS that
// grew ~100 MB per step (3.7 GB after 30 steps; live tensors flat: fragmentation, not a leak).
// Blocks of at least kMinBytes are kept after their tensor dies and handed out again for a request
// of the same rounded size, up to a cap (RETALIGN_CPU_CACHE_MB, default 2048); a block that would
// pass the cap is returned to glibc, and a request that finds no block of its size first frees
// cached blocks of other sizes so that live + cached stays within twice the peak of live large buffers.
// Contents are never read: results are bit-identical.
//
// Thread safety: one mutex (autograd and data-loading threads allocate too); a large block is
// >= 256 KiB of compute, so the lock is not on any hot path.

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace retalign {
namespace {

constexpr size_t kMinBytes = 256 * 1024;  // smaller blocks: glibc's bins serve them well
constexpr size_t kRound = 4096;           // sizes rounded to pages, so near sizes share a bucket
constexpr size_t kAlign = 64;             // libtorch's own CPU alignment (AVX-512 loads)
constexpr int64_t kSlack = 2;             // live + cached <= kSlack x the peak of live (see trim)

struct Stats {
  int64_t hits = 0, misses = 0, cachedBytes = 0, liveBytes = 0, released = 0, peakLiveBytes = 0;
};

class CachingCPUAllocator final : public c10::Allocator {
 public:
  explicit CachingCPUAllocator(size_t capBytes) : cap_(capBytes) {}

  // libtorch 1.13 declares allocate const, later releases not, and 2.x adds copy_data: each
  // release overrides the ones it declares (no `override`, so the same source builds against both).
  c10::DataPtr allocate(size_t n) const { return alloc(n); }
  c10::DataPtr allocate(size_t n) { return alloc(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }
  c10::DeleterFnPtr raw_deleter() const override { return &freeAny; }

  Stats stats() const {
    std::lock_guard<std::mutex> g(mu_);
    return stats_;
  }

 private:
  static void* fresh(size_t bytes) {
    void* p = nullptr;
    if (posix_memalign(&p, kAlign, bytes) != 0 || p == nullptr) {
      TORCH_CHECK(false, "retalign CPU allocator: out of memory allocating ", bytes, " bytes");
    }
    return p;
  }

  c10::DataPtr alloc(size_t n) const {
    if (n < kMinBytes) {
      void* p = n == 0 ? nullptr : fresh(n);
      return {p, p, &freeAny, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t bytes = (n + kRound - 1) / kRound * kRound;
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        stats_.cachedBytes -= static_cast<int64_t>(bytes);
        stats_.hits++;
      } else {
        stats_.misses++;
      }
      stats_.liveBytes += static_cast<int64_t>(bytes);
    }
    if (p == nullptr) {
      trim();
      p = fresh(bytes);
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      sizes_[p] = bytes;
      stats_.peakLiveBytes = std::max(stats_.peakLiveBytes, stats_.liveBytes);
    }
    return {p, p, &freeAny, c10::Device(c10::DeviceType::CPU)};
  }

  // Before a miss allocates its block (already counted in liveBytes): cached blocks of other sizes are
  // freed until live + cached is at most twice the largest live total so far, so a run whose shapes
  // change (training then evaluation at another batch size) does not stack stale sizes up to the cap.
  // Twice, not once: with no slack every miss in a step whose cache is full (tidy frees a step's
  // buffers at its end) evicted blocks the same step needed next (27k page faults per ViT-S step).
  void trim() const {
    std::vector<void*> out;
    {
      std::lock_guard<std::mutex> g(mu_);
      const int64_t budget = kSlack * std::max(stats_.peakLiveBytes, stats_.liveBytes);
      for (auto it = free_.begin(); it != free_.end() && stats_.liveBytes + stats_.cachedBytes > budget;) {
        auto& blocks = it->second;
        while (!blocks.empty() && stats_.liveBytes + stats_.cachedBytes > budget) {
          out.push_back(blocks.back());
          blocks.pop_back();
          stats_.cachedBytes -= static_cast<int64_t>(it->first);
          stats_.released++;
        }
        it = blocks.empty() ? free_.erase(it) : std::next(it);
      }
    }
    for (void* p : out) std::free(p);
  }

  // One deleter for every block, also returned by raw_deleter(): libtorch frees raw_allocate()d
  // scratch buffers through it (and asserts that it exists).
  static void freeAny(void* p);
  void give(void* p) {
    if (p == nullptr) return;
    bool keep = false;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto s = sizes_.find(p);
      if (s == sizes_.end()) {  // a small block: glibc's
        keep = false;
      } else {
        const size_t bytes = s->second;
        sizes_.erase(s);
        stats_.liveBytes -= static_cast<int64_t>(bytes);
        if (static_cast<size_t>(stats_.cachedBytes) + bytes <= cap_) {
          free_[bytes].push_back(p);
          stats_.cachedBytes += static_cast<int64_t>(bytes);
          keep = true;
        } else {
          stats_.released++;
        }
      }
    }
    if (!keep) std::free(p);
  }

  const size_t cap_;
  mutable std::mutex mu_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;  // rounded size -> cached blocks
  mutable std::unordered_map<void*, size_t> sizes_;              // live large block -> rounded size
  mutable Stats stats_;
};

// Never destroyed: tensors freed during static destruction at exit still find it.
CachingCPUAllocator* g_alloc = nullptr;

void CachingCPUAllocator::freeAny(void* p) { g_alloc->give(p); }

size_t capFromEnv() {
  const char* v = std::getenv("RETALIGN_CPU_CACHE_MB");
  if (v == nullptr || *v == '\0') return size_t{2048} << 20;
  char* end = nullptr;
  const long long mb = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || mb < 0) return size_t{2048} << 20;  // unreadable: the default (cpuAllocator() shows it)
  return static_cast<size_t>(mb) << 20;
}

Napi::Value CpuAllocator(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("caching", Napi::Boolean::New(info.Env(), g_alloc != nullptr));
  if (g_alloc != nullptr) {
    const Stats s = g_alloc->stats();
    o.Set("capBytes", Napi::Number::New(info.Env(), static_cast<double>(capFromEnv())));
    o.Set("hits", Napi::Number::New(info.Env(), static_cast<double>(s.hits)));
    o.Set("misses", Napi::Number::New(info.Env(), static_cast<double>(s.misses)));
    o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(s.cachedBytes)));
    o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(s.liveBytes)));
    o.Set("released", Napi::Number::New(info.Env(), static_cast<double>(s.released)));
    o.Set("peakLiveBytes", Napi::Number::New(info.Env(), static_cast<double>(s.peakLiveBytes)));
  }
  return o;
}

}  // namespace

void RegisterAllocator(Napi::Env env, Napi::Object exports) {
  static std::once_flag once;
  std::call_once(once, [] {
    const size_t cap = capFromEnv();
    if (cap == 0) return;
    g_alloc = new CachingCPUAllocator(cap);
    c10::SetCPUAllocator(g_alloc, /*priority=*/1);
  });
  EXPORT("cpuAllocator", CpuAllocator);
}

}  // namespace retalign
