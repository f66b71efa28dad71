#include <seqtorch/forecast/forecaster.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

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

std::string to_string(Relative r) {
  switch (r) {
    case Relative::none: return "none";
    case Relative::last: return "last";
    case Relative::season: return "season";
    case Relative::deseason: return "deseason";
    case Relative::trend: return "trend";
    case Relative::ets: return "ets";
  }
  return "?";
}

Relative parse_relative(const std::string& name) {
  for (auto r : {Relative::none, Relative::last, Relative::season, Relative::deseason, Relative::trend, Relative::ets})
    if (name == to_string(r)) return r;
  TORCH_CHECK(false, "relative: expected none, last, season, deseason, trend or ets, got '", name, "'");
}

std::string form_name(const ForecasterOptions& o) {
  if (o.combine().empty()) return to_string(o.relative());
  std::string names;
  for (Relative r : o.combine()) names += (names.empty() ? "" : ",") + to_string(r);
  return names;
}

std::vector<Relative> parse_relatives(const std::string& names) {
  std::vector<Relative> forms;
  size_t start = 0;
  while (true) {
    const size_t comma = names.find(',', start);
    const Relative r = parse_relative(names.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    TORCH_CHECK(std::find(forms.begin(), forms.end(), r) == forms.end(), "relative: '", to_string(r),
                "' is named twice in '", names, "'");
    forms.push_back(r);
    if (comma == std::string::npos) return forms;
    start = comma + 1;
  }
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
  TORCH_CHECK(o.season() >= 1, "season: expected >= 1, got ", o.season());
  TORCH_CHECK(o.ets_window() >= 0, "ets window: expected >= 0, got ", o.ets_window());
  const int64_t all = o.targets() + o.covariates();
  scaler_shift = register_buffer("scaler_shift", torch::zeros({all}));
  scaler_scale = register_buffer("scaler_scale", torch::ones({all}));
  if (!o.combine().empty()) {  // the parts check their own options
    for (Relative form : o.combine()) {
      TORCH_CHECK(std::count(o.combine().begin(), o.combine().end(), form) == 1, "combination: form ",
                  to_string(form), " is named twice");
      ForecasterOptions part = o;
      part.combine({}).ets_window(0).relative(form);
      if (form == Relative::ets && o.ets_window() > 0) part.window(o.ets_window());
      parts.push_back(register_module("part_" + to_string(form), std::make_shared<ForecasterImpl>(part)));
    }
    const auto P = static_cast<int64_t>(parts.size());
    combine_weights = register_buffer("combine_weights", torch::full({P}, 1.0 / static_cast<double>(P)));
    return;
  }
  const bool seasonal = o.relative() == Relative::season || o.relative() == Relative::deseason;
  TORCH_CHECK(!seasonal || o.season() > 1, "relative ", to_string(o.relative()),
              ": needs a season m > 1 (--season)");
  TORCH_CHECK(!seasonal || o.window() >= o.season(), "relative ", to_string(o.relative()),
              ": the window (", o.window(), ") must cover a season (", o.season(), ")");
  TORCH_CHECK(o.mode() != Mode::seq2seq || (o.relative() != Relative::season && o.relative() != Relative::trend &&
                                            o.relative() != Relative::ets),
              "relative ", to_string(o.relative()), ": not with mode seq2seq (it learns one step ahead "
              "in the window's own terms); use deseason, or mode seq2vec or encdec");
  TORCH_CHECK(o.relative() != Relative::trend || o.window() >= std::max<int64_t>(2, o.season()),
              "relative trend: the window (", o.window(), ") must cover a season and two steps");
  TORCH_CHECK(o.relative() != Relative::ets || o.window() >= std::max<int64_t>(2 * o.season(), 4),
              "relative ets: the window (", o.window(), ") must cover two seasons and 4 steps (",
              std::max<int64_t>(2 * o.season(), 4), ")");
  TORCH_CHECK(o.ensemble() >= 1, "ensemble: expected >= 1, got ", o.ensemble());
  TORCH_CHECK(!o.global() || o.covariates() == 0,
              "a global model (one network for every target series) takes no covariates; "
              "use --multi-series joint");
  const int64_t C = net_targets(), I = C + o.covariates();
  const int64_t out = o.loss() == Loss::gaussian ? 2 * C : C;
  auto rnn = [&](int64_t input) {
    return nn::RecurrentOptions(input, o.hidden_size()).cell(o.cell()).num_layers(o.num_layers())
        .dropout(o.dropout()).batch_first(true);
  };
  for (int64_t k = 0; k < o.ensemble(); ++k) {
    const std::string suffix = k == 0 ? "" : std::to_string(k);
    switch (o.mode()) {
      case Mode::seq2seq: seq.push_back(register_module("seq" + suffix, nn::ManyToMany(rnn(I), out))); break;
      case Mode::seq2vec: vec.push_back(register_module("vec" + suffix, nn::ManyToOne(rnn(I), o.horizon() * out))); break;
      case Mode::encdec: encdec.push_back(register_module("encdec" + suffix, nn::EncoderDecoder(rnn(I), rnn(C), out))); break;
    }
  }
  // The heads start at zero: the untrained model forecasts its base and training moves it only
  // as far as the data asks. Not encdec's: its decoder reads its own outputs, and from zero it
  // learns far more slowly (measured: worse than seasonal naive after 6 epochs on the built-in
  // series, against better with torch's initialisation).
  if (o.mode() != Mode::encdec) zero_heads();
  if (o.relative() == Relative::ets) {
    const int64_t R = o.season(), H = o.horizon(), L = o.window();
    ets_weights = register_buffer("ets_weights", torch::zeros({o.targets(), R, H, L}));
    ets_offsets = register_buffer("ets_offsets", torch::zeros({o.targets(), R, H}));
    ets_profiles = register_buffer("ets_profiles", torch::zeros({o.targets(), R, R}));
  }
}

void ForecasterImpl::set_ets_base(int64_t target, const std::vector<double>& weights,
                                  const std::vector<double>& offsets, const std::vector<double>& profile) {
  for (auto& part : parts)
    if (part->options.relative() == Relative::ets) return part->set_ets_base(target, weights, offsets, profile);
  TORCH_CHECK(parts.empty() && options.relative() == Relative::ets, "set_ets_base: the model's form is ",
              form_name(options), ", not ets");
  TORCH_CHECK(target >= 0 && target < options.targets(), "set_ets_base: target ", target, " of ",
              options.targets());
  const int64_t R = options.season(), H = options.horizon(), L = options.window();
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == R * H * L && static_cast<int64_t>(offsets.size()) == R * H &&
                  static_cast<int64_t>(profile.size()) == R,
              "set_ets_base: sizes ", weights.size(), ", ", offsets.size(), ", ", profile.size(), " for ", R,
              " rotations, horizon ", H, " and window ", L);
  auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  torch::NoGradGuard no_grad;
  ets_weights[target].copy_(torch::from_blob(const_cast<double*>(weights.data()), {R, H, L}, dbl));
  ets_offsets[target].copy_(torch::from_blob(const_cast<double*>(offsets.data()), {R, H}, dbl));
  // Row r: phase (r + j) mod m of the profile at the window's step j.
  const auto p = torch::from_blob(const_cast<double*>(profile.data()), {R}, dbl);
  const auto index = torch::remainder(torch::arange(R).view({R, 1}) + torch::arange(R).view({1, R}), R);
  ets_profiles[target].copy_(p.index({index}));
}

