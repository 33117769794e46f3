#include "lossgrad/thread_pool.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

// Why dispatching cannot hang, run a task twice or return while a task runs
// --------------------------------------------------------------------------
// run_mu_ is held by exactly one dispatcher (ParallelFor) or resizer at a time, so
// generation_, active_ and the set of workers never change while a dispatch is in
// flight, and a resize never overlaps a dispatch. Invariant I, true whenever nobody
// holds run_mu_: every live worker has `seen == generation_` and finished_ == active_
// (each worker is idle, waiting on wake_, or about to wait).
//  - A new worker is created (under run_mu_) with `seen` = the current generation_,
//    read under mu_; generation_ cannot move before run_mu_ is released, so the
//    worker never mistakes an old dispatch for a new one (the bug of a worker that
//    started with seen = 0).
//  - A dispatch sets finished_ = 0 and generation_ = g + 1 under mu_. By I every
//    worker sees exactly one new generation, so each takes part exactly once and
//    increments finished_ exactly once: finished_ only counts up, from 0 to active_.
//  - The dispatcher returns only when finished_ == active_, i.e. after every worker
//    has left the tasks of generation g + 1 and gone back to waiting with
//    seen == g + 1: I holds again and nothing still uses fn_/arg_ (the caller's stack).
//  - Workers with index >= active_ exit; active_ only changes under run_mu_ (resize),
//    when every worker is idle by I, and a resizer joins the workers it stops.
// Results do not depend on the thread count: the caller defines the tasks and each
// task is run exactly once, by whichever thread claims it from next_.

namespace lossgrad {

namespace {
// A child of fork() inherits the pool's state but none of its threads: it must
// never wait for workers. It runs every ParallelFor inline instead.
std::atomic<bool> g_forked_child{false};
void MarkForkedChild() { g_forked_child.store(true); }

constexpr const char* kEnvVar = "LOSSGRAD_NUM_THREADS";

// A decimal integer from 1 to kMaxThreads, digits only (no sign, space, exponent).
bool ParseThreadCount(const char* s, int64_t* out) {
  if (*s == '\0') return false;
  int64_t v = 0;
  for (const char* p = s; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (*p - '0');
    if (v > kMaxThreads) return false;  // checked every digit: never overflows
  }
  if (v < 1) return false;
  *out = v;
  return true;
}

// `s` in single quotes, non-printable bytes as \xNN, cut after 64 bytes.
void Quote(const char* s, char* buf, size_t len) {
  size_t k = 0;
  auto put = [&](char c) {
    if (k + 1 < len) buf[k++] = c;
  };
  put('\'');
  size_t i = 0;
  for (; s[i] != '\0' && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      put(static_cast<char>(c));
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      for (const char* e = esc; *e != '\0'; ++e) put(*e);
    }
  }
  put('\'');
  if (s[i] != '\0') {
    put('.');
    put('.');
    put('.');
  }
  buf[k] = '\0';
}

void SetError(std::string* error, const char* what, int64_t index, int64_t total) noexcept {
  if (error == nullptr) return;
  try {
    char buf[256];
    std::snprintf(buf, sizeof buf, "could not start thread %lld of %lld (%s)", static_cast<long long>(index),
                  static_cast<long long>(total), what);
    *error = buf;
  } catch (...) {  // std::bad_alloc: leave a message that needs no allocation
    error->clear();
  }
}

alignas(ThreadPool) unsigned char g_pool_storage[sizeof(ThreadPool)];
char g_pool_note[1024];

ThreadPool* MakeDefaultPool() noexcept {
  // Without the fork handler a forked child would wait for workers it does not have:
  // then the pool runs everything on the caller (one thread, set_num_threads cannot add any).
  const bool fork_safe = pthread_atfork(nullptr, nullptr, MarkForkedChild) == 0;
  if (!fork_safe) {
    std::snprintf(g_pool_note, sizeof g_pool_note, "could not register a fork handler; the pool runs on one thread");
    g_forked_child.store(true);
    return new (g_pool_storage) ThreadPool(1);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  const int64_t fallback = std::min<int64_t>(kMaxThreads, hw == 0 ? 1 : static_cast<int64_t>(hw));
  int64_t n = fallback;
  char origin[320];  // room for a quoted value (at most 64 bytes as \xNN, quotes and "...")
  std::snprintf(origin, sizeof origin, "the default of %lld threads (the hardware threads)",
                static_cast<long long>(fallback));
  size_t used = 0;
  const char* env = std::getenv(kEnvVar);
  if (env != nullptr && *env != '\0') {  // set but empty: as if unset
    char quoted[272];
    Quote(env, quoted, sizeof quoted);
    if (ParseThreadCount(env, &n)) {
      std::snprintf(origin, sizeof origin, "%s=%s", kEnvVar, quoted);
    } else {
      const int w = std::snprintf(g_pool_note, sizeof g_pool_note,
                                  "%s=%s is not a whole number from 1 to %lld; using %s", kEnvVar, quoted,
                                  static_cast<long long>(kMaxThreads), origin);
      used = w > 0 ? std::min(static_cast<size_t>(w), sizeof g_pool_note - 1) : 0;
    }
  }
  std::string error;
  ThreadPool* pool = new (g_pool_storage) ThreadPool(n, &error);
  if (pool->num_threads() != n) {
    std::snprintf(g_pool_note + used, sizeof g_pool_note - used, "%s%s: %s; the pool has %lld threads",
                  used != 0 ? "; " : "", origin, error.empty() ? "a thread could not be started" : error.c_str(),
                  static_cast<long long>(pool->num_threads()));
  }
  return pool;
}
}  // namespace

ThreadPool::ThreadPool(int64_t num_threads, std::string* error) noexcept {
  std::lock_guard<std::mutex> run(run_mu_);
  Grow(std::min(std::max<int64_t>(num_threads, 1), kMaxThreads) - 1, error);
}

ThreadPool::~ThreadPool() {
  std::lock_guard<std::mutex> run(run_mu_);
  Shrink(0);
}

bool ThreadPool::Grow(int64_t workers, std::string* error) noexcept {
  try {
    workers_.reserve(static_cast<size_t>(workers));  // emplace_back below never reallocates
  } catch (const std::exception& ex) {
    SetError(error, ex.what(), static_cast<int64_t>(workers_.size()) + 2, workers + 1);
    return false;
  }
  bool ok = true;
  while (static_cast<int64_t>(workers_.size()) < workers) {
    const int64_t index = static_cast<int64_t>(workers_.size());
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      active_ = index + 1;  // before the thread exists: it must not see itself as stopped
      generation = generation_;
    }
    try {
      workers_.emplace_back([this, index, generation] { WorkerLoop(index, generation); });
    } catch (const std::exception& ex) {  // std::system_error (EAGAIN), std::bad_alloc
      std::lock_guard<std::mutex> lock(mu_);
      active_ = index;
      SetError(error, ex.what(), index + 2, workers + 1);  // thread numbers count the caller as 1
      ok = false;
      break;
    }
  }
  num_threads_.store(static_cast<int64_t>(workers_.size()) + 1);
  return ok;
}

