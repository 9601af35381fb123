// A fixed set of worker threads that split loops over index ranges.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace onnxquant::eval {

class ThreadPool {
 public:
  // `threads` counts the calling thread; 0 means one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls body(begin, end) on disjoint ranges that cover [0, count), each at least `grain` long
  // except the last, on the workers and the calling thread, and returns when all are done. The
  // first exception a range throws is rethrown here. A nested call runs on the calling thread.
  // Idle threads poll for work for a few tens of microseconds before they sleep.
  void parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* body = nullptr;
    int64_t count = 0;
    int64_t chunk = 0;
    int64_t chunks = 0;
  };

  void worker_loop();
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  Job job_;
  // Changed under the mutex; read without it by threads that poll before they sleep.
  std::atomic<uint64_t> generation_{0};
  int64_t next_chunk_ = 0;
  std::atomic<int64_t> chunks_done_{0};
  bool stopping_ = false;
  bool busy_ = false;
  std::exception_ptr error_;
};

}  // namespace onnxquant::eval