void ForecasterImpl::set_scaler(const data::Scaler& s) {
  TORCH_CHECK(s.shift.numel() == scaler_shift.numel(), "forecaster: scaler of ", s.shift.numel(),
              " columns for a model of ", scaler_shift.numel());
  torch::NoGradGuard no_grad;
  scaler_shift.copy_(s.shift);
  scaler_scale.copy_(s.scale);
  for (auto& part : parts) part->set_scaler(s);
}

int64_t ForecasterImpl::input_window() const {
  int64_t L = options.window();
  for (const auto& part : parts) L = std::max(L, part->options.window());
  return L;
}

void ForecasterImpl::set_combine_weights(const std::vector<double>& weights) {
  TORCH_CHECK(!parts.empty(), "set_combine_weights: the model is not a combination");
  TORCH_CHECK(weights.size() == parts.size(), "set_combine_weights: ", weights.size(), " weights for ",
              parts.size(), " parts");
  double sum = 0;
  for (double w : weights) {
    TORCH_CHECK(std::isfinite(w) && w >= 0, "set_combine_weights: weight ", w, " is not finite and >= 0");
    sum += w;
  }
  TORCH_CHECK(sum > 0, "set_combine_weights: every weight is 0");
  torch::NoGradGuard no_grad;
  auto w = torch::tensor(weights, torch::kDouble) / sum;
  combine_weights.copy_(w);
}

void ForecasterImpl::zero_heads() {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters())
    if (p.key().find("head.") != std::string::npos) p.value().zero_();
}

bool ForecasterImpl::has_variance() const { return options.loss() == Loss::gaussian; }

