#include <seqtorch/forecast/forecaster.h>

#include <torch/torch.h>

namespace seqtorch::forecast {

std::string to_string(Mode m) {
  return m == Mode::seq2seq ? "seq2seq" : m == Mode::seq2vec ? "seq2vec" : "encdec";
}

Mode parse_mode(const std::string& name) {
  for (auto m : {Mode::seq2seq, Mode::seq2vec, Mode::encdec})
    if (name == to_string(m)) return m;
  TORCH_CHECK(false, "mode: expected seq2seq, seq2vec or encdec, got '", name, "'");
}

std::string to_string(Loss l) { return l == Loss::mse ? "mse" : l == Loss::mae ? "mae" : "gaussian"; }

Loss parse_loss(const std::string& name) {
  for (auto l : {Loss::mse, Loss::mae, Loss::gaussian})
    if (name == to_string(l)) return l;
  TORCH_CHECK(false, "loss: expected mse, mae or gaussian, got '", name, "'");
}

ForecasterImpl::ForecasterImpl(const ForecasterOptions& o) : options(o) {
  TORCH_CHECK(o.targets() >= 1, "forecaster: targets: expected >= 1, got ", o.targets());
  TORCH_CHECK(o.covariates() >= 0, "forecaster: covariates: expected >= 0, got ", o.covariates());
  TORCH_CHECK(o.window() >= 1, "forecaster: window: expected >= 1, got ", o.window());
  TORCH_CHECK(o.horizon() >= 1, "horizon: expected >= 1, got ", o.horizon());
  TORCH_CHECK(o.mode() != Mode::seq2seq || o.covariates() == 0,
              "mode seq2seq feeds its predictions back as inputs and cannot use covariates "
              "(their future values are unknown); use seq2vec or encdec");
  TORCH_CHECK(o.teacher_forcing() >= 0 && o.teacher_forcing() <= 1,
              "teacher-forcing: expected in [0, 1], got ", o.teacher_forcing());
  const int64_t C = o.targets(), I = C + o.covariates();
  const int64_t out = o.loss() == Loss::gaussian ? 2 * C : C;
  auto rnn = [&](int64_t input) {
    return nn::RecurrentOptions(input, o.hidden_size()).cell(o.cell()).num_layers(o.num_layers())
        .dropout(o.dropout()).batch_first(true);
  };
  switch (o.mode()) {
    case Mode::seq2seq: seq = register_module("seq", nn::ManyToMany(rnn(I), out)); break;
    case Mode::seq2vec: vec = register_module("vec", nn::ManyToOne(rnn(I), o.horizon() * out)); break;
    case Mode::encdec: encdec = register_module("encdec", nn::EncoderDecoder(rnn(I), rnn(C), out)); break;
  }
  scaler_shift = register_buffer("scaler_shift", torch::zeros({I}));
  scaler_scale = register_buffer("scaler_scale", torch::ones({I}));
}

void ForecasterImpl::set_scaler(const data::Scaler& s) {
  TORCH_CHECK(s.shift.numel() == scaler_shift.numel(), "forecaster: scaler of ", s.shift.numel(),
              " columns for a model of ", scaler_shift.numel());
  torch::NoGradGuard no_grad;
  scaler_shift.copy_(s.shift);
  scaler_scale.copy_(s.scale);
}

Forecast ForecasterImpl::split_head(const torch::Tensor& out) const {
  const int64_t C = options.targets();
  if (options.loss() != Loss::gaussian) return {out, {}};
  return {out.narrow(-1, 0, C), torch::nn::functional::softplus(out.narrow(-1, C, C)) + 1e-4};
}

torch::Tensor ForecasterImpl::step_loss(const Forecast& f, const torch::Tensor& y) const {
  switch (options.loss()) {
    case Loss::mse: return torch::mse_loss(f.mean, y);
    case Loss::mae: return torch::l1_loss(f.mean, y);
    case Loss::gaussian:
      return 0.5 * (f.variance.log() + (y - f.mean).pow(2) / f.variance).mean();
  }
  return {};
}

Forecast ForecasterImpl::decode(const torch::Tensor& x, const torch::Tensor& y, double p) {
  const int64_t C = options.targets();
  nn::RecurrentState state = encdec->encode(x);
  // Negative indices, not sizes, so that an exported (traced) model accepts any window length.
  torch::Tensor prev = x.narrow(1, -1, 1).narrow(2, 0, C);  // [B, 1, C]
  std::vector<torch::Tensor> means, vars;
  for (int64_t h = 0; h < options.horizon(); ++h) {
    nn::SequenceOutput o = encdec->decode(prev, state);
    state = o.state;
    Forecast f = split_head(o.output);  // [B, 1, C]
    means.push_back(f.mean);
    if (f.variance.defined()) vars.push_back(f.variance);
    const bool teach = y.defined() && p > 0 && torch::rand({1}).item<double>() < p;
    prev = teach ? y.narrow(1, h, 1) : f.mean;
  }
  return {torch::cat(means, 1), vars.empty() ? torch::Tensor() : torch::cat(vars, 1)};
}

std::pair<torch::Tensor, torch::Tensor> ForecasterImpl::to_relative(const torch::Tensor& x) const {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == scaler_shift.size(0),
              "forecast: window shape: expected [B, L, ", scaler_shift.size(0), "], got ", x.sizes());
  TORCH_CHECK(x.size(1) >= 1, "forecast: the window is empty");
  const int64_t C = options.targets();
  torch::Tensor level = x.narrow(1, -1, 1).narrow(2, 0, C);  // [B, 1, C]
  if (!options.relative()) level = torch::zeros_like(level);
  const torch::Tensor pad = torch::constant_pad_nd(level, {0, options.covariates()});
  return {x - pad, level};
}

