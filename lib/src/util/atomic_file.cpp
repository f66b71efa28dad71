#include <seqtorch/util/atomic_file.h>

#include <c10/util/Exception.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace seqtorch::util {

namespace {
void fsync_path(const std::filesystem::path& p, bool directory) {
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  TORCH_CHECK(fd >= 0, "cannot open ", p.string(), " to flush it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  TORCH_CHECK(rc == 0, "cannot flush ", p.string(), " to disk: ", std::strerror(err));
}
}  // namespace

void write_atomically(const std::filesystem::path& path,
                      const std::function<void(std::ostream&)>& write) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  TORCH_CHECK(!ec, "cannot create folder ", dir.string(), " for ", path.string(), ": ",
              ec.message());
  static std::atomic<unsigned> counter{0};
  const fs::path tmp = dir / ("." + path.filename().string() + ".tmp-" +
                              std::to_string(::getpid()) + "-" + std::to_string(counter++));
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      TORCH_CHECK(out, "cannot create ", tmp.string(), ": ", std::strerror(errno));
      write(out);
      out.flush();
      TORCH_CHECK(out, "cannot write ", path.string(), " (disk full?)");
    }
    fsync_path(tmp, false);
    fs::rename(tmp, path, ec);
    TORCH_CHECK(!ec, "cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message());
    fsync_path(dir, true);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
  write_atomically(path, [&](std::ostream& out) { out << contents; });
}

}  // namespace seqtorch::util
