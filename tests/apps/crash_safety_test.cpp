// Crash safety under kill -9: a seqtorch-textgen training run killed with SIGKILL at random
// moments (and the moment a checkpoint is being written), then resumed, ends with the same model
// and optimiser state as an uninterrupted run of the same seed; after every kill the run folder's
// last.pt (present from the run's start) loads.
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>
#include <seqtorch/util/file_system.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#ifdef SEQTORCH_TEXTGEN_BIN
namespace seqtorch {
namespace {

using Clock = std::chrono::steady_clock;

// Every tensor of `archive`, by dotted name (sub-archives walked).
void collect(torch::serialize::InputArchive& archive, const std::string& prefix,
             std::map<std::string, torch::Tensor>& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive child;
    if (archive.try_read(key, t)) out[prefix + key] = t;
    else if (archive.try_read(key, child)) collect(child, prefix + key + ".", out);
  }
}

// The model's tensors by name, progress and RNG state, and the optimiser's tensors (its state is
// keyed by each parameter's address in the process that wrote it, so by position: sorted by
// their last name part and content).
std::map<std::string, torch::Tensor> state_of(const std::string& checkpoint) {
  auto archive = train::open_checkpoint(checkpoint);
  std::map<std::string, torch::Tensor> all;
  torch::serialize::InputArchive model, optimizer;
  EXPECT_TRUE(archive.try_read("model", model) && archive.try_read("optimizer", optimizer)) << checkpoint;
  collect(model, "model.", all);
  std::map<std::string, torch::Tensor> opt;
  collect(optimizer, "", opt);
  std::vector<std::pair<std::string, torch::Tensor>> sorted;
  for (auto& [name, t] : opt) {
    std::string last = name.substr(name.rfind('.') + 1);
    std::ostringstream key;
    key << last << " " << t.sizes() << " " << t.to(torch::kDouble).sum().item<double>() << " "
        << t.to(torch::kDouble).abs().sum().item<double>();
    sorted.emplace_back(key.str(), t);
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < sorted.size(); ++i) all["optimizer." + std::to_string(i)] = sorted[i].second;
  for (const char* name : {"progress", "rng_cpu", "best_metric"}) {
    torch::Tensor t;
    EXPECT_TRUE(archive.try_read(name, t)) << checkpoint << " has no " << name;
    all[name] = t;
  }
  return all;
}

pid_t start(const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);  // the final JSON line is not the test's output
    ::dup2(null, 1);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// The temporary file of a checkpoint being written (util::write_atomically), or "".
std::string checkpoint_in_writing(const std::string& dir) {
  if (!util::is_directory(dir)) return "";
  try {
    for (const auto& name : util::list_directory(dir))
      if (name.find(".tmp-") != std::string::npos) return name;
  } catch (const c10::Error&) {
  }
  return "";
}

TEST(CrashSafety, KilledAtRandomMomentsAndResumedEndsAsTheUninterruptedRun) {
  test::TempDir dir;
  // A small corpus: words drawn from a fixed list by a fixed generator.
  std::mt19937 words_rng(11);
  const char* words[] = {"the", "run", "was", "killed", "and", "resumed", "with", "nothing", "lost", "again"};
  std::string text;
  while (text.size() < 6000) text += std::string(words[words_rng() % 10]) + (words_rng() % 7 ? " " : ".\n");
  util::write_file_atomically(dir.file("corpus.txt"), text);
  const std::vector<std::string> base = {SEQTORCH_TEXTGEN_BIN, "train", "--text", dir.file("corpus.txt"),
                                         "--epochs", "20", "--hidden-size", "16", "--embedding-size", "8",
                                         "--seq-len", "16", "--batch-size", "8", "--lr", "0.01",
                                         "--threads", "1", "--seed", "3", "--quiet"};
  auto with_out = [&](const std::string& out) {
    auto a = base;
    a.insert(a.end(), {"--out", out});
    return a;
  };
  auto wait_for = [](pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
  };
  // The uninterrupted run.
  const auto t0 = Clock::now();
  const int ref_status = wait_for(start(with_out(dir.file("ref"))));
  ASSERT_TRUE(WIFEXITED(ref_status) && WEXITSTATUS(ref_status) == 0);
  const double ref_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto ref_last = state_of(dir.file("ref/checkpoints/last.pt"));
  const auto ref_best = state_of(dir.file("ref/checkpoints/best.pt"));

  std::mt19937 rng(2024);
  int kills = 0, during_write = 0, before_first_checkpoint = 0;
  const int trials = 20;
  for (int trial = 0; trial < trials; ++trial) {
    const std::string out = dir.file("t" + std::to_string(trial));
    const std::string ckpt = util::join_path(out, "checkpoints");
    const std::string last = util::join_path(ckpt, "last.pt");
    // Two kills per trial: odd trials while the k-th checkpoint of the run (k drawn from 1..12)
    // is being written, the moment its temporary file appears; even ones at a random time
    // within the uninterrupted run's length (past the program's start-up, mostly).
    for (int kill_no = 0;; ++kill_no) {
      const bool resume = util::path_exists(last);
      auto args = resume ? std::vector<std::string>{SEQTORCH_TEXTGEN_BIN, "train", "--resume", out, "--quiet"}
                         : with_out(out);
      const pid_t pid = start(args);
      if (kill_no >= 2) {
        const int status = wait_for(pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "trial " << trial << ": the last run failed";
        break;
      }
      bool killed = false;
      if (trial % 2 == 1) {
        const int k = std::uniform_int_distribution<int>(1, 12)(rng);
        std::set<std::string> writes;
        const auto deadline = Clock::now() + std::chrono::duration<double>(ref_s * 3);
        while (Clock::now() < deadline) {
          const std::string writing = checkpoint_in_writing(ckpt);
          if (!writing.empty()) writes.insert(writing);
          if (static_cast<int>(writes.size()) >= k) {
            ::kill(pid, SIGKILL);
            killed = true;
            ++during_write;
            break;
          }
          if (::waitpid(pid, nullptr, WNOHANG) == pid) break;  // ended first: no kill this time
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
      } else {
        std::uniform_real_distribution<double> when(0.2 * ref_s, ref_s);
        std::this_thread::sleep_for(std::chrono::duration<double>(when(rng)));
        killed = ::kill(pid, SIGKILL) == 0;
      }
      if (!killed) {
        // It finished before the kill came: the run is complete.
        const int status = wait_for(pid);
        if (WIFEXITED(status)) {
          ASSERT_EQ(WEXITSTATUS(status), 0) << "trial " << trial;
          break;
        }
      } else {
        wait_for(pid);
        ++kills;
      }
      // After any kill: last.pt absent (killed before the run's first checkpoint) or loadable.
      if (!util::path_exists(last)) {
        ++before_first_checkpoint;
      } else {
        EXPECT_NO_THROW(train::read_checkpoint_info(last, "textgen")) << "trial " << trial << ": last.pt unloadable";
      }
    }
    for (const auto& [which, ref] : {std::pair{"last.pt", &ref_last}, {"best.pt", &ref_best}}) {
      const auto got = state_of(util::join_path(ckpt, which));
      ASSERT_EQ(got.size(), ref->size()) << which;
      for (const auto& [name, tensor] : *ref)
        EXPECT_TRUE(torch::equal(got.at(name), tensor)) << "trial " << trial << ": " << which << " " << name << " differs";
    }
  }
  std::cerr << "kill -9: " << kills << " kills in " << trials << " trials (" << during_write
            << " while a checkpoint was being written, " << before_first_checkpoint
            << " before the first checkpoint); uninterrupted run " << ref_s << " s\n";
  EXPECT_GE(kills, trials);
  EXPECT_GE(during_write, 1);
}

}  // namespace
}  // namespace seqtorch
#endif
