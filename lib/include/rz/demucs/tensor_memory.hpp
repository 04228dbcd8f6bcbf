// Memory for libtorch's CPU tensors: an arena that gives each forward of a network the memory
// of the forward before, so that hours of audio run in the footprint of one segment.
//
// Why our own: libtorch caches memory for CUDA only; its CPU tensors come from posix_memalign,
// and glibc either returns each large block to the kernel (every segment then page-faults its
// temporaries in again: the official Python code loses a third of its time that way on a 2-core
// machine) or, told to keep them (what rz-separate did before), shares one heap between tensors
// and everything else, which fragments: the peak of a 3-hour separation crept 6 to 19 % above
// that of a 10-minute one, and the full-size model's 40 s peak varied from 1042 to 1273 MiB
// between runs (bench/README.md, "long.sh"). jemalloc or tcmalloc would replace malloc for the
// whole process to fix a pattern that is simple to serve exactly: a forward asks for the same
// sizes in the same order every segment.
//
// The policy: tensors of at least kArenaMinBytes are carved, best fit, out of large segments
// of address space that are never given back; a freed tensor merges with its free neighbours.
// Between two segments of audio only the weights stay allocated, so every forward starts from
// the same free space, makes the same choices and ends where the one before ended: after the
// first forwards nothing new is touched, whatever the length of the recording, and no segment
// page-faults its temporaries in again. Smaller tensors go to the allocator libtorch had before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rz::demucs {

// Tensors below this size stay with libtorch's own allocator: they are many and short-lived,
// and glibc serves them from its free lists without faults.
inline constexpr size_t kArenaMinBytes = size_t{1} << 16;

// Sizes are rounded up to whole pages: a tensor starts on a page and a free rest is never
// smaller than one.
inline constexpr size_t kArenaGrainBytes = size_t{1} << 12;

// Address space reserved at a time (MAP_NORESERVE: only touched pages become memory). One
// segment holds the whole working set of an HTDemucs forward (about 0.5 GiB live), so that no
// tensor is refused a place by the boundary between two segments.
inline constexpr size_t kArenaSegmentBytes = size_t{4} << 30;

// Installs the arena as libtorch's CPU allocator. Idempotent and thread-safe;
// tensors allocated before the first call keep their old allocator (and are freed by it).
void use_tensor_arena();

struct TensorMemoryStats {
  size_t live_bytes = 0;       // in tensors now (arena only)
  size_t peak_live_bytes = 0;  // the most ever live at once
  size_t touched_bytes = 0;    // the extent blocks ever reached: what the arena holds in memory
  size_t reserved_bytes = 0;   // address space of the segments
  uint64_t segments = 0;
  uint64_t hits = 0;    // requests served from free space already reserved
  uint64_t misses = 0;  // requests that needed a new segment
};

// The arena's counters (all zero before use_tensor_arena()).
TensorMemoryStats tensor_memory_stats();

// One line for a log: "537.0 MiB live at most, 668.2 MiB touched in 1 segment(s); 12554
// requests, 1 of them for a new segment".
std::string summary(const TensorMemoryStats& stats);

}  // namespace rz::demucs