int64_t ForecasterImpl::net_targets() const { return options.global() ? 1 : options.targets(); }

torch::Tensor ForecasterImpl::fold(const torch::Tensor& x) const {
  if (!options.global() || !x.defined()) return x;
  return x.transpose(1, 2).flatten(0, 1).unsqueeze(-1);  // [B, T, C] -> [B*C, T, 1]
}

torch::Tensor ForecasterImpl::unfold(const torch::Tensor& x) const {
  if (!options.global() || !x.defined()) return x;
  return x.squeeze(-1).view({-1, options.targets(), x.size(1)}).transpose(1, 2);  // -> [B, T, C]
}

Forecast ForecasterImpl::split_head(const torch::Tensor& out) const {
  const int64_t C = net_targets();
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

Forecast ForecasterImpl::decode(size_t k, const torch::Tensor& x, const torch::Tensor& y, double p) {
  const int64_t C = net_targets();
  nn::RecurrentState state = encdec[k]->encode(x);
  // Negative indices, not sizes, so that an exported (traced) model accepts any window length.
  torch::Tensor prev = x.narrow(1, -1, 1).narrow(2, 0, C);  // [B, 1, C]
  std::vector<torch::Tensor> means, vars;
  for (int64_t h = 0; h < options.horizon(); ++h) {
    nn::SequenceOutput o = encdec[k]->decode(prev, state);
    state = o.state;
    Forecast f = split_head(o.output);  // [B, 1, C]
    means.push_back(f.mean);
    if (f.variance.defined()) vars.push_back(f.variance);
    const bool teach = y.defined() && p > 0 && torch::rand({1}).item<double>() < p;
    prev = teach ? y.narrow(1, h, 1) : f.mean;
  }
  return {torch::cat(means, 1), vars.empty() ? torch::Tensor() : torch::cat(vars, 1)};
}

torch::Tensor ForecasterImpl::ets_base(const torch::Tensor& w) const {
  const int64_t C = options.targets(), R = options.season(), H = options.horizon(), L = options.window();
  torch::Tensor flat = torch::arange(C, torch::TensorOptions().dtype(torch::kLong).device(w.device())) * R;
  flat = flat.view({1, C});  // [1, C]: row c * R + r of the flattened rotations
  if (R > 1) {
    // The rotation whose profile best matches the window's own (the mean deviation of each
    // phase from its season's mean over the window's first floor(L / m) seasons).
    const int64_t K = L / R;
    const torch::Tensor blocks = w.narrow(1, 0, K * R).reshape({-1, K, R, C});
    const torch::Tensor own = (blocks - blocks.mean(2, true)).mean(1);          // [B, m, C]
    const torch::Tensor score = torch::einsum("bjc,crj->bcr", {own, ets_profiles});  // [B, C, R]
    flat = flat + score.argmax(2);
  } else {  // one row per window (no size read: the traced export keeps B free)
    flat = flat + torch::zeros_like(w.select(1, 0), torch::kLong);
  }
  const torch::Tensor index = flat.reshape({-1});
  const torch::Tensor weights = ets_weights.view({C * R, H, L}).index_select(0, index).view({-1, C, H, L});
  const torch::Tensor offsets = ets_offsets.view({C * R, H}).index_select(0, index).view({-1, C, H});
  const torch::Tensor base = torch::matmul(weights, w.transpose(1, 2).unsqueeze(-1)).squeeze(-1) + offsets;
  return base.transpose(1, 2);  // [B, H, C]
}

std::pair<torch::Tensor, torch::Tensor> ForecasterImpl::to_relative(const torch::Tensor& x_in) const {
  TORCH_CHECK(x_in.dim() == 3 && x_in.size(2) == scaler_shift.size(0),
              "forecast: window shape: expected [B, L, ", scaler_shift.size(0), "], got ", x_in.sizes());
  TORCH_CHECK(x_in.size(1) >= 1, "forecast: the window is empty");
  const int64_t C = options.targets(), H = options.horizon(), m = options.season();
  const Relative form = options.relative();
  torch::Tensor x = x_in;
  // Negative starts and sizes fixed by the options, never by L: the traced export keeps them.
  torch::Tensor profile;  // deseason: [B, m, C], phase j = position L - m + j (mod m)
  if (form == Relative::season || form == Relative::deseason || form == Relative::trend)
    TORCH_CHECK(x.size(1) >= m, "forecast: relative ", to_string(form), " needs a window of at least one season (",
                m, " steps), got ", x.size(1));
  torch::Tensor drift;  // trend: per step [B, 1, C]
  torch::Tensor level;  // [B, 1, C]
  if (form == Relative::deseason || form == Relative::trend) {
    const int64_t seasons = std::max<int64_t>(1, options.window() / m);
    TORCH_CHECK(x.size(1) >= seasons * m, "forecast: relative ", to_string(form), " reads the last ",
                seasons * m, " steps; the window has ", x.size(1));
    x = x.narrow(1, -seasons * m, seasons * m);
    auto blocks = x.narrow(2, 0, C).reshape({-1, seasons, m, C});
    const torch::Tensor means = blocks.mean(2);                           // [B, K, C]
    profile = m > 1 ? (blocks - means.unsqueeze(2)).mean(1) : torch::zeros_like(blocks.select(1, 0));
    const torch::Tensor removed = profile.repeat({1, seasons, 1});
    x = x - torch::constant_pad_nd(removed, {0, options.covariates()});
    if (form == Relative::trend) {
      level = means.narrow(1, -1, 1);
      drift = seasons > 1 ? (level - means.narrow(1, 0, 1)) / static_cast<double>((seasons - 1) * m)
                          : torch::zeros_like(level);
    }
  }
  if (!level.defined()) level = x.narrow(1, -1, 1).narrow(2, 0, C);  // [B, 1, C]
  if (form == Relative::none) level = torch::zeros_like(level);
  torch::Tensor base;
  auto phases = [&] { return torch::remainder(torch::arange(H, torch::kLong), m).to(x.device()); };
  switch (form) {
    case Relative::none:
    case Relative::last: base = level.expand({-1, H, C}); break;
    case Relative::season: base = x.narrow(1, -m, m).narrow(2, 0, C).index_select(1, phases()); break;
    case Relative::deseason: base = level + profile.index_select(1, phases()); break;
    case Relative::ets: {
      const int64_t L = options.window();
      TORCH_CHECK(x.size(1) >= L, "forecast: relative ets reads the last ", L, " steps; the window has ", x.size(1));
      base = ets_base(x.narrow(1, -L, L).narrow(2, 0, C));
      break;
    }
    case Relative::trend: {
      // From the middle of the last season to step h: (m - 1) / 2 + h + 1 steps.
      const torch::Tensor steps =
          (torch::arange(H, torch::kDouble) + (static_cast<double>(m) + 1) / 2).to(x.options()).view({1, H, 1});
      base = level + drift * steps + profile.index_select(1, phases());
      break;
    }
  }
  const torch::Tensor pad = torch::constant_pad_nd(level, {0, options.covariates()});
  return {x - pad, base};
}

Forecast ForecasterImpl::forecast_scaled(const torch::Tensor& x) {
  if (!parts.empty()) {
    TORCH_CHECK(x.dim() == 3, "forecast: window rank: expected 3 ([B, L, C+K]), got ", x.dim());
    std::vector<torch::Tensor> means, vars;
    for (size_t k = 0; k < parts.size(); ++k) {
      const int64_t L = parts[k]->options.window();
      TORCH_CHECK(x.size(1) >= L, "forecast: the combination's ", to_string(options.combine()[k]),
                  " part reads the last ", L, " steps; the window has ", x.size(1));
      Forecast f = parts[k]->forecast_scaled(x.narrow(1, -L, L));  // a negative start: the trace keeps it
      means.push_back(f.mean);
      if (f.variance.defined()) vars.push_back(f.variance);
    }
    const torch::Tensor w = combine_weights.to(x.dtype()).view({-1, 1, 1, 1});
    const torch::Tensor all = torch::stack(means);  // [P, B, H, C]
    Forecast f{(w * all).sum(0), {}};
    // A mixture's variance: the parts' variances and their spread about the mean.
    if (!vars.empty()) f.variance = (w * (torch::stack(vars) + (all - f.mean).pow(2))).sum(0);
    return f;
  }
  auto [rel, base] = to_relative(x);
  Forecast f = forecast_relative(rel);
  f.mean = f.mean + base;
  return f;
}

Forecast ForecasterImpl::member_forecast(size_t k, const torch::Tensor& x_in) {
  const int64_t C = net_targets(), H = options.horizon();
  const torch::Tensor x = fold(x_in);
  Forecast f;
  switch (options.mode()) {
    case Mode::seq2vec: {
      torch::Tensor out = vec[k]->forward(x);  // [B, H * out]
      f = split_head(out.view({-1, H, options.loss() == Loss::gaussian ? 2 * C : C}));
      break;
    }
    case Mode::encdec: f = decode(k, x, {}, 0.0); break;
    case Mode::seq2seq: {
      nn::SequenceOutput o = seq[k]->forward(x);
      Forecast g = split_head(o.output.narrow(1, -1, 1));  // predicts L+1
      std::vector<torch::Tensor> means{g.mean}, vars;
      if (g.variance.defined()) vars.push_back(g.variance);
      nn::RecurrentState state = o.state;
      for (int64_t h = 1; h < H; ++h) {
        nn::SequenceOutput next = seq[k]->forward(means.back(), state);
        state = next.state;
        Forecast n = split_head(next.output);
        means.push_back(n.mean);
        if (n.variance.defined()) vars.push_back(n.variance);
      }
      f = {torch::cat(means, 1), vars.empty() ? torch::Tensor() : torch::cat(vars, 1)};
      break;
    }
  }
  return {unfold(f.mean), unfold(f.variance)};
}

Forecast ForecasterImpl::forecast_relative(const torch::Tensor& x) {
  const auto members = static_cast<size_t>(options.ensemble());
  if (members == 1) return member_forecast(0, x);
  std::vector<torch::Tensor> means, vars;
  for (size_t k = 0; k < members; ++k) {
    Forecast f = member_forecast(k, x);
    means.push_back(f.mean);
    if (f.variance.defined()) vars.push_back(f.variance);
  }
  const torch::Tensor all = torch::stack(means);  // [N, B, H, C]
  Forecast f{all.mean(0), {}};
  // The gaussian head's variance plus the members' spread (a mixture's variance). Without the
  // head no interval: the spread alone covers only the model's uncertainty, not the noise.
  if (!vars.empty()) f.variance = torch::stack(vars).mean(0) + all.var(0, false);
  return f;
}

torch::Tensor ForecasterImpl::member_loss(size_t k, const torch::Tensor& x_in, const torch::Tensor& y_in) {
  const int64_t C = net_targets();
  const torch::Tensor x = fold(x_in), y = fold(y_in);
  switch (options.mode()) {
    case Mode::seq2seq: {
      // The series shifted by one step: o(t) predicts the targets at t + 1.
      torch::Tensor shifted = torch::cat({x.narrow(1, 1, x.size(1) - 1).narrow(2, 0, C), y.narrow(1, 0, 1)}, 1);
      return step_loss(split_head(seq[k]->forward(x).output), shifted);
    }
    case Mode::seq2vec: {
      Forecast f = member_forecast(k, x_in);
      return step_loss({fold(f.mean), fold(f.variance)}, y);
    }
    case Mode::encdec: return step_loss(decode(k, x, y, is_training() ? options.teacher_forcing() : 0.0), y);
  }
  return {};
}

torch::Tensor ForecasterImpl::loss(const torch::Tensor& x_scaled, const torch::Tensor& y_scaled) {
  TORCH_CHECK(parts.empty(), "forecaster: a combination of forms is not trained as a whole; train each "
              "form alone and load it into its part");
  auto [x, base] = to_relative(x_scaled);
  const torch::Tensor y = y_scaled - base;
  torch::Tensor total = member_loss(0, x, y);
  for (size_t k = 1; k < static_cast<size_t>(options.ensemble()); ++k) total = total + member_loss(k, x, y);
  return options.ensemble() == 1 ? total : total / static_cast<double>(options.ensemble());
}

torch::Tensor ForecasterImpl::forecast_loss(const Forecast& f, const torch::Tensor& y) const {
  return step_loss(f, y);
}

Forecast ForecasterImpl::forward(const torch::Tensor& window) {
  const int64_t C = options.targets();
  TORCH_CHECK(window.dim() == 3, "forecast: window rank: expected 3 ([B, L, C+K]), got ", window.dim());
  torch::Tensor x = window;
  if (options.log()) {
    // Values <= 0 give NaN (checked where the data is read: log_targets), not here: the window
    // may live on a GPU, and a check would wait for it at every call.
    x = torch::cat({window.narrow(2, 0, C).log(), window.narrow(2, C, options.covariates())}, 2);
  }
  Forecast f = forecast_scaled((x - scaler_shift) / scaler_scale);
  const torch::Tensor shift = scaler_shift.narrow(0, 0, C), scale = scaler_scale.narrow(0, 0, C);
  Forecast raw{f.mean * scale + shift, {}};
  if (f.variance.defined()) raw.variance = f.variance * scale * scale;
  if (options.log()) {
    raw.mean = raw.mean.exp();
    if (raw.variance.defined()) raw.variance = raw.variance * raw.mean * raw.mean;
  }
  return raw;
}

}  // namespace seqtorch::forecast
