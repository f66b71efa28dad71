#pragma once
// One training run per run folder: DIR/.lock, held with flock(2) while a run writes DIR. The
// kernel drops the lock when its process ends, however it ends (kill -9 included), so a lock
// file left behind by a crashed run is stale: the next run finds it unlocked and takes it over.
// The file names its holder (pid, host, start time) for the message a second run gets.
#include <string>

namespace seqtorch::util {

class RunLock {
 public:
  /// Creates DIR if needed and locks DIR/.lock. Throws one line when another process holds it:
  /// "DIR is in use by another training run (pid N on HOST since TIME): ...".
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  /// What the lock file said when it was taken over from a run that ended without releasing it
  /// (killed, crashed); empty when there was none.
  const std::string& stale_holder() const { return stale_; }
  /// The lock file's path.
  const std::string& path() const { return path_; }

 private:
  std::string path_, stale_;
  int fd_ = -1;
};

}  // namespace seqtorch::util
