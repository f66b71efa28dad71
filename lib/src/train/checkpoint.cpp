#include <seqtorch/train/checkpoint.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include <torch/torch.h>

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

// Opens `path` with every tensor on the CPU, whatever device wrote it: a checkpoint of a CUDA
// run loads on a machine without a GPU, and nothing of it is read on a GPU by accident.
torch::serialize::InputArchive open_archive(const std::string& path) {
  if (!util::path_exists(path)) fail(path, "no such file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::Device(torch::kCPU));
  } catch (const std::exception& e) {
    fail(path, "cannot be read (truncated or corrupted?): " + short_reason(e));
  }
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
                                           info.evals_without_gain}, torch::kLong));
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
  util::write_atomically(path, [&](std::ostream& out) { archive.save_to(out); });
}

namespace {
CheckpointInfo read_info(torch::serialize::InputArchive& archive, const std::string& path,
                         const std::string& expected_app) {
  CheckpointInfo info;
  info.app = read_string(archive, "app", path);
  info.config = read_string(archive, "config", path);
  torch::Tensor progress, best, schedule;
  if (!archive.try_read("progress", progress) || progress.numel() != 4 ||
      !archive.try_read("best_metric", best) || best.numel() != 1 ||
      !archive.try_read("schedule_state", schedule))
    fail(path, "missing or malformed progress fields");
  auto p = progress.to(torch::kLong);
  info.epoch = p[0].item<int64_t>();
  info.step = p[1].item<int64_t>();
  info.batch_in_epoch = p[2].item<int64_t>();
  info.evals_without_gain = p[3].item<int64_t>();
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
