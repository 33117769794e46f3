#include "lossgrad/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <cstdlib>

namespace lossgrad {

namespace {
// A child of fork() inherits the pool's state but none of its threads: it must
// never wait for workers. It runs every ParallelFor inline instead.
std::atomic<bool> g_forked_child{false};
void MarkForkedChild() { g_forked_child.store(true); }
}  // namespace

ThreadPool::ThreadPool(int num_threads) { Start(num_threads); }

ThreadPool::~ThreadPool() { Stop(); }

void ThreadPool::Start(int num_threads) {
  stop_ = false;
  const int workers = std::max(1, num_threads) - 1;
  workers_.reserve(static_cast<size_t>(workers));
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void ThreadPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::set_num_threads(int num_threads) {
  if (g_forked_child.load()) return;  // no threads to stop in a forked child
  std::lock_guard<std::mutex> run(run_mu_);
  if (std::max(1, num_threads) == this->num_threads()) return;
  Stop();
  Start(num_threads);
}

void ThreadPool::Drain() {
  for (int64_t t = next_.fetch_add(1); t < ntasks_; t = next_.fetch_add(1)) fn_(arg_, t);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    Drain();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_ == 0) done_.notify_one();
    }
  }
}

void ThreadPool::ParallelFor(int64_t ntasks, void (*fn)(void*, int64_t), void* arg) {
  if (g_forked_child.load()) {
    for (int64_t t = 0; t < ntasks; ++t) fn(arg, t);
    return;
  }
  std::unique_lock<std::mutex> run(run_mu_, std::try_to_lock);
  if (!run.owns_lock() || workers_.empty() || ntasks <= 1) {
    for (int64_t t = 0; t < ntasks; ++t) fn(arg, t);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    arg_ = arg;
    ntasks_ = ntasks;
    next_.store(0);
    busy_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  wake_.notify_all();
  Drain();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return busy_ == 0; });
}

ThreadPool& DefaultPool() {
  // Never destroyed: joining workers during process exit (or in a forked child,
  // where they do not exist) is not something a library should do.
  static ThreadPool* pool = [] {
    pthread_atfork(nullptr, nullptr, MarkForkedChild);
    const char* env = std::getenv("LOSSGRAD_NUM_THREADS");
    int n = env != nullptr ? std::atoi(env) : 0;
    if (n <= 0) {
      const unsigned hw = std::thread::hardware_concurrency();
      n = hw == 0 ? 1 : static_cast<int>(hw);
    }
    return new ThreadPool(n);
  }();
  return *pool;
}

}  // namespace lossgrad
