#include <seqtorch/textgen/budget.h>
#include <seqtorch/textgen/char_model.h>
#include <seqtorch/textgen/stream_task.h>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace seqtorch::textgen {

std::vector<BudgetCandidate> budget_ladder() {
  std::vector<BudgetCandidate> ladder;
  for (auto [layers, hidden] : std::vector<std::pair<int64_t, int64_t>>{{1, 128}, {1, 256}, {1, 384}, {1, 512},
                                                                      {2, 512}, {2, 768}, {2, 1024}}) {
    BudgetCandidate c;
    c.num_layers = layers;
    c.hidden_size = hidden;
    ladder.push_back(c);
  }
  return ladder;
}

int64_t lstm_char_model_parameters(int64_t vocab_size, int64_t num_layers, int64_t hidden_size,
                                   int64_t embedding_size) {
  const int64_t V = vocab_size, H = hidden_size, E = embedding_size;
  int64_t p = V * E + H * V + V;  // embedding, output layer
  for (int64_t l = 0; l < num_layers; ++l) p += 4 * H * ((l == 0 ? E : H) + H) + 8 * H;  // weights, two biases
  return p;
}

BudgetChoice choose_for_budget(const Corpus& corpus, double seconds, torch::Device device, uint64_t seed) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  TORCH_CHECK(seconds > 0, "choose_for_budget: seconds: expected > 0, got ", seconds);
  BudgetChoice choice;
  const int64_t V = corpus.vocab.size(), N = corpus.train.numel();
  // As many streams as the text holds, up to 64 (a short text: fewer).
  choice.batch_size = std::clamp<int64_t>(N / (choice.seq_len + 1), 1, 64);
  const auto start = Clock::now();
  bool first = true;
  for (BudgetCandidate c : budget_ladder()) {
    c.parameters = lstm_char_model_parameters(V, c.num_layers, c.hidden_size, choice.embedding_size);
    if (!first && c.parameters > N) break;  // fails the text's rule: no need to probe it
    torch::manual_seed(seed);
    CharModel model(CharModelOptions(V).embedding_size(choice.embedding_size).hidden_size(c.hidden_size)
                        .num_layers(c.num_layers), corpus.vocab);
    model->to(device);
    StreamTask task(model, corpus.train, corpus.val, choice.batch_size, choice.seq_len, device);
    torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(choice.lr));
    task.start_epoch(0);
    const int64_t batches = task.batches_per_epoch();
    double timed = 0;
    int64_t tokens = 0;
    for (int64_t s = 0; s < 3; ++s) {  // one warm-up step, two timed
      const auto t0 = Clock::now();
      adam.zero_grad();
      const train::StepLoss step = task.train_loss(0, s % batches);
      step.loss.backward();
      adam.step();
      step.loss.item<double>();  // waits for the device
      if (s > 0) timed += since(t0), tokens += step.items;
    }
    c.tokens_per_s = static_cast<double>(tokens) / std::max(timed, 1e-9);
    choice.probed.push_back(c);
    const bool fits = static_cast<double>(c.parameters) <= seconds * c.tokens_per_s / 20 && c.parameters <= N;
    if (fits || first) choice.num_layers = c.num_layers, choice.hidden_size = c.hidden_size;
    first = false;
    if (!fits) break;
  }
  choice.probe_seconds = since(start);
  return choice;
}

}  // namespace seqtorch::textgen
