// Data-parallel training on c10d (Gloo over loopback), with the ranks as threads of this process:
// shards, the launch variables, the gradient hook, the broadcast, equality with one process on
// the global batch, and a rank that stops answering.
#include <seqtorch/nn/sequence_shapes.h>
#include <seqtorch/train/distributed.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/train/trainer.h>
#include <seqtorch/util/file_system.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

namespace seqtorch::train {
namespace {

TEST(Shard, PartsCoverEveryGlobalBatchOnceAndEvenly) {
  for (int world = 1; world <= 4; ++world)
    for (int64_t n = 0; n <= 13; ++n) {
      int64_t next = 0, smallest = n, largest = 0;
      for (int rank = 0; rank < world; ++rank) {
        const auto p = Shard{rank, world}.part(n);
        EXPECT_EQ(p.begin, next) << "n " << n << " world " << world << " rank " << rank;
        next = p.end;
        smallest = std::min(smallest, p.size());
        largest = std::max(largest, p.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);
    }
  EXPECT_THROW((Shard{2, 2}.check()), c10::Error);
  EXPECT_THROW((Shard{-1, 2}.check()), c10::Error);
}

std::function<const char*(const char*)> env_of(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

TEST(LaunchEnvironment, AbsentWithoutWorldSizeReadWithTorchrunsVariables) {
  EXPECT_FALSE(read_launch_environment(env_of({{"RANK", "0"}})).has_value());
  const auto env = read_launch_environment(env_of({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"},
                                                   {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"},
                                                   {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                   {"TORCHELASTIC_RESTART_COUNT", "2"}}));
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->world_size, 4);
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "node0");
  EXPECT_EQ(env->master_port, 29500);
  EXPECT_TRUE(env->agent_store);
  EXPECT_EQ(env->restart_count, 2);
}

TEST(LaunchEnvironment, AMissingOrMalformedVariableIsNamed) {
  const std::map<std::string, std::string> good{
      {"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  for (const auto& [name, value, expected] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"RANK", "", "RANK is not set"},
           {"RANK", "2", "RANK: expected an integer in [0, 1], got '2'"},
           {"WORLD_SIZE", "two", "WORLD_SIZE: expected an integer"},
           {"MASTER_PORT", "70000", "MASTER_PORT: expected an integer in [1, 65535]"},
           {"MASTER_ADDR", "", "MASTER_ADDR is not set"}}) {
    auto vars = good;
    if (value.empty()) vars.erase(name);
    else vars[name] = value;
    try {
      read_launch_environment(env_of(vars));
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

// A port nobody listens on now (the kernel's choice).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

LaunchEnvironment loopback(int rank, int world, int port) {
  LaunchEnvironment env;
  env.rank = rank;
  env.world_size = world;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  env.gloo_interface = "lo";
  return env;
}

// Runs body(rank) on `world` threads, each a rank of one Gloo group; returns their results.
template <class F>
auto on_ranks(int world, F body, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const int port = free_port();
  using R = decltype(body(0, std::declval<DataParallel&>()));
  std::vector<std::future<R>> futures;
  for (int rank = 0; rank < world; ++rank)
    futures.push_back(std::async(std::launch::async, [=] {
      DataParallelOptions o;
      o.timeout = timeout;
      DataParallel group(loopback(rank, world, port), torch::kCPU, o);
      return body(rank, group);
    }));
  std::vector<R> results;
  for (auto& f : futures) results.push_back(f.get());
  return results;
}

TEST(DataParallel, TheHookAveragesGradientsByItemsAndAgreesOnLossSkipAndStop) {
  if (!gloo_available()) GTEST_SKIP() << "this build has no Gloo (its LibTorch ships no gloo headers)";
  const auto results = on_ranks(2, [](int rank, DataParallel& group) {
    EXPECT_EQ(group.rank(), rank);
    EXPECT_EQ(group.world_size(), 2);
    EXPECT_EQ(group.backend(), "gloo");
    // Two parameters, the second a float64 one (its own bucket); rank 1 leaves `b` without a
    // gradient (unused by its batch): it counts as zeros.
    auto a = torch::zeros({3}, torch::kFloat).requires_grad_();
    auto b = torch::zeros({2}, torch::kDouble).requires_grad_();
    a.mutable_grad() = torch::full({3}, rank == 0 ? 1.0 : 5.0, torch::kFloat);
    if (rank == 0) b.mutable_grad() = torch::tensor({2.0, -2.0}, torch::kDouble);
    StepAgreement step;
    step.loss = rank == 0 ? 0.5 : 1.5;
    step.items = rank == 0 ? 1 : 3;
    step.signal = rank == 1 ? 15 : 0;
    step.out_of_time = rank == 0;
    group.after_backward({a, b}, step);
    EXPECT_GE(group.take_communication_ms(), 0.0);
    return std::make_tuple(a.grad().clone(), b.grad().clone(), step);
  });
  for (const auto& [ga, gb, step] : results) {
    // (1 x 1 + 3 x 5) / 4 = 4; (1 x 2 + 3 x 0) / 4 = 0.5
    EXPECT_TRUE(torch::allclose(ga, torch::full({3}, 4.0f)));
    EXPECT_TRUE(torch::allclose(gb, torch::tensor({0.5, -0.5}, torch::kDouble)));
    EXPECT_DOUBLE_EQ(step.loss, (0.5 * 1 + 1.5 * 3) / 4);
    EXPECT_EQ(step.items, 4);
    EXPECT_EQ(step.signal, 15);
    EXPECT_TRUE(step.out_of_time);
  }
  // A non-finite loss on one rank is non-finite on all: every rank skips the step.
  const auto nan_results = on_ranks(2, [](int rank, DataParallel& group) {
    auto a = torch::zeros({2}).requires_grad_();
    a.mutable_grad() = torch::ones({2});
    StepAgreement step;
    step.loss = rank == 1 ? std::nan("") : 1.0;
    step.items = 2;
    group.after_backward({a}, step);
    return step.loss;
  });
  for (double loss : nan_results) EXPECT_TRUE(std::isnan(loss));
}

TEST(DataParallel, BroadcastGivesEveryRankRankZerosTensorsAndMetricsAreAveraged) {
  if (!gloo_available()) GTEST_SKIP() << "this build has no Gloo (its LibTorch ships no gloo headers)";
  const auto results = on_ranks(3, [](int rank, DataParallel& group) {
    auto w = torch::full({2, 2}, static_cast<double>(rank + 1));
    auto t = torch::full({4}, static_cast<double>(10 * rank)).t();  // 1-d: contiguous
    auto strided = torch::arange(6, torch::kFloat).mul(rank + 1).view({2, 3}).t();  // not contiguous
    group.broadcast_from_first({w, t, strided});
    const auto m = agree_on_metrics(group, {{"loss", 1.0 + rank}, {"bleu", 3.0 * rank}});
    return std::make_tuple(w, t, strided.contiguous(), m);
  });
  for (const auto& [w, t, strided, m] : results) {
    EXPECT_TRUE(torch::equal(w, torch::full({2, 2}, 1.0)));
    EXPECT_TRUE(torch::equal(t, torch::zeros({4})));
    EXPECT_TRUE(torch::equal(strided, torch::arange(6, torch::kFloat).view({2, 3}).t().contiguous()));
    EXPECT_DOUBLE_EQ(m.at("loss"), 2.0);
    EXPECT_DOUBLE_EQ(m.at("bleu"), 3.0);
  }
}

// Sequence-sum regression in float64, batches drawn from a permutation of (epoch) alone and cut
// by the shard, as the apps' tasks do.
class ShardedSum : public TrainTask {
 public:
  ShardedSum(int64_t batch, Shard shard) : global_(batch * shard.world_size), shard_(shard) {
    static std::mutex init;  // ranks are threads: seeding and drawing must not interleave
    std::lock_guard<std::mutex> lock(init);
    torch::manual_seed(3);  // same init on every rank (rank 0's is broadcast anyway)
    model_ = nn::ManyToOne(nn::RecurrentOptions(1, 6).cell(nn::CellKind::lstm), 1);
    model_->to(torch::kDouble);
    auto gen = at::detail::createCPUGenerator(5);
    x_ = torch::rand({5, 60, 1}, gen, torch::kDouble);
    y_ = x_.sum(0);
  }
  torch::nn::Module& model() override { return *model_; }
  int64_t batches_per_epoch() override { return (60 + global_ - 1) / global_; }
  void start_epoch(int64_t epoch) override {
    order_ = torch::randperm(60, at::detail::createCPUGenerator(100 + epoch), torch::kLong);
  }
  StepLoss train_loss(int64_t, int64_t index) override {
    const int64_t begin = index * global_;
    const auto part = shard_.part(std::min(global_, 60 - begin));
    if (part.size() == 0) return {torch::Tensor(), 0};
    auto idx = order_.narrow(0, begin + part.begin, part.size());
    return {torch::mse_loss(model_->forward(x_.index_select(1, idx)), y_.index_select(0, idx)), part.size()};
  }
  std::map<std::string, double> evaluate() override {
    return {{"loss", torch::mse_loss(model_->forward(x_), y_).item<double>()}};
  }
  nn::ManyToOne model_{nullptr};

 private:
  int64_t global_;
  Shard shard_;
  torch::Tensor x_, y_, order_;
};

struct RunOutcome {
  std::vector<torch::Tensor> params;
  TrainResult result;
};

RunOutcome train_sum(int64_t batch, Shard shard, Parallel* parallel, const std::string& out) {
  ShardedSum task(batch, shard);
  OptimizerOptions oo;
  oo.lr = 0.02;
  auto opt = make_optimizer(task.model_->parameters(), oo);
  ScheduleOptions so;
  LrSchedule sched(oo.lr, so);
  TrainerOptions o;
  o.epochs = 3;
  o.quiet = true;
  o.clip_grad_norm = 0.5;  // on the averaged gradient: the same on every rank
  o.out_dir = out;
  o.parallel = parallel;
  RunOutcome r;
  r.result = train(task, *opt, sched, o);
  for (const auto& p : task.model_->parameters()) r.params.push_back(p.detach().clone());
  return r;
}

TEST(DataParallel, TwoRanksOnBatchBEqualOneProcessOnBatch2B) {
  if (!gloo_available()) GTEST_SKIP() << "this build has no Gloo (its LibTorch ships no gloo headers)";
  // 60 examples, global batch 16: the last batch (12) splits 6 + 6; batch 7 x 2 = 14 leaves a
  // last batch of 4, split 2 + 2. Both are checked.
  for (const int64_t batch : {8, 7}) {
    test::TempDir dir;
    const auto alone = train_sum(2 * batch, Shard{}, nullptr, dir.file("alone"));
    const auto ranks = on_ranks(2, [&](int, DataParallel& group) {
      return train_sum(batch, group.shard(), &group, dir.file("ranks"));
    });
    EXPECT_EQ(alone.result.steps, ranks[0].result.steps);
    for (const auto& r : ranks) {
      ASSERT_EQ(r.params.size(), alone.params.size());
      for (size_t i = 0; i < r.params.size(); ++i)
        EXPECT_TRUE(torch::allclose(r.params[i], alone.params[i], 1e-10, 1e-12))
            << "batch " << batch << " parameter " << i << ": max difference "
            << (r.params[i] - alone.params[i]).abs().max().item<double>();
      EXPECT_NEAR(r.result.best_metric, alone.result.best_metric, 1e-12);
      EXPECT_EQ(r.result.items, alone.result.items);  // all processes' items together
    }
    // Only rank 0 wrote: one metrics.jsonl with the same validation losses as the lone run.
    EXPECT_TRUE(util::path_exists(dir.file("ranks/checkpoints/last.pt")));
    std::ifstream a(dir.file("alone/metrics.jsonl")), b(dir.file("ranks/metrics.jsonl"));
    std::string la, lb;
    int val_lines = 0;
    while (std::getline(a, la) && std::getline(b, lb))
      if (la.find("\"split\":\"val\"") != std::string::npos) {
        ++val_lines;
        EXPECT_NE(lb.find("\"split\":\"val\""), std::string::npos);
      }
    EXPECT_EQ(val_lines, 3);
  }
}

TEST(DataParallel, ARankThatStopsAnsweringEndsTheOthersStepWithinTheTimeout) {
  if (!gloo_available()) GTEST_SKIP() << "this build has no Gloo (its LibTorch ships no gloo headers)";
  const auto results = on_ranks(
      2,
      [](int rank, DataParallel& group) -> std::string {
        if (rank == 1) {  // joined, then hangs (never reaches the step's all-reduce)
          std::this_thread::sleep_for(std::chrono::seconds(7));
          return "";
        }
        auto a = torch::zeros({2}).requires_grad_();
        a.mutable_grad() = torch::ones({2});
        StepAgreement step;
        step.items = 1;
        const auto start = std::chrono::steady_clock::now();
        try {
          group.after_backward({a}, step);
        } catch (const std::exception& e) {
          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          EXPECT_LT(s, 6.0) << "the error came after " << s << " s";
          return e.what();
        }
        return "no error";
      },
      // 3 s, not less: the same timeout bounds forming the group, and under a loaded machine
      // (ctest -j2 beside apps.dist_check) a 1.5-s rendezvous once timed out.
      std::chrono::milliseconds(3000));
  const std::string& message = results[0];
  EXPECT_NE(message.find("data-parallel rank 0 of 2: the gradient all-reduce failed"), std::string::npos) << message;
  EXPECT_NE(message.find("did not answer within 3 s"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

}  // namespace
}  // namespace seqtorch::train
