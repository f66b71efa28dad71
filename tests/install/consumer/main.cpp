// Trains an installed seqtorch's LSTM layer for a few steps on a toy task and checks the shapes
// and that the loss fell: the headers, the library and Torch all come from find_package.
#include <seqtorch/seqtorch.h>

#include <torch/torch.h>

#include <iostream>

int main() {
  using namespace seqtorch::nn;
  torch::manual_seed(0);
  ManyToOne model(RecurrentOptions(1, 16).cell(CellKind::lstm), 1);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  auto x = torch::rand({8, 32, 1});  // [T, B, I]: the target is the sum over time
  auto y = x.sum(0);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto loss = torch::mse_loss(model->forward(x), y);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  std::cout << "consumer: output " << model->forward(x).sizes() << ", loss " << first << " -> "
            << last << "\n";
  return last < 0.5 * first ? 0 : 1;
}
