#include <seqtorch/util/run_lock.h>
#include <seqtorch/util/file_system.h>

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace seqtorch::util {

namespace {
std::string read_fd(int fd) {
  std::string text;
  char buf[256];
  if (::lseek(fd, 0, SEEK_SET) != 0) return text;
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < 1024;) text.append(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
  return text;
}

std::string holder_text() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  char when[64] = "?";
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  if (::gmtime_r(&now, &tm)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return "pid " + std::to_string(::getpid()) + " on " + host + " since " + when;
}
}  // namespace

RunLock::RunLock(const std::string& dir) : path_(join_path(dir, ".lock")) {
  create_directories(dir);
  // Lock, then check that the file locked is still the one at the path (a run releasing its
  // lock removes the file; a lock taken on the removed file would guard nothing).
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    TORCH_CHECK(fd >= 0, "cannot create the run lock ", path_, ": ", std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder = read_fd(fd);
      ::close(fd);
      TORCH_CHECK(err == EWOULDBLOCK, "cannot lock ", path_, ": ", std::strerror(err));
      if (holder.empty()) holder = "a process that is starting";
      TORCH_CHECK(false, dir, " is in use by another training run (", holder,
                  "): wait for it to end, or give another --out");
    }
    struct stat by_fd {}, by_path {};
    if (::fstat(fd, &by_fd) != 0 || ::stat(path_.c_str(), &by_path) != 0 || by_fd.st_ino != by_path.st_ino ||
        by_fd.st_dev != by_path.st_dev) {
      ::close(fd);
      continue;
    }
    fd_ = fd;
    break;
  }
  TORCH_CHECK(fd_ >= 0, "cannot lock ", path_, ": it keeps being replaced");
  stale_ = read_fd(fd_);  // unlocked yet present: its run ended without releasing it
  const std::string me = holder_text() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    // The lock holds without the note; only the message a second run gets is poorer.
  }
}

RunLock::~RunLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // before unlocking: a waiting run then creates a fresh file
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

}  // namespace seqtorch::util
