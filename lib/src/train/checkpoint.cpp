#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace seqtorch::train {

namespace {
constexpr const char* kFormat = "seqtorch-checkpoint-1";

// The first line of an error message, without torch's backtrace.
std::string short_reason(const std::exception& e) {
  std::string msg = e.what();
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) msg = c->what_without_backtrace();
  return msg.substr(0, msg.find('\n'));
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  TORCH_CHECK(false, "checkpoint ", path, ": ", what);
}

constexpr const char* kMagic = "seqtorch-checkpoint ";
constexpr int kContainerVersion = 2;

uint32_t crc32_of(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
    at += n;
  }
  return static_cast<uint32_t>(crc);
}

// Reads "NAME VALUE\n" at `at` (VALUE: up to 20 characters of `digits`); advances `at`.
bool header_field(const std::string& bytes, size_t& at, const std::string& name, const char* digits,
                  std::string& value) {
  if (bytes.compare(at, name.size() + 1, name + " ") != 0) return false;
  const size_t begin = at + name.size() + 1;
  const size_t end = bytes.find('\n', begin);
  if (end == std::string::npos || end == begin || end - begin > 20) return false;
  value = bytes.substr(begin, end - begin);
  if (value.find_first_not_of(digits) != std::string::npos) return false;
  at = end + 1;
  return true;
}
}  // namespace

std::string checkpoint_file(const std::string& archive) {
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", crc32_of(archive));
  return std::string(kMagic) + std::to_string(kContainerVersion) + "\nbytes " + std::to_string(archive.size()) +
         "\ncrc32 " + crc + "\n\n" + archive;
}

std::string checkpoint_archive(const std::string& bytes, const std::string& path) {
  if (bytes.empty()) fail(path, "the file is empty");
  if (bytes.compare(0, 4, "PK\x03\x04") == 0) return bytes;  // format 1: the bare archive
  const std::string magic(kMagic);
  if (bytes.compare(0, magic.size(), magic) != 0)
    fail(path, "not a seqtorch checkpoint (it does not start with '" + magic + "N')");
  size_t at = magic.size();
  const size_t eol = bytes.find('\n', at);
  const std::string version = eol == std::string::npos || eol - at > 9 ? "" : bytes.substr(at, eol - at);
  if (version.empty() || version.find_first_not_of("0123456789") != std::string::npos)
    fail(path, "malformed header (the format version)");
  if (version != std::to_string(kContainerVersion))
    fail(path, "format " + version + ": this seqtorch reads checkpoint formats 1 and " +
                   std::to_string(kContainerVersion) + " (written by a newer seqtorch?)");
  at = eol + 1;
  std::string size_text, crc_text;
  if (!header_field(bytes, at, "bytes", "0123456789", size_text) ||
      !header_field(bytes, at, "crc32", "0123456789abcdef", crc_text) || crc_text.size() != 8 ||
      bytes.compare(at, 1, "\n") != 0)
    fail(path, "malformed header (bytes, crc32)");
  ++at;
  const uint64_t size = std::stoull(size_text);  // at most 20 digits: may exceed 2^64
  if (size_text.size() > 19 || size > bytes.size() - at)
    fail(path, "truncated: the header says " + size_text + " bytes of content, the file holds " +
                   std::to_string(bytes.size() - at));
  if (size < bytes.size() - at)
    fail(path, std::to_string(bytes.size() - at - size) + " bytes more than its header says (" + size_text +
                   "): not a file seqtorch wrote whole");
  std::string archive = bytes.substr(at);
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", crc32_of(archive));
  if (crc_text != crc)
    fail(path, std::string("corrupted: its content's CRC-32 is ") + crc + ", the header says " + crc_text);
  return archive;
}

