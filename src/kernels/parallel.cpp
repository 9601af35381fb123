#include "kernels/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace onnxquant::kernels {

int resolve_thread_count(int64_t requested) {
  if (requested > 0) return static_cast<int>(std::min<int64_t>(requested, INT32_MAX));
  static const int hardware = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return hardware;
}

void parallel_for(int64_t task_count, int threads, const std::function<void(int64_t)>& task) {
  const int64_t thread_count = std::min<int64_t>(std::max(threads, 1), task_count);
  if (thread_count <= 1) {
    for (int64_t i = 0; i < task_count; ++i) task(i);
    return;
  }

  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    for (int64_t i = next.fetch_add(1); i < task_count; i = next.fetch_add(1)) {
      try {
        task(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        // Stop handing out tasks; the other threads finish the task they run.
        next.store(task_count);
      }
    }
  };

  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(thread_count - 1));
  for (int64_t t = 1; t < thread_count; ++t) {
    try {
      workers.emplace_back(work);
    } catch (const std::system_error&) {
      // The system has no thread to spare: the threads already started and the caller do the work.
      break;
    }
  }
  work();
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace onnxquant::kernels
