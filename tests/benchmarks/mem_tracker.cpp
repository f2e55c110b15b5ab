// Heap accounting for the benchmarks: the C allocation functions of the process are
// replaced by thin wrappers around glibc's own (__libc_malloc and friends) that keep the
// number of bytes in use and its high-water mark. Eigen allocates every dense matrix
// through malloc, so "bytes in use" after constructing an editor is what the editor holds,
// and the high-water mark over a step is its peak. OpenBLAS's fixed work buffers are
// mmap'ed directly and are not counted.
//
// glibc only (the wrappers need __libc_*); elsewhere the counters stay 0.

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

// Declared again in bench_seqedit.cpp, which uses them.
namespace seqedit_bench {
bool heap_tracking();
std::int64_t heap_bytes();
std::int64_t heap_peak();
void reset_heap_peak();
}  // namespace seqedit_bench

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
#include <malloc.h>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<std::int64_t> g_current{0};
std::atomic<std::int64_t> g_peak{0};

inline void* account(void* p) {
  if (p) {
    const auto n = static_cast<std::int64_t>(malloc_usable_size(p));
    const std::int64_t now = g_current.fetch_add(n, std::memory_order_relaxed) + n;
    std::int64_t peak = g_peak.load(std::memory_order_relaxed);
    while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  return p;
}
inline void release(void* p) {
  if (p) g_current.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) noexcept { return account(__libc_malloc(n)); }
void* calloc(std::size_t a, std::size_t b) noexcept { return account(__libc_calloc(a, b)); }
void free(void* p) noexcept {
  release(p);
  __libc_free(p);
}
void* realloc(void* p, std::size_t n) noexcept {
  if (!p) return account(__libc_malloc(n));
  if (n == 0) {
    release(p);
    __libc_free(p);
    return nullptr;
  }
  const auto old = static_cast<std::int64_t>(malloc_usable_size(p));
  void* q = __libc_realloc(p, n);
  if (!q) return nullptr;  // p untouched
  g_current.fetch_sub(old, std::memory_order_relaxed);
  return account(q);
}
void* memalign(std::size_t a, std::size_t n) noexcept { return account(__libc_memalign(a, n)); }
void* aligned_alloc(std::size_t a, std::size_t n) noexcept { return account(__libc_memalign(a, n)); }
int posix_memalign(void** out, std::size_t a, std::size_t n) noexcept {
  if (a < sizeof(void*) || (a & (a - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(a, n);
  if (!p && n != 0) return ENOMEM;
  *out = account(p);
  return 0;
}
void* valloc(std::size_t n) noexcept { return account(__libc_memalign(4096, n)); }
}

namespace seqedit_bench {
bool heap_tracking() { return true; }
std::int64_t heap_bytes() { return g_current.load(std::memory_order_relaxed); }
std::int64_t heap_peak() { return g_peak.load(std::memory_order_relaxed); }
void reset_heap_peak() { g_peak.store(g_current.load(std::memory_order_relaxed), std::memory_order_relaxed); }
}  // namespace seqedit_bench

#else

namespace seqedit_bench {
bool heap_tracking() { return false; }
std::int64_t heap_bytes() { return 0; }
std::int64_t heap_peak() { return 0; }
void reset_heap_peak() {}
}  // namespace seqedit_bench

#endif