torch::serialize::InputArchive open_checkpoint(const std::string& path) {
  if (!util::path_exists(path)) fail(path, "no such file");
  if (util::is_directory(path)) fail(path, "is a folder, not a checkpoint file");
  std::string bytes;
  try {
    bytes = util::read_file(path);
  } catch (const c10::Error& e) {
    fail(path, "cannot be read: " + short_reason(e));
  }
  std::istringstream archive_bytes(checkpoint_archive(bytes, path));
  bytes.clear();
  torch::serialize::InputArchive archive;
  try {
    // Every tensor onto the CPU, whatever device wrote it: a checkpoint of a CUDA run loads on a
    // machine without a GPU, and nothing of it is read on a GPU by accident.
    archive.load_from(archive_bytes, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    fail(path, "cannot be read (truncated or corrupted?): " + short_reason(e));
  }
  return archive;
}

namespace {
torch::serialize::InputArchive open_archive(const std::string& path) {
  torch::serialize::InputArchive archive = open_checkpoint(path);
  c10::IValue format;
  if (!archive.try_read("format", format) || !format.isString() ||
      format.toStringRef() != kFormat)
    fail(path, std::string("not a seqtorch checkpoint (expected format ") + kFormat + ")");
  return archive;
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& key,
                        const std::string& path) {
  c10::IValue v;
  if (!a.try_read(key, v) || !v.isString()) fail(path, "missing field '" + key + "'");
  return v.toStringRef();
}

// Looks up the tensor `name` ("rnn.weight_ih_l0") in the nested archives Module::save writes.
bool find_tensor(torch::serialize::InputArchive& archive, const std::string& name,
                 torch::Tensor& out, bool is_buffer) {
  const auto dot = name.find('.');
  if (dot == std::string::npos) return archive.try_read(name, out, is_buffer);
  torch::serialize::InputArchive child;
  if (!archive.try_read(name.substr(0, dot), child)) return false;
  return find_tensor(child, name.substr(dot + 1), out, is_buffer);
}

std::string shape_string(torch::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

// The device of the model's first parameter or buffer (CPU for a model with neither).
torch::Device device_of(const torch::nn::Module& model) {
  for (const auto& p : model.parameters()) return p.device();
  for (const auto& b : model.buffers()) return b.device();
  return torch::kCPU;
}

// The default generator of every CUDA device ([N, S] bytes; undefined without CUDA).
torch::Tensor cuda_rng_states() {
  if (!torch::cuda::is_available()) return {};
  std::vector<torch::Tensor> states;
  // device_count() is size_t in LibTorch 1.13 and c10::DeviceIndex (signed) in 2.x.
  const auto n = static_cast<int64_t>(torch::cuda::device_count());
  for (int64_t i = 0; i < n; ++i) {
    at::Generator gen = at::globalContext().defaultGenerator(
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.push_back(gen.get_state());
  }
  return torch::stack(states);
}
}  // namespace

void save_checkpoint(const std::string& path, const CheckpointInfo& info,
                     const torch::nn::Module& model, const torch::optim::Optimizer* optimizer) {
  torch::serialize::OutputArchive archive;
  archive.write("format", c10::IValue(std::string(kFormat)));
  archive.write("app", c10::IValue(info.app));
  archive.write("config", c10::IValue(info.config));
  archive.write("progress", torch::tensor({info.epoch, info.step, info.batch_in_epoch,
                                           info.evals_without_gain, info.skipped_steps}, torch::kLong));
  archive.write("best_metric", torch::tensor({info.best_metric}, torch::kDouble));
  archive.write("schedule_state", torch::tensor(info.schedule_state, torch::kDouble));
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng_cpu", gen.get_state());
  }
  if (const torch::Tensor cuda = cuda_rng_states(); cuda.defined()) archive.write("rng_cuda", cuda);
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  archive.write("has_optimizer", c10::IValue(optimizer != nullptr));
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  util::write_file_atomically(path, checkpoint_file(bytes.str()));
}

namespace {
CheckpointInfo read_info(torch::serialize::InputArchive& archive, const std::string& path,
                         const std::string& expected_app) {
  CheckpointInfo info;
  info.app = read_string(archive, "app", path);
  info.config = read_string(archive, "config", path);
  torch::Tensor progress, best, schedule;
  if (!archive.try_read("progress", progress) || (progress.numel() != 4 && progress.numel() != 5) ||
      !archive.try_read("best_metric", best) || best.numel() != 1 ||
      !archive.try_read("schedule_state", schedule))
    fail(path, "missing or malformed progress fields");
  auto p = progress.to(torch::kLong);
  info.epoch = p[0].item<int64_t>();
  info.step = p[1].item<int64_t>();
  info.batch_in_epoch = p[2].item<int64_t>();
  info.evals_without_gain = p[3].item<int64_t>();
  info.skipped_steps = p.numel() == 5 ? p[4].item<int64_t>() : 0;
  info.best_metric = best.item<double>();
  auto s = schedule.to(torch::kDouble).contiguous();
  info.schedule_state.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  if (!expected_app.empty() && info.app != expected_app)
    fail(path, "written by seqtorch-" + info.app + ", not by seqtorch-" + expected_app);
  return info;
}
}  // namespace

CheckpointInfo read_checkpoint_info(const std::string& path,
                                    const std::string& expected_app) {
  auto archive = open_archive(path);
  return read_info(archive, path, expected_app);
}

CheckpointInfo load_checkpoint(const std::string& path, const std::string& expected_app,
                               torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               bool restore_rng) {
  auto archive = open_archive(path);
  CheckpointInfo info = read_info(archive, path, expected_app);
  torch::serialize::InputArchive model_archive;
  if (!archive.try_read("model", model_archive)) fail(path, "has no model");
  // Check every tensor before changing any, so a mismatch leaves the model as it was.
  auto check = [&](const std::string& name, const torch::Tensor& mine, bool buffer) {
    torch::Tensor theirs;
    if (!find_tensor(model_archive, name, theirs, buffer))
      fail(path, "has no " + std::string(buffer ? "buffer" : "parameter") + " '" + name +
                     "' (a different model or cell?)");
    if (theirs.sizes() != mine.sizes())
      fail(path, "parameter '" + name + "' has shape " + shape_string(theirs.sizes()) +
                     ", this model expects " + shape_string(mine.sizes()) +
                     " (other sizes or another cell?)");
  };
  for (const auto& p : model.named_parameters()) check(p.key(), p.value(), false);
  for (const auto& b : model.named_buffers()) check(b.key(), b.value(), true);
  // The archive's tensors are on the CPU; loading puts the model there, then it moves back to
  // the device it was on (the optimizer's state follows below).
  const torch::Device device = device_of(model);
  try {
    model.load(model_archive);
  } catch (const std::exception& e) {
    fail(path, "cannot load the model: " + short_reason(e));
  }
  if (!device.is_cpu()) model.to(device);
  if (optimizer) {
    c10::IValue has;
    torch::serialize::InputArchive opt_archive;
    if (!archive.try_read("has_optimizer", has) || !has.toBool() ||
        !archive.try_read("optimizer", opt_archive))
      fail(path, "has no optimizer state (a weights-only checkpoint cannot resume training)");
    try {
      optimizer->load(opt_archive);
    } catch (const std::exception& e) {
      fail(path, "optimizer state does not fit (another optimizer?): " + short_reason(e));
    }
    move_state_to_parameters(*optimizer);
  }
  if (restore_rng) {
    torch::Tensor rng;
    if (!archive.try_read("rng_cpu", rng)) fail(path, "has no RNG state");
    {
      at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the same generator
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    // CUDA generators: those of the devices both the writer and this machine have (a
    // checkpoint of a CPU run, or a run on a machine without CUDA, leaves them as they are).
    torch::Tensor cuda;
    if (archive.try_read("rng_cuda", cuda) && torch::cuda::is_available()) {
      const int64_t n =
          std::min<int64_t>(cuda.size(0), static_cast<int64_t>(torch::cuda::device_count()));
      for (int64_t i = 0; i < n; ++i) {
        at::Generator gen = at::globalContext().defaultGenerator(
            torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(cuda[i].contiguous());
      }
    }
  }
  return info;
}

}  // namespace seqtorch::train
