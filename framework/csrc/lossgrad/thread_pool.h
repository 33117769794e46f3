// A persistent worker pool: threads are started once and reused by every call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "lossgrad/core.h"

namespace lossgrad {

class ThreadPool final : public Executor {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs every task once; the calling thread takes part. If another caller is
  // already using the pool, this call runs its tasks inline rather than wait.
  void ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) override;

  // Total threads including the caller (>= 1). Changing it restarts the workers
  // (not while a ParallelFor is running: that call finishes first).
  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }
  void set_num_threads(int num_threads);

 private:
  void Start(int num_threads);
  void Stop();
  void WorkerLoop();
  void Drain();

  std::mutex run_mu_;           // one ParallelFor at a time
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  uint64_t generation_ = 0;
  bool stop_ = false;
  int busy_ = 0;                // workers still inside the current generation
  void (*fn_)(void*, int64_t) = nullptr;
  void* arg_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<int64_t> next_{0};
};

// The process-wide pool used by the C API and the MindSpore entries. Its size
// comes from LOSSGRAD_NUM_THREADS, else the number of hardware threads.
ThreadPool& DefaultPool();

}  // namespace lossgrad
