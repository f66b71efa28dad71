#include <seqtorch/textgen/fast_generator.h>

#include <torch/torch.h>

#include <cmath>
#include <cstring>

namespace seqtorch::textgen {

bool FastGenerator::supports(const CharModel& model) {
  return model->options.cell() == nn::CellKind::lstm && model->head_bias.device().is_cpu() &&
         model->head_bias.scalar_type() == torch::kFloat;
}

FastGenerator::FastGenerator(const CharModel& model) {
  TORCH_CHECK(supports(model), "fast generator: needs an LSTM model on the CPU in float32");
  torch::NoGradGuard no_grad;
  const auto& o = model->options;
  layers_ = o.num_layers();
  hidden_ = o.hidden_size();
  vocab_ = o.vocab_size();
  embedding_ = model->embed->weight.detach().clone().contiguous();
  for (int64_t l = 0; l < layers_; ++l) {
    auto w = model->rnn->layer_parameters(l, 0);  // w_ih, w_hh, b_ih, b_hh
    packed_.push_back(torch::cat({w[0], w[1]}, 1).contiguous());
    bias_.push_back(w.size() > 2 ? (w[2] + w[3]).contiguous() : torch::zeros({4 * hidden_}));
    xh_.push_back(torch::zeros({packed_.back().size(1)}));
    gates_.push_back(torch::zeros({4 * hidden_}));
    c_.push_back(torch::zeros({hidden_}));
  }
  head_weight_ = (o.tie_weights() ? model->embed->weight : model->head_weight).detach().clone().contiguous();
  head_bias_ = model->head_bias.detach().clone();
  logits_ = torch::zeros({vocab_});
}

void FastGenerator::reset() {
  for (int64_t l = 0; l < layers_; ++l) {
    xh_[l].zero_();
    c_[l].zero_();
  }
}

const torch::Tensor& FastGenerator::step(int64_t token) {
  TORCH_CHECK(token >= 0 && token < vocab_, "fast generator: token ", token, " outside [0, ", vocab_, ")");
  const int64_t H = hidden_;
  // Layer input: the embedding row (layer 0) or the layer below's h, in front of this layer's h.
  const float* input = embedding_.data_ptr<float>() + token * embedding_.size(1);
  int64_t input_size = embedding_.size(1);
  for (int64_t l = 0; l < layers_; ++l) {
    float* xh = xh_[l].data_ptr<float>();
    std::memcpy(xh, input, sizeof(float) * input_size);  // xh = [x; h(t-1)]
    at::addmv_out(gates_[l], bias_[l], packed_[l], xh_[l]);
    const float* g = gates_[l].data_ptr<float>();
    float* c = c_[l].data_ptr<float>();
    float* h = xh + input_size;  // h(t) overwrites h(t-1) in place, ready for the next step
    for (int64_t j = 0; j < H; ++j) {
      const float i = 1.f / (1.f + std::exp(-g[j]));
      const float f = 1.f / (1.f + std::exp(-g[H + j]));
      const float z = std::tanh(g[2 * H + j]);
      const float og = 1.f / (1.f + std::exp(-g[3 * H + j]));
      c[j] = f * c[j] + i * z;
      h[j] = og * std::tanh(c[j]);
    }
    input = h;
    input_size = H;
  }
  at::addmv_out(logits_, head_bias_, head_weight_, xh_[layers_ - 1].narrow(0, xh_[layers_ - 1].size(0) - H, H));
  return logits_;
}

std::vector<int64_t> FastGenerator::generate(const std::vector<int64_t>& prime, int64_t length,
                                             const decode::SamplingOptions& options, uint64_t seed,
                                             const std::function<void(int64_t)>& on_token) {
  decode::check(options);
  TORCH_CHECK(length >= 0, "length: expected >= 0, got ", length);
  TORCH_CHECK(!prime.empty(), "generate: the prime must hold at least one token");
  torch::NoGradGuard no_grad;
  reset();
  for (int64_t t : prime) step(t);
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<int64_t> out;
  out.reserve(length);
  for (int64_t i = 0; i < length; ++i) {
    const int64_t t = decode::next_tokens(torch::log_softmax(logits_.unsqueeze(0), -1), options, gen).item<int64_t>();
    out.push_back(t);
    if (on_token) on_token(t);
    if (i + 1 < length) step(t);
  }
  return out;
}

}  // namespace seqtorch::textgen