Forecast ForecasterImpl::forecast_scaled(const torch::Tensor& x) {
  auto [rel, level] = to_relative(x);
  Forecast f = forecast_relative(rel);
  f.mean = f.mean + level;
  return f;
}

Forecast ForecasterImpl::forecast_relative(const torch::Tensor& x) {
  const int64_t C = options.targets(), H = options.horizon();
  switch (options.mode()) {
    case Mode::seq2vec: {
      torch::Tensor out = vec->forward(x);  // [B, H * out]
      return split_head(out.view({-1, H, options.loss() == Loss::gaussian ? 2 * C : C}));
    }
    case Mode::encdec: return decode(x, {}, 0.0);
    case Mode::seq2seq: {
      nn::SequenceOutput o = seq->forward(x);
      Forecast f = split_head(o.output.narrow(1, -1, 1));  // predicts L+1
      std::vector<torch::Tensor> means{f.mean}, vars;
      if (f.variance.defined()) vars.push_back(f.variance);
      nn::RecurrentState state = o.state;
      for (int64_t h = 1; h < H; ++h) {
        nn::SequenceOutput next = seq->forward(means.back(), state);
        state = next.state;
        Forecast g = split_head(next.output);
        means.push_back(g.mean);
        if (g.variance.defined()) vars.push_back(g.variance);
      }
      return {torch::cat(means, 1), vars.empty() ? torch::Tensor() : torch::cat(vars, 1)};
    }
  }
  return {};
}

torch::Tensor ForecasterImpl::loss(const torch::Tensor& x_scaled, const torch::Tensor& y_scaled) {
  const int64_t C = options.targets();
  auto [x, level] = to_relative(x_scaled);
  const torch::Tensor y = y_scaled - level;
  switch (options.mode()) {
    case Mode::seq2seq: {
      // The series shifted by one step: o(t) predicts the targets at t + 1.
      torch::Tensor shifted = torch::cat({x.narrow(1, 1, x.size(1) - 1).narrow(2, 0, C), y.narrow(1, 0, 1)}, 1);
      return step_loss(split_head(seq->forward(x).output), shifted);
    }
    case Mode::seq2vec: return step_loss(forecast_relative(x), y);
    case Mode::encdec: return step_loss(decode(x, y, is_training() ? options.teacher_forcing() : 0.0), y);
  }
  return {};
}

Forecast ForecasterImpl::forward(const torch::Tensor& window) {
  const int64_t C = options.targets();
  TORCH_CHECK(window.dim() == 3, "forecast: window rank: expected 3 ([B, L, C+K]), got ", window.dim());
  Forecast f = forecast_scaled((window - scaler_shift) / scaler_scale);
  const torch::Tensor shift = scaler_shift.narrow(0, 0, C), scale = scaler_scale.narrow(0, 0, C);
  Forecast raw{f.mean * scale + shift, {}};
  if (f.variance.defined()) raw.variance = f.variance * scale * scale;
  return raw;
}

}  // namespace seqtorch::forecast
