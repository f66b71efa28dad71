// The core demonstration run by scripts/demo.sh until the task apps exist: the seed note's Elman
// RNN and an LSTM learn the delayed-recall task (recall the symbol seen 3 steps earlier) and the
// held-out loss falls from chance (ln 4 = 1.386 nats) towards zero.
#include <seqtorch/data/recall_task.h>
#include <seqtorch/nn/elman_rnn.h>
#include <seqtorch/nn/sequence_shapes.h>
#include <seqtorch/util/blas.h>

#include <fmt/format.h>
#include <torch/torch.h>

#include <functional>
#include <iostream>
#include <thread>

namespace {

const seqtorch::data::RecallTaskOptions kTask{4, 3, 12};

void train(const std::string& name, torch::nn::Module& model,
           const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
  torch::optim::Adam opt(model.parameters(), torch::optim::AdamOptions(1e-2));
  const auto held_out = seqtorch::data::make_recall_batch(kTask, 512, 999);
  auto loss_of = [&](const seqtorch::data::RecallBatch& b) {
    return torch::nn::functional::cross_entropy(forward(b.inputs).reshape({-1, kTask.symbols}),
                                                b.targets.reshape({-1}));
  };
  fmt::print("{}: recall the symbol seen {} steps earlier ({} symbols, chance {:.3f} nats)\n",
             name, kTask.delay, kTask.symbols, std::log(double(kTask.symbols)));
  for (int step = 0; step <= 400; ++step) {
    if (step % 50 == 0) {
      torch::NoGradGuard no_grad;
      fmt::print("  step {:4d}  held-out loss {:.4f}\n", step, loss_of(held_out).item<double>());
    }
    opt.zero_grad();
    loss_of(seqtorch::data::make_recall_batch(kTask, 32, step)).backward();
    opt.step();
  }
}

}  // namespace

int main(int, char** argv) {
  seqtorch::util::select_blas_core(argv);  // OpenBLAS's AVX kernels where it misdetects the CPU
  try {
    torch::set_num_threads(std::max(1u, std::thread::hardware_concurrency()));
    torch::manual_seed(1);
    seqtorch::nn::ElmanRNN elman(seqtorch::nn::ElmanRNNOptions(kTask.symbols, 32, kTask.symbols));
    train("Elman RNN (U, W, V, b, c)", *elman,
          [&](const torch::Tensor& x) { return elman->forward(x).output; });
    seqtorch::nn::ManyToMany lstm(
        seqtorch::nn::RecurrentOptions(kTask.symbols, 32).cell(seqtorch::nn::CellKind::lstm),
        kTask.symbols);
    train("LSTM", *lstm, [&](const torch::Tensor& x) { return lstm->forward(x).output; });
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "seqtorch-core-demo: " << e.what() << "\n";
    return 1;
  }
}
