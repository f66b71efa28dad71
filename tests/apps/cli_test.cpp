// App plumbing: config files beneath the command line, unknown options with the closest valid
// one, bad and missing values, effective configuration round trip, exit codes, metrics.json.
#include "common/cli.h"

#include <seqtorch/util/device.h>

#include "support/test_util.h"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

namespace seqtorch::apps {
namespace {

struct Cli {
  CommonOptions c;
  std::vector<Command> commands;
  Cli() {
    Command train{"train", "train a model", po::options_description("train")};
    train.options.add(runtime_options(c)).add(training_options(c)).add(model_options(c));
    Command eval{"evaluate", "evaluate a checkpoint", po::options_description("evaluate")};
    eval.options.add(runtime_options(c));
    commands.push_back(train);
    commands.push_back(eval);
  }
  ParsedCommandLine parse(std::vector<std::string> args) {
    args.insert(args.begin(), "seqtorch-test");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return parse_command_line(static_cast<int>(argv.size()), argv.data(), "seqtorch-test", commands);
  }
};

std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no UsageError>";
}

void write(const std::string& p, const std::string& text) { std::ofstream(p) << text; }

TEST(Cli, ConfigFileIsBeneathTheCommandLine) {
  test::TempDir dir;
  write(dir.file("a.cfg"), "epochs = 7\nlr = 0.5\ncell = gru\nbidirectional = true\n");
  Cli cli;
  auto p = cli.parse({"train", "--config", dir.file("a.cfg"), "--epochs", "3"});
  EXPECT_EQ(p.command, "train");
  EXPECT_EQ(cli.c.epochs, 3);      // command line wins
  EXPECT_EQ(cli.c.lr, 0.5);        // config beats the default
  EXPECT_EQ(cli.c.cell, "gru");
  EXPECT_TRUE(cli.c.bidirectional);
  EXPECT_EQ(cli.c.hidden_size, 128);  // default
}

TEST(Cli, EffectiveConfigRepeatsTheRun) {
  test::TempDir dir;
  Cli first;
  auto p = first.parse({"train", "--epochs", "4", "--lr", "0.0123456789012345", "--bidirectional",
                        "--out", "runs/x y"});
  const std::string ini = effective_config(p.values);
  EXPECT_NE(ini.find("epochs = 4\n"), std::string::npos);
  EXPECT_EQ(ini.find("resume"), std::string::npos);
  EXPECT_EQ(write_run_config(dir.path, p.values), ini);  // DIR/config.ini, atomically
  Cli second;
  second.parse({"train", "--config", dir.file("config.ini")});
  EXPECT_EQ(second.c.epochs, 4);
  EXPECT_EQ(second.c.lr, 0.0123456789012345);
  EXPECT_TRUE(second.c.bidirectional);
  EXPECT_EQ(second.c.out, "runs/x y");
  EXPECT_TRUE(second.c.resume.empty());
}

TEST(Cli, ResumeDirReadsItsConfigAndIsTheRunFolder) {
  test::TempDir dir;
  Cli cli;
  auto msg = usage_error([&] { cli.parse({"train", "--resume", dir.path}); });
  EXPECT_NE(msg.find("last.pt does not exist"), std::string::npos) << msg;
  util::create_directories(dir.file("checkpoints"));
  write(dir.file("checkpoints/last.pt"), "x");
  write(dir.file("config.ini"), "epochs = 9\nhidden-size = 32\nout = elsewhere\n");
  Cli resumed;
  resumed.parse({"train", "--resume", dir.path, "--epochs", "12"});
  EXPECT_EQ(resumed.c.epochs, 12);        // the command line still wins
  EXPECT_EQ(resumed.c.hidden_size, 32);   // the run's own settings
  EXPECT_EQ(resumed.c.out, dir.path);
  auto t = trainer_options(resumed.c, "test", "");
  EXPECT_TRUE(t.resume);
  EXPECT_EQ(t.out_dir, dir.path);
}

TEST(Cli, UsageErrorsNameTheOptionAndTheClosestValidOne) {
  Cli cli;
  auto msg = usage_error([&] { cli.parse({"train", "--hiden-size", "64"}); });
  EXPECT_NE(msg.find("unknown option --hiden-size"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean --hidden-size?"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"train", "--epochs", "many"}); });
  EXPECT_NE(msg.find("epochs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("many"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"train", "--lr"}); });
  EXPECT_NE(msg.find("lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"trian"}); });
  EXPECT_NE(msg.find("unknown command 'trian'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean train?"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({}); });
  EXPECT_NE(msg.find("missing command"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"evaluate", "--epochs", "3"}); });  // not an evaluate option
  EXPECT_NE(msg.find("unknown option --epochs for 'seqtorch-test evaluate'"), std::string::npos) << msg;
  test::TempDir dir;
  write(dir.file("bad.cfg"), "epocs = 3\n");
  msg = usage_error([&] { cli.parse({"train", "--config", dir.file("bad.cfg")}); });
  EXPECT_NE(msg.find("bad.cfg: unknown option 'epocs'; did you mean epochs?"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"train", "--config", dir.file("none.cfg")}); });
  EXPECT_NE(msg.find("--config: " + dir.file("none.cfg") + ": cannot be read: no such file"), std::string::npos) << msg;
  msg = usage_error([&] { cli.parse({"train", "--config", dir.path}); });  // a folder is not ignored
  EXPECT_NE(msg.find("--config: " + dir.path + ": is a folder, not a file"), std::string::npos) << msg;
}

TEST(Cli, ValuesAreCheckedWhileReadingAndNameTheOption) {
  // Every range and choice is a UsageError (exit 2) at parse time, from the command line or a
  // config file, before anything runs.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--epochs", "0"}, "--epochs: expected >= 1, got 0"},
      {{"--epochs", "-1"}, "--epochs: expected >= 1, got -1"},
      {{"--batch-size", "0"}, "--batch-size: expected >= 1, got 0"},
      {{"--lr", "0"}, "--lr: expected > 0, got 0"},
      {{"--lr", "nan"}, "--lr: expected > 0, got nan"},
      {{"--optimizer", "adan"}, "--optimizer: expected sgd, adam, adamw or rmsprop, got 'adan'; did you mean adam?"},
      {{"--schedule", "cos"}, "--schedule: expected constant, step, exponential, cosine or plateau, got 'cos'"},
      {{"--device", "gpu"}, "--device: expected auto, cpu, cuda or cuda:N, got 'gpu'"},
      {{"--cell", "lstn"}, "--cell: expected rnn, lstm or gru, got 'lstn'; did you mean lstm?"},
      {{"--dropout", "1"}, "--dropout: expected in [0, 1), got 1"},
      {{"--momentum", "-0.5"}, "--momentum: expected in [0, 1), got -0.5"},
      {{"--clip-grad", "-1"}, "--clip-grad: expected >= 0, got -1"},
      {{"--hidden-size", "0"}, "--hidden-size: expected >= 1, got 0"},
      {{"--threads", "-2"}, "--threads: expected >= 0, got -2"},
      {{"--dist-timeout", "0"}, "--dist-timeout: expected > 0, got 0"},
      {{"--dist-backend", "mpi"}, "--dist-backend: expected auto, gloo or nccl, got 'mpi'"},
      {{"--time-budget", "inf"}, "--time-budget: expected >= 0, got inf"}};
  test::TempDir dir;
  for (const auto& [args, expected] : cases) {
    Cli cli;
    std::vector<std::string> line{"train"};
    line.insert(line.end(), args.begin(), args.end());
    std::string msg = usage_error([&] { cli.parse(line); });
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    write(dir.file("c.cfg"), args[0].substr(2) + " = " + args[1] + "\n");  // the same from a file
    Cli from_file;
    msg = usage_error([&] { from_file.parse({"train", "--config", dir.file("c.cfg")}); });
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
  }
  // A value holding one of Boost's placeholders made its message loop forever (fuzz finding,
  // tests/data/fuzz_regressions/config_placeholder_in_value.ini, read here as fuzz/config_fuzz does).
  for (const char* value : {"%value%", "%option%x", "%canonical_option%", "%original_token%"}) {
    Cli cli;
    const std::string msg = usage_error([&] { cli.parse({"train", "--lr", value}); });
    EXPECT_NE(msg.find("\\x25"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'--lr'"), std::string::npos) << msg;
  }
  {
    CommonOptions c;
    po::options_description all;
    all.add(runtime_options(c)).add(training_options(c)).add(model_options(c));
    po::variables_map values;
    const std::string text =
        util::read_file(util::join_path(util::parent_path(__FILE__), "../data/fuzz_regressions/config_placeholder_in_value.ini"));
    const std::string msg = usage_error([&] { store_config_beneath(text, "fuzz.ini", all, values); });
    EXPECT_NE(msg.find("fuzz.ini: "), std::string::npos) << msg;
  }
  // A long or binary value is shown short and printable.
  Cli cli;
  const std::string msg = usage_error([&] { cli.parse({"train", "--cell", std::string(5000, 'q') + "\x01"}); });
  EXPECT_NE(msg.find("got '" + std::string(60, 'q') + "'... (5001 bytes)"), std::string::npos) << msg;
}

TEST(Cli, HelpIsAskedNotAnError) {
  Cli cli;
  EXPECT_TRUE(cli.parse({"--help"}).help);
  auto p = cli.parse({"train", "--help"});
  EXPECT_TRUE(p.help);
  const auto text = help_text("seqtorch-test", cli.commands, "train");
  for (const char* o : {"--hidden-size", "--clip-grad", "--device", "--config", "--resume"})
    EXPECT_NE(text.find(o), std::string::npos) << o;
  EXPECT_NE(help_text("seqtorch-test", cli.commands, "").find("evaluate"), std::string::npos);
}

TEST(Cli, ExitCodesAndMetricsJson) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_main("p", nullptr, [] () -> int { throw UsageError("bad option"); }), 2);
  EXPECT_EQ(run_main("p", nullptr, [] () -> int { TORCH_CHECK(false, "runtime failure"); }), 1);
  EXPECT_EQ(run_main("p", nullptr, [] { return 0; }), 0);
  train::TrainResult r;
  EXPECT_EQ(train_exit_code(r), 0);
  r.signal = SIGINT;
  EXPECT_EQ(train_exit_code(r), 130);
  r.signal = SIGTERM;
  EXPECT_EQ(train_exit_code(r), 143);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("p: bad option"), std::string::npos) << err;
  EXPECT_NE(err.find("p: runtime failure\n"), std::string::npos) << err;
  EXPECT_EQ(err.find("Exception raised from"), std::string::npos) << "no torch backtrace: " << err;
  test::TempDir dir;
  testing::internal::CaptureStdout();
  report_metrics(dir.path, {{"loss", 0.25}, {"bits_per_char", 1.5}}, {{"split", "val"}});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out, "{\"split\":\"val\",\"bits_per_char\":1.5,\"loss\":0.25}\n");
  std::ifstream in(dir.file("metrics.json"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line + "\n", out);
}

TEST(Cli, DeviceAndThreads) {
  EXPECT_EQ(util::parse_device("cpu"), torch::Device(torch::kCPU));
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(util::parse_device("auto"), torch::Device(torch::kCPU));
    EXPECT_TRUE(test::throws_with([] { util::parse_device("cuda:0"); }, {"no CUDA device"}));
  } else {
    // cuda:N names that card and becomes the current one: work that says only "cuda" lands there.
    const auto n = static_cast<int64_t>(torch::cuda::device_count());
    EXPECT_TRUE(test::throws_with([&] { util::parse_device("cuda:" + std::to_string(n)); },
                                  {"expected an index below " + std::to_string(n)}));
    const auto last = util::use_device(util::parse_device("cuda:" + std::to_string(n - 1)));
    EXPECT_EQ(torch::zeros({1}, torch::kCUDA).device(), last);
    EXPECT_EQ(util::parse_device("auto"), last) << "auto: the current CUDA device";
    util::use_device(torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(util::parse_device("cuda"), torch::Device(torch::kCUDA, 0));
  }
  EXPECT_EQ(util::set_threads(1), 1);
  EXPECT_GE(util::set_threads(0), 1);
  util::set_threads(1);
}

// --flush-denormal: off by default (as PyTorch); on, apply_runtime_options flushes subnormals to
// zero (util::set_flush_denormal, tests/util/device_test.cpp); off again, they are kept.
TEST(Cli, FlushDenormalIsOffByDefaultAndAppliedWithTheThreads) {
  auto product = [] {
    volatile float tiny = 1e-30f, scale = 1e-10f;  // 1e-40: a float32 subnormal
    return tiny * scale;
  };
  const bool has_switch = util::set_flush_denormal(false);  // x86 without SSE3 lacks it
  Cli cli;
  cli.parse({"train", "--threads", "1"});
  EXPECT_FALSE(cli.c.flush_denormal);
  apply_runtime_options(cli.c);
  EXPECT_NE(product(), 0.0f);
  Cli on;
  on.parse({"train", "--threads", "1", "--flush-denormal", "--quiet"});
  ASSERT_TRUE(on.c.flush_denormal);
  apply_runtime_options(on.c);
  if (has_switch) {
    EXPECT_EQ(product(), 0.0f);
  }
  apply_runtime_options(cli.c);
  EXPECT_NE(product(), 0.0f);
  EXPECT_NE(usage_error([&] { Cli().parse({"train", "--flush-denormal", "maybe"}); }).find("--flush-denormal"),
            std::string::npos);
}

}  // namespace
}  // namespace seqtorch::apps
