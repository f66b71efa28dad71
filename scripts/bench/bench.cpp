// seqtorch-bench: times one workload of issue 6's benchmark with seqtorch and prints one JSON line.
//   seqtorch-bench WORKLOAD THREADS [SECONDS]
// WORKLOAD: sgemm | W1 | W2 | W3-2x512 | W3-1x128 | W4-lstm512 | W4-lstm1024 | W4-lstm256 | W4-gru512
//   | W1-1x256 | W5-attn
//   SEQTORCH_STEP_PRODUCT=blas: the recurrent kernel's per-step products through BLAS instead of
//   its packed tiles (nn/cpu_kernel.h), to compare.
//   SEQTORCH_OPTIMIZER=torch: torch::optim's Adam step instead of the one-pass step
//   (OptimizerOptions::fused), to compare.
//   W1-1x256: W1's training step with textgen's budget model (1-layer LSTM 256, batch 64).
//   W5-attn: an attention decoder's training step, one LSTM step at a time (the translate and
//   caption decoders' path): Luong input feeding, LSTM 512 over [embedding 256, feed 512],
//   general attention over 30 memory vectors of 512, combine 1024 -> 512, output layer 96, batch
//   64, 30 steps, cross-entropy, clipping, Adam.
//   W3-...-bf16, W3-...-int8: generation with the weights stored so (sample --weights); its JSON
//   adds weight_mb, the weight bytes read per token
//   membw: the bandwidth of streaming a 13 MB float32 array (the 2x512 model's weights) from
//   cache or memory, GB/s (what bounds W3-2x512)
//   gpu-step-LxHxB (e.g. gpu-step-2x512x32; THREADS ignored, SECONDS: steps): where the time of one
//   textgen training step on CUDA goes (scripts/bench/gpu_textgen.py --profile).
// scripts/bench/peer_pytorch.py times the same workloads in PyTorch-Python; scripts/bench/run.py
// interleaves the two and prints the table. FLOP counts follow DeepBench: an LSTM layer costs
// 8H(I+H) per token forward, the same again for each backward pass (24H(I+H) in training), a GRU
// 6H(I+H) (18H(I+H)), the output layer 2HV (6HV).
#include <seqtorch/decode/decoding.h>
#include <seqtorch/nn/attention.h>
#include <seqtorch/nn/cpu_kernel.h>
#include <seqtorch/nn/gradients.h>
#include <seqtorch/nn/recurrent.h>
#include <seqtorch/textgen/char_model.h>
#include <seqtorch/textgen/fast_generator.h>
#include <seqtorch/train/device_step.h>
#include <seqtorch/train/optimizer.h>
#include <seqtorch/util/allocator.h>
#include <seqtorch/util/blas.h>

#include <torch/torch.h>

#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace st = seqtorch;
using Clock = std::chrono::steady_clock;

namespace {

// The optimiser's options: the defaults, fused unless SEQTORCH_OPTIMIZER=torch.
st::train::OptimizerOptions optimizer_options() {
  st::train::OptimizerOptions o;
  const char* v = std::getenv("SEQTORCH_OPTIMIZER");
  o.fused = !(v && std::string(v) == "torch");
  return o;
}

// Best seconds per call of `fn` over repetitions filling about `budget` seconds (after one warm-up).
double best_time(const std::function<void()>& fn, double budget) {
  fn();
  double best = 1e300, spent = 0;
  int reps = 0;
  while (reps < 3 || (spent < budget && reps < 1000)) {
    auto t0 = Clock::now();
    fn();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, s);
    spent += s;
    ++reps;
  }
  return best;
}

st::data::Vocabulary vocab96() {
  std::vector<int32_t> syms;
  for (int32_t c = 32; c < 32 + 95; ++c) syms.push_back(c);  // 95 symbols + unknown = 96
  return st::data::Vocabulary::build(syms, st::data::Vocabulary::Unit::codepoint);
}

