// A persistent worker pool: threads are started once and reused by every call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lossgrad/core.h"

namespace lossgrad {

// The largest thread count of a pool (the caller included). A fixed, documented bound
// rather than a multiple of the hardware threads, so that the same setting is valid on
// every machine; the tasks are memory bound and gain nothing from more threads.
constexpr int64_t kMaxThreads = 1024;

class ThreadPool final : public Executor {
 public:
  // Starts min(max(num_threads, 1), kMaxThreads) - 1 workers. Never throws: when a worker
  // cannot be created (thread or address-space limits) the pool keeps the workers it has;
  // `*error` (if given) then says why, else it is left empty.
  explicit ThreadPool(int64_t num_threads, std::string* error = nullptr) noexcept;
  ~ThreadPool() override;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs every task once; the calling thread takes part. If another caller is
  // already using the pool, this call runs its tasks inline rather than wait.
  // The tasks (their boundaries) are the caller's: results do not depend on the
  // number of threads.
  void ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) override;

  // Total threads including the caller (>= 1).
  int64_t num_threads() const noexcept { return num_threads_.load(); }

  // Resizes the pool to `num_threads` (1..kMaxThreads), waiting for a running
  // ParallelFor to finish first. All or nothing: if a worker cannot be created the
  // pool keeps its previous size and `*error` says why. Never throws.
  bool set_num_threads(int64_t num_threads, std::string* error) noexcept;

 private:
  // Both hold run_mu_. Grow returns false (and the reason) when a worker could not be
  // created; the workers it did create stay.
  bool Grow(int64_t workers, std::string* error) noexcept;
  void Shrink(int64_t workers) noexcept;
  void WorkerLoop(int64_t index, uint64_t generation) noexcept;

  // Held by whoever dispatches (ParallelFor) or resizes: at most one of them at a time.
  std::mutex run_mu_;
  // Guards everything below except next_ (atomic) and workers_ (touched only under run_mu_).
  std::mutex mu_;
  std::condition_variable wake_;   // workers wait here for a new generation (or to exit)
  std::condition_variable done_;   // the dispatcher waits here for finished_ == active_
  std::vector<std::thread> workers_;
  int64_t active_ = 0;             // workers with index < active_ run; the others exit
  uint64_t generation_ = 0;        // one per dispatch
  int64_t finished_ = 0;           // workers done with the current generation (0..active_)
  void (*fn_)(void*, int64_t) = nullptr;
  void* arg_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<int64_t> next_{0};   // next task to claim
  std::atomic<int64_t> num_threads_{1};
};

// The process-wide pool used by the C API and the MindSpore entries. Its size
// comes from LOSSGRAD_NUM_THREADS (a decimal integer from 1 to kMaxThreads), else
// the number of hardware threads (at most kMaxThreads). Never destroyed, never throws.
ThreadPool& DefaultPool() noexcept;

// What went wrong when the default pool started (an invalid LOSSGRAD_NUM_THREADS, or
// fewer threads than asked for), or "" if nothing did. Creates the pool if needed.
const char* DefaultPoolNote() noexcept;

}  // namespace lossgrad
