// The global allocation functions of the command-line program. Large blocks are advised to the
// kernel as transparent huge page candidates.
//
// A quantization run allocates, fills and frees buffers of hundreds of MiB for each weight. glibc
// serves blocks that large with a fresh anonymous mapping, and the first touch of each 4 KiB page
// is a page fault. On the virtual machines of the benchmarks those faults cost more system time
// than the quantization itself (856 thousand faults, 4.7 s of system time against 1.0 s of user
// time for an INT8 run on a 1.6 GiB model). With the advice, the same run took 43 thousand faults,
// because a 2 MiB page takes one fault. Where transparent huge pages are disabled (`never` in
// /sys/kernel/mm/transparent_hugepage/enabled), the kernel ignores the advice.
//
// Sanitizer builds leave this file out, so that AddressSanitizer's own operator new checks
// mismatched new and delete.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace {

constexpr std::uintptr_t kHugePageBytes = std::uintptr_t{2} << 20;
// Smaller blocks are left alone: they are often reused from glibc's heap, and rounding to huge
// pages would cost more memory than the faults it saves.
constexpr std::size_t kAdviseFromBytes = std::size_t{8} << 20;

void advise_huge_pages(void* block, std::size_t size) {
  if (size < kAdviseFromBytes) return;
  const auto address = reinterpret_cast<std::uintptr_t>(block);
  const std::uintptr_t begin = (address + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const std::uintptr_t end = (address + size) & ~(kHugePageBytes - 1);
  // The advice is a hint: a kernel without transparent huge pages returns an error, which changes
  // nothing for the program.
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

void* allocate(std::size_t size, std::size_t alignment) {
  if (size == 0) size = 1;
  while (true) {
    void* block = nullptr;
    if (alignment <= alignof(std::max_align_t)) {
      block = std::malloc(size);
    } else if (::posix_memalign(&block, alignment, size) != 0) {
      block = nullptr;
    }
    if (block != nullptr) {
      advise_huge_pages(block, size);
      return block;
    }
    const std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_or_null(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t kDefaultAlignment = alignof(std::max_align_t);

}  // namespace

void* operator new(std::size_t size) { return allocate(size, kDefaultAlignment); }
void* operator new[](std::size_t size) { return allocate(size, kDefaultAlignment); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, kDefaultAlignment);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, kDefaultAlignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return allocate_or_null(size, static_cast<std::size_t>(alignment));
}

void operator delete(void* block) noexcept { std::free(block); }
void operator delete[](void* block) noexcept { std::free(block); }
void operator delete(void* block, std::size_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete[](void* block, std::size_t, std::align_val_t) noexcept { std::free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete(void* block, std::align_val_t, const std::nothrow_t&) noexcept { std::free(block); }
void operator delete[](void* block, std::align_val_t, const std::nothrow_t&) noexcept { std::free(block); }