void ThreadPool::Shrink(int64_t workers) noexcept {
  if (static_cast<int64_t>(workers_.size()) <= workers) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_ = workers;
  }
  wake_.notify_all();
  for (size_t i = static_cast<size_t>(workers); i < workers_.size(); ++i) workers_[i].join();
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(workers), workers_.end());
  num_threads_.store(workers + 1);
}

bool ThreadPool::set_num_threads(int64_t num_threads, std::string* error) noexcept {
  std::string ignored;
  if (error == nullptr) error = &ignored;
  if (num_threads < 1 || num_threads > kMaxThreads) {
    try {  // without the value: the Python face appends the one it was given (which may not fit int64)
      *error = "set_num_threads: n must be an integer from 1 to " + std::to_string(kMaxThreads);
    } catch (...) {
      error->clear();
    }
    return false;
  }
  if (g_forked_child.load()) return true;  // no threads to stop or start in a forked child: all runs inline
  std::lock_guard<std::mutex> run(run_mu_);
  const int64_t before = static_cast<int64_t>(workers_.size());
  const int64_t want = num_threads - 1;
  if (want <= before) {
    Shrink(want);
    return true;
  }
  std::string why;
  if (Grow(want, &why)) return true;
  Shrink(before);  // all or nothing: joining the new workers cannot fail
  try {
    *error = "set_num_threads(" + std::to_string(num_threads) + "): " + why + "; the pool keeps its " +
             std::to_string(before + 1) + " threads";
  } catch (...) {
    error->clear();
  }
  return false;
}

void ThreadPool::WorkerLoop(int64_t index, uint64_t seen) noexcept {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return index >= active_ || generation_ != seen; });
    if (index >= active_) return;
    seen = generation_;  // == the previous seen + 1: see the comment at the top
    void (*fn)(void*, int64_t) = fn_;
    void* arg = arg_;
    const int64_t ntasks = ntasks_;
    lock.unlock();
    for (int64_t t = next_.fetch_add(1); t < ntasks; t = next_.fetch_add(1)) fn(arg, t);
    lock.lock();
    if (++finished_ == active_) done_.notify_one();
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
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  for (int64_t t = next_.fetch_add(1); t < ntasks; t = next_.fetch_add(1)) fn(arg, t);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_ == active_; });
}

ThreadPool& DefaultPool() noexcept {
  // Never destroyed (placement new into static storage): joining workers during
  // process exit (or in a forked child, where they do not exist) is not something a
  // library should do.
  static ThreadPool* pool = MakeDefaultPool();
  return *pool;
}

const char* DefaultPoolNote() noexcept {
  DefaultPool();
  return g_pool_note;
}

}  // namespace lossgrad
