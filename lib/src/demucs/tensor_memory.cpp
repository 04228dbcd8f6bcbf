#include "rz/demucs/tensor_memory.hpp"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "rz/error.hpp"

namespace rz::demucs {

namespace {

// libtorch 2.3 made allocate() non-const and requires copy_data(); 1.13 has neither. (2.0 to
// 2.2 are not supported by this file.)
#define RZ_TORCH_2_3 \
  (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3))
#if RZ_TORCH_2_3
#define RZ_ALLOCATE_CONST
#else
#define RZ_ALLOCATE_CONST const
#endif

// A run of one segment's address space: in use by one tensor, or free. Blocks that touch in
// the same segment are linked, so that a freed block merges with free neighbours.
struct Block {
  char* addr;
  size_t size;
  bool free;
  Block* prev;  // the block just below in the same segment, or null
  Block* next;  // the block just above, or null
};

// Best fit: the smallest free block that is large enough, the lowest address among equals.
struct BySizeThenAddress {
  bool operator()(const Block* a, const Block* b) const {
    return a->size != b->size ? a->size < b->size : a->addr < b->addr;
  }
};

class ArenaCpuAllocator final : public c10::Allocator {
 public:
  explicit ArenaCpuAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t n) RZ_ALLOCATE_CONST override {
    if (n < kArenaMinBytes) return fallback_->allocate(n);
    void* p = const_cast<ArenaCpuAllocator*>(this)->take(n);
    // The context is the pointer itself (a "simple" data pointer, as libtorch's own allocator
    // makes), so that clone() and copy-on-write treat these tensors like any others.
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

#if RZ_TORCH_2_3
  void copy_data(void* dest, const void* src, size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif

  TensorMemoryStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  static ArenaCpuAllocator* instance;

 private:
  static void release(void* p) { instance->give_back(p); }

  void* take(size_t n) {
    TORCH_CHECK(n <= SIZE_MAX - kArenaGrainBytes, "not enough memory for a tensor of ", n,
                " bytes");
    const size_t bytes = (n + kArenaGrainBytes - 1) / kArenaGrainBytes * kArenaGrainBytes;
    std::lock_guard<std::mutex> lock(mu_);
    Block key{nullptr, bytes, true, nullptr, nullptr};
    auto it = free_.lower_bound(&key);
    Block* b = nullptr;
    if (it != free_.end()) {
      b = *it;
      free_.erase(it);
      ++stats_.hits;
    } else {
      b = new_segment(bytes);
      TORCH_CHECK(b, "not enough memory for a tensor of ", n, " bytes");
      ++stats_.misses;
    }
    if (b->size - bytes >= kArenaGrainBytes) {  // split: the rest stays free
      Block* rest = new Block{b->addr + bytes, b->size - bytes, true, b, b->next};
      if (b->next) b->next->prev = rest;
      b->next = rest;
      b->size = bytes;
      free_.insert(rest);
    }
    b->free = false;
    // Under AddressSanitizer a block is addressable only while it is a tensor, and only its first
    // n bytes: use after free and overruns into the page's rest are reported as for malloc.
    ASAN_UNPOISON_MEMORY_REGION(b->addr, n);
    ASAN_POISON_MEMORY_REGION(b->addr + n, b->size - n);
    live_.emplace(b->addr, b);
    stats_.live_bytes += b->size;
    stats_.peak_live_bytes = std::max(stats_.peak_live_bytes, stats_.live_bytes);
    // The pages a block reaches become memory on first touch and stay: count the extent.
    auto seg = std::prev(segments_.upper_bound(b->addr));
    const size_t reach = static_cast<size_t>(b->addr + b->size - seg->first);
    if (reach > seg->second) {
      stats_.touched_bytes += reach - seg->second;
      seg->second = reach;
    }
    return b->addr;
  }

  void give_back(void* p) {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {
      // A small block handed out by raw_allocate() (oneDNN's scratch memory comes that way):
      // it carries our raw deleter but belongs to the fallback allocator.
      lock.unlock();
      if (const auto del = fallback_->raw_deleter()) del(p);
      return;
    }
    Block* b = it->second;
    live_.erase(it);
    stats_.live_bytes -= b->size;
    b->free = true;
    ASAN_POISON_MEMORY_REGION(b->addr, b->size);
    if (b->next && b->next->free) b = merge(b, b->next);
    if (b->prev && b->prev->free) b = merge(b->prev, b);
    free_.insert(b);
  }

  // Merges `high`, the block just above `low`, into `low`; neither stays in the free set.
  Block* merge(Block* low, Block* high) {
    free_.erase(low);
    free_.erase(high);
    low->size += high->size;
    low->next = high->next;
    if (high->next) high->next->prev = low;
    delete high;
    return low;
  }

  // A new segment of address space: kArenaSegmentBytes (only the pages a tensor touches become
  // memory), or just the request when that is larger or the system refuses the reservation.
  Block* new_segment(size_t bytes) {
    size_t size = std::max(bytes, kArenaSegmentBytes);
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED && size > bytes) {
      size = bytes;
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) return nullptr;
    // Transparent huge pages where the kernel offers them on request ("madvise", Debian's
    // default): a first touch then costs one fault per 2 MiB instead of one per 4 KiB, and the
    // forwards' large products miss the TLB less. Advice only: refused, the pages stay small.
    madvise(p, size, MADV_HUGEPAGE);
    ++stats_.segments;
    stats_.reserved_bytes += size;
    segments_.emplace(static_cast<char*>(p), 0);
    return new Block{static_cast<char*>(p), size, true, nullptr, nullptr};
  }

  c10::Allocator* fallback_;
  std::mutex mu_;
  std::unordered_map<void*, Block*> live_;
  std::set<Block*, BySizeThenAddress> free_;
  std::map<char*, size_t> segments_;  // base -> bytes from the base that blocks ever reached
  TensorMemoryStats stats_;
};

ArenaCpuAllocator* ArenaCpuAllocator::instance = nullptr;

// Above the default CPU allocator's registration (priority 0).
constexpr uint8_t kAllocatorPriority = 1;

}  // namespace

void use_tensor_arena() {
  static const bool installed = [] {
    // Never deleted: tensors freed during static destruction still come back to it.
    ArenaCpuAllocator::instance = new ArenaCpuAllocator(c10::GetCPUAllocator());
    c10::SetCPUAllocator(ArenaCpuAllocator::instance, kAllocatorPriority);
    return true;
  }();
  (void)installed;
}

std::string summary(const TensorMemoryStats& st) {
  constexpr double kMiB = 1 << 20;
  return fixed(static_cast<double>(st.peak_live_bytes) / kMiB, 1) + " MiB live at most, " +
         fixed(static_cast<double>(st.touched_bytes) / kMiB, 1) + " MiB touched in " +
         std::to_string(st.segments) + " segment(s); " + std::to_string(st.hits + st.misses) +
         " requests, " + std::to_string(st.misses) + " of them for a new segment";
}

TensorMemoryStats tensor_memory_stats() {
  return ArenaCpuAllocator::instance ? ArenaCpuAllocator::instance->stats() : TensorMemoryStats{};
}

}  // namespace rz::demucs
