// Thread partitioning for the fast kernels. A kernel cuts its work into tasks whose boundaries do
// not depend on the thread count, and writes each task's output to its own place, so its result is
// the same for any thread count.
#pragma once

#include <cstdint>
#include <functional>

namespace onnxquant::kernels {

// The thread count for a request: `requested` when positive, else the number of hardware threads
// (at least 1).
int resolve_thread_count(int64_t requested);

// Calls task(i) once for every i in [0, task_count), on up to `threads` threads counting the
// caller. Threads take the next task in increasing order until none is left. The first exception
// a task throws is rethrown here after every thread has stopped.
void parallel_for(int64_t task_count, int threads, const std::function<void(int64_t)>& task);

// The number of tasks of `grain` items (the last one shorter) that cover `count` items.
inline int64_t tasks_for(int64_t count, int64_t grain) { return (count + grain - 1) / grain; }

}  // namespace onnxquant::kernels
