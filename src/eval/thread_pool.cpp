#include "eval/thread_pool.hpp"

#include <algorithm>
#include <chrono>

namespace onnxquant::eval {
namespace {

// Ranges per thread: more ranges than threads let the calling thread take over the ranges of a
// worker that the system has not scheduled yet.
constexpr int64_t kRangesPerThread = 4;
// How long an idle thread polls for new work before it sleeps. Operators follow each other within
// microseconds, and waking a sleeping thread costs more than that.
constexpr auto kSpinTime = std::chrono::microseconds(50);

// Polls `done` with yields for up to kSpinTime; returns its last result.
template <typename Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    generation_.fetch_add(1);
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ThreadPool::parallel_for(int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t ranges = std::min<int64_t>(threads() * kRangesPerThread, (count + grain - 1) / grain);
  std::unique_lock lock(mutex_);
  if (ranges <= 1 || threads() == 1 || busy_) {
    // One range, or a call from inside a running body: no workers are free to take ranges.
    lock.unlock();
    body(0, count);
    return;
  }
  busy_ = true;
  job_ = Job{&body, count, (count + ranges - 1) / ranges, 0};
  job_.chunks = (count + job_.chunk - 1) / job_.chunk;
  next_chunk_ = 0;
  chunks_done_.store(0);
  error_ = nullptr;
  generation_.fetch_add(1);
  lock.unlock();
  work_ready_.notify_all();

  run_chunks();

  const int64_t chunks = job_.chunks;
  if (!spin_until([&] { return chunks_done_.load() == chunks; })) {
    lock.lock();
    work_done_.wait(lock, [&] { return chunks_done_.load() == chunks; });
    lock.unlock();
  }
  lock.lock();
  busy_ = false;
  std::exception_ptr error = error_;
  error_ = nullptr;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

// Takes ranges of the current job until none is left; runs each with the mutex released.
void ThreadPool::run_chunks() {
  std::unique_lock lock(mutex_);
  while (next_chunk_ < job_.chunks) {
    const int64_t chunk = next_chunk_++;
    const Job job = job_;
    lock.unlock();
    std::exception_ptr error;
    try {
      const int64_t begin = chunk * job.chunk;
      (*job.body)(begin, std::min(job.count, begin + job.chunk));
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    if (chunks_done_.fetch_add(1) + 1 == job_.chunks) work_done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  while (true) {
    if (!spin_until([&] { return generation_.load() != seen; })) {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return generation_.load() != seen; });
    }
    seen = generation_.load();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    run_chunks();
  }
}

}  // namespace onnxquant::eval