void print(const std::string& w, int threads, const char* unit, double value, double gflops) {
  std::printf("{\"workload\":\"%s\",\"threads\":%d,\"impl\":\"seqtorch\",\"unit\":\"%s\",\"value\":%.6g,\"gflops\":%.6g,\"blas_core\":\"%s\"}\n",
              w.c_str(), threads, unit, value, gflops, st::util::openblas_core().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  st::util::select_blas_core(argv);  // as the apps do: OpenBLAS's AVX kernels where it misdetects
  st::util::keep_freed_memory();     // as the apps do: per-step buffers stay in the heap
  if (argc < 3) {
    std::fprintf(stderr, "usage: seqtorch-bench WORKLOAD THREADS [SECONDS]\n");
    return 2;
  }
  const std::string w = argv[1];
  const int threads = std::stoi(argv[2]);
  const double budget = argc > 3 ? std::stod(argv[3]) : 3.0;
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  // SEQTORCH_STEP_PRODUCT=blas: the recurrent kernel's per-step products through BLAS (to compare).
  if (const char* p = std::getenv("SEQTORCH_STEP_PRODUCT"); p && std::string(p) == "blas")
    st::nn::cpu_kernel::set_step_product(st::nn::cpu_kernel::StepProduct::blas);
  try {
    if (w == "sgemm") {
      auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
      const double s = best_time([&] { torch::mm(a, b); }, budget);
      print(w, threads, "GFLOP/s", 2.0 * 2048 * 2048 * 2048 / s / 1e9, 2.0 * 2048 * 2048 * 2048 / s / 1e9);
      return 0;
    }
    if (w == "W1" || w == "W2" || w == "W1-1x256") {
      const bool big = w == "W1", mid = w == "W1-1x256";
      const int64_t H = big ? 512 : mid ? 256 : 128, L = big ? 2 : 1, B = big ? 32 : mid ? 64 : 16,
                    T = 100, E = 64, V = 96;
      auto vocab = vocab96();
      st::textgen::CharModel m(st::textgen::CharModelOptions(V).embedding_size(E).hidden_size(H).num_layers(L), vocab);
      auto opt = st::train::make_optimizer(m->parameters(), optimizer_options());
      auto x = torch::randint(V, {T, B}, torch::kLong), y = torch::randint(V, {T, B}, torch::kLong);
      const double s = best_time([&] {
        opt->zero_grad();
        auto out = m->forward(x);
        torch::nn::functional::cross_entropy(out.logits.reshape({-1, V}), y.reshape({-1})).backward();
        st::nn::clip_grad_norm_(m->parameters(), 1.0);
        opt->step();
      }, budget);
      double flops = 6.0 * H * V;
      for (int64_t l = 0; l < L; ++l) flops += 24.0 * H * ((l == 0 ? E : H) + H);
      const double tps = B * T / s;
      print(w, threads, "tokens/s", tps, tps * flops / 1e9);
      return 0;
    }
    if (w == "W5-attn") {
      const int64_t B = 64, S = 30, T = 30, E = 256, H = 512, V = 96;
      torch::nn::Embedding embedding(V, E);
      st::nn::Recurrent decoder(st::nn::RecurrentOptions(E + H, H));
      st::nn::Attention attention(st::nn::AttentionOptions(H, H).kind(st::nn::AttentionKind::general));
      torch::nn::Linear combine(2 * H, H), project(H, V);
      std::vector<torch::Tensor> params;
      for (torch::nn::Module* m : std::initializer_list<torch::nn::Module*>{
               embedding.get(), decoder.get(), attention.get(), combine.get(), project.get()})
        for (const auto& p : m->parameters()) params.push_back(p);
      auto opt = st::train::make_optimizer(params, optimizer_options());
      auto memory = torch::randn({S, B, H}), h0 = torch::randn({1, B, H}), c0 = torch::randn({1, B, H});
      auto x = torch::randint(V, {T, B}, torch::kLong), y = torch::randint(V, {T, B}, torch::kLong);
      const double s = best_time([&] {
        opt->zero_grad();
        const auto mem = attention->prepare(memory, torch::Tensor());
        st::nn::RecurrentState state{h0, c0};
        auto feed = torch::zeros({B, H});
        std::vector<torch::Tensor> features;
        st::nn::cpu_kernel::PackingScope packing;  // as the translate and caption decoders do
        for (int64_t t = 0; t < T; ++t) {
          auto r = decoder->forward(torch::cat({embedding->forward(x[t]), feed}, 1).unsqueeze(0), state);
          auto h = r.output.squeeze(0);
          auto a = attention->forward(h, mem);
          feed = torch::tanh(combine->forward(torch::cat({h, a.context}, 1)));
          features.push_back(feed);
          state = r.state;
        }
        auto logits = project->forward(torch::stack(features));
        torch::nn::functional::cross_entropy(logits.reshape({-1, V}), y.reshape({-1})).backward();
        st::nn::clip_grad_norm_(params, 1.0);
        opt->step();
      }, budget);
      // LSTM 24H(I+H), combine 6(2H)H, output 6HV, general attention (keys once per batch:
      // 6 S H H / T per token; scores and context 2 x 6 S H per token).
      const double flops = 24.0 * H * (E + 2 * H) + 12.0 * H * H + 6.0 * H * V +
                           6.0 * S * H * H / T + 12.0 * S * H;
      const double tps = B * T / s;
      print(w, threads, "tokens/s", tps, tps * flops / 1e9);
      return 0;
    }
    if (w.rfind("W3-2x512", 0) == 0 || w.rfind("W3-1x128", 0) == 0) {
      const bool big = w.rfind("W3-2x512", 0) == 0;
      const auto dash = w.find('-', 3);
      const auto format = st::textgen::parse_weight_format(dash == std::string::npos ? "f32" : w.substr(dash + 1));
      const int64_t H = big ? 512 : 128, L = big ? 2 : 1, E = 64, V = 96, N = 200;
      auto vocab = vocab96();
      st::textgen::CharModel m(st::textgen::CharModelOptions(V).embedding_size(E).hidden_size(H).num_layers(L), vocab);
      m->eval();
      st::textgen::FastGenerator fast(m, format);  // what seqtorch-textgen sample uses for LSTMs on the CPU
      const double s = best_time([&] { fast.generate({1, 2, 3}, N, {1.0, 0, 1.0}, 7); }, budget);
      double flops = 2.0 * H * V;
      for (int64_t l = 0; l < L; ++l) flops += 8.0 * H * ((l == 0 ? E : H) + H);
      const double us = s / N * 1e6;
      std::printf("{\"workload\":\"%s\",\"threads\":%d,\"impl\":\"seqtorch\",\"unit\":\"us/token\",\"value\":%.6g,"
                  "\"gflops\":%.6g,\"weight_mb\":%.6g,\"gb_per_s\":%.6g,\"blas_core\":\"%s\"}\n",
                  w.c_str(), threads, us, flops / (us * 1e3), fast.weight_bytes() / 1e6, fast.weight_bytes() / (us * 1e3),
                  st::util::openblas_core().c_str());
      return 0;
    }
    if (w == "membw") {
      // Sum of a 13 MB array (3.4 M floats), as the generator streams its weights once a token.
      std::vector<float> a(13 * 1000 * 1000 / 4, 1.f);
      const int64_t n = static_cast<int64_t>(a.size()), parts = threads;
      std::vector<float> acc(static_cast<size_t>(parts) * 64, 0.f);  // a cache line apart per thread
      auto sum_part = [&](int64_t p) {
        float lanes[16] = {0};
        const float* x = a.data() + p * n / parts;
        const int64_t len = (p + 1) * n / parts - p * n / parts;
        for (int64_t i = 0; i + 16 <= len; i += 16)
          for (int j = 0; j < 16; ++j) lanes[j] += x[i + j];
        for (int j = 0; j < 16; ++j) acc[p * 64 + j] += lanes[j];
      };
      // Threads of our own, each summing its part `reps` times: this program is compiled without
      // OpenMP, where at::parallel_for runs on one thread (before this, "2 threads" measured 1).
      constexpr int reps = 20;
      const double s = best_time([&] {
        std::vector<std::thread> pool;
        for (int64_t p = 1; p < parts; ++p)
          pool.emplace_back([&, p] { for (int r = 0; r < reps; ++r) sum_part(p); });
        for (int r = 0; r < reps; ++r) sum_part(0);
        for (auto& t : pool) t.join();
      }, budget) / reps;
      print(w, threads, "GB/s", a.size() * sizeof(float) / s / 1e9, 0);
      return acc[0] > 0 ? 0 : 1;
    }
    if (w.rfind("gpu-step-", 0) == 0) {
      // One textgen training step (the app's: embedding, LSTM, head, cross-entropy, backward, norm
      // clipping, Adam) on CUDA, timed four ways over `budget` steps each: the phases apart (a
      // device synchronisation after each, so each phase's GPU time shows), the step as the app
      // runs it (DeviceStep: nothing waited for), and the step with the loss and the norm read back
      // at every step (--sync-steps).
      int64_t L = 0, H = 0, B = 0;
      TORCH_CHECK(std::sscanf(w.c_str(), "gpu-step-%ldx%ldx%ld", &L, &H, &B) == 3 && torch::cuda::is_available(),
                  "gpu-step-LxHxB needs three numbers and a CUDA device");
      const int64_t T = 100, E = 64, V = 96, steps = std::max<int64_t>(20, static_cast<int64_t>(budget));
      const torch::Device cuda(torch::kCUDA, 0);
      auto vocab = vocab96();
      st::textgen::CharModel m(st::textgen::CharModelOptions(V).embedding_size(E).hidden_size(H).num_layers(L), vocab);
      m->to(cuda);
      st::train::OptimizerOptions oo = optimizer_options();
      oo.lr = 0.002;
      auto opt = st::train::make_optimizer(m->parameters(), oo);
      st::train::DeviceStep device_step(*opt);
      const auto params = m->parameters();
      auto x = torch::randint(V, {T, B}, torch::TensorOptions(torch::kLong).device(cuda));
      auto y = torch::randint(V, {T, B}, x.options());
      double phase[4] = {0, 0, 0, 0};  // forward, backward, clip, optimizer
      auto now = [] { torch::cuda::synchronize(); return Clock::now(); };
      auto step = [&](int mode) {  // 0 phases, 1 as the app, 2 with host reads
        auto t0 = mode == 0 ? now() : Clock::now();
        opt->zero_grad();
        auto out = m->forward(x);
        auto loss = torch::nn::functional::cross_entropy(out.logits.reshape({-1, V}), y.reshape({-1}));
        auto t1 = mode == 0 ? now() : t0;
        loss.backward();
        auto t2 = mode == 0 ? now() : t0;
        torch::Tensor norm = st::nn::clip_grad_norm_tensor_(params, 1.0);
        auto t3 = mode == 0 ? now() : t0;
        auto skip = torch::logical_not(torch::isfinite(loss) & torch::isfinite(norm)).to(torch::kFloat);
        if (mode == 2) {
          const bool bad = !std::isfinite(loss.item<double>()) || !std::isfinite(norm.item<double>());
          if (!bad) opt->step();
        } else {
          device_step.step(skip);
        }
        if (mode == 0) {
          auto t4 = now();
          phase[0] += std::chrono::duration<double>(t1 - t0).count();
          phase[1] += std::chrono::duration<double>(t2 - t1).count();
          phase[2] += std::chrono::duration<double>(t3 - t2).count();
          phase[3] += std::chrono::duration<double>(t4 - t3).count();
        }
      };
      auto timed = [&](int mode) {
        for (int i = 0; i < 10; ++i) step(mode);  // warm-up
        if (mode == 0) std::fill(phase, phase + 4, 0.0);
        auto t0 = now();
        for (int64_t i = 0; i < steps; ++i) step(mode);
        return std::chrono::duration<double>(now() - t0).count() / static_cast<double>(steps) * 1e3;
      };
      timed(0);
      const double async = timed(1), host = timed(2);
      std::printf("{\"workload\":\"%s\",\"impl\":\"seqtorch\",\"unit\":\"ms/step\",\"forward_ms\":%.4f,"
                  "\"backward_ms\":%.4f,\"clip_ms\":%.4f,\"optimizer_ms\":%.4f,\"step_ms\":%.4f,"
                  "\"step_host_reads_ms\":%.4f,\"tokens_per_s\":%.1f}\n",
                  w.c_str(), phase[0] / steps * 1e3, phase[1] / steps * 1e3, phase[2] / steps * 1e3,
                  phase[3] / steps * 1e3, async, host, static_cast<double>(B * T) / async * 1e3);
      return 0;
    }
    if (w.rfind("W4-", 0) == 0) {
      // DeepBench layers (input size = H): forward, backward-data and backward-weights timed apart.
      const bool gru = w == "W4-gru512";
      const int64_t H = w == "W4-lstm1024" ? 1024 : w == "W4-lstm256" ? 256 : 512;
      const int64_t N = w == "W4-lstm256" ? 16 : gru ? 32 : 64;
      const int64_t T = w == "W4-lstm256" ? 150 : gru ? 1 : 25;
      st::nn::Recurrent layer(st::nn::RecurrentOptions(H, H).cell(gru ? st::nn::CellKind::gru : st::nn::CellKind::lstm));
      auto x = torch::randn({T, N, H});
      auto weights = layer->parameters();
      const double flops = (gru ? 6.0 : 8.0) * H * (2 * H) * N * T;
      auto set = [&](bool data, bool params) {
        x.requires_grad_(data);
        for (auto& p : weights) p.requires_grad_(params);
      };
      set(true, true);
      const double fwd = best_time([&] { layer->forward(x); }, budget / 3);
      set(true, false);
      auto out = layer->forward(x).output;
      auto gy = torch::randn_like(out);
      const double bwd_data = best_time([&] {
        torch::autograd::grad({out}, {x}, {gy}, /*retain_graph=*/true);
      }, budget / 3);
      set(false, true);
      out = layer->forward(x).output;
      const double bwd_weights = best_time([&] {
        torch::autograd::grad({out}, weights, {gy}, /*retain_graph=*/true);
      }, budget / 3);
      print(w + "-fwd", threads, "ms", fwd * 1e3, flops / fwd / 1e9);
      print(w + "-bwd-data", threads, "ms", bwd_data * 1e3, flops / bwd_data / 1e9);
      print(w + "-bwd-weights", threads, "ms", bwd_weights * 1e3, flops / bwd_weights / 1e9);
      return 0;
    }
    std::fprintf(stderr, "seqtorch-bench: unknown workload '%s'\n", w.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "seqtorch-bench: %s\n", e.what());
    return 1;
  }
}
