#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace seqtorch::util {

namespace {
void fsync_path(const std::string& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  TORCH_CHECK(fd >= 0, "cannot open ", p, " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  TORCH_CHECK(rc == 0, "cannot flush ", p, " to disk: ", std::strerror(err));
}
}  // namespace

void write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  TORCH_CHECK(!path.empty(), "cannot write a file with an empty name");
  TORCH_CHECK(!is_directory(path), "cannot write ", path, ": is a folder, not a file");
  const std::string dir = parent_path(path);
  try {
    create_directories(dir);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, e.what_without_backtrace(), " (for ", path, ")");
  }
  static std::atomic<unsigned> counter{0};
  const std::string tmp = join_path(dir, "." + file_name(path) + ".tmp-" +
                                             std::to_string(::getpid()) + "-" +
                                             std::to_string(counter++));
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      TORCH_CHECK(out, "cannot create ", tmp, ": ", std::strerror(errno));
      errno = 0;
      write(out);
      out.flush();
      // The reason of the failed write(2) (ENOSPC: "No space left on device").
      const int err = errno;
      TORCH_CHECK(out, "cannot write ", path, ": ", err ? std::strerror(err) : "the write failed (disk full?)",
                  "; the previous file is unchanged");
    }
    fsync_path(tmp, false);
    rename_path(tmp, path);
    fsync_path(dir, true);
  } catch (...) {
    remove_path(tmp);
    throw;
  }
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  write_atomically(path, [&](std::ostream& out) { out << contents; });
}

}  // namespace seqtorch::util
