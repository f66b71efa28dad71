#include <seqtorch/nn/seq2seq.h>

#include <seqtorch/nn/cpu_kernel.h>
#include <torch/torch.h>

namespace seqtorch::nn {

std::string to_string(DecoderStyle style) { return style == DecoderStyle::luong ? "luong" : "bahdanau"; }

DecoderStyle parse_decoder_style(const std::string& name) {
  if (name == "luong") return DecoderStyle::luong;
  if (name == "bahdanau") return DecoderStyle::bahdanau;
  TORCH_CHECK(false, "decoder style: expected luong or bahdanau, got '", name, "'");
}

Seq2SeqImpl::Seq2SeqImpl(const Seq2SeqOptions& o) : options(o) {
  TORCH_CHECK(o.source_vocab_size() > o.pad() && o.target_vocab_size() > o.pad(),
              "seq2seq: vocabularies must hold the padding id ", o.pad(), ", got sizes ",
              o.source_vocab_size(), " and ", o.target_vocab_size());
  TORCH_CHECK(o.embedding_size() >= 1 && o.hidden_size() >= 1 && o.num_layers() >= 1,
              "seq2seq: embedding, hidden size and layers must be >= 1, got ", o.embedding_size(), ", ",
              o.hidden_size(), ", ", o.num_layers());
  TORCH_CHECK(o.dropout() >= 0 && o.dropout() < 1, "dropout: expected in [0, 1), got ", o.dropout());
  const int64_t E = o.embedding_size(), H = o.hidden_size(), D = o.bidirectional() ? 2 : 1;
  TORCH_CHECK(o.bridge() || D * H == H, "seq2seq: without a bridge the encoder must be unidirectional");
  TORCH_CHECK(!o.tie_embeddings() || E == H, "tie-embeddings: needs embedding size = hidden size, got ", E,
              " and ", H);
  TORCH_CHECK(!o.input_feed() || o.style() == DecoderStyle::luong, "input feeding: Luong-style decoders only");
  auto embedding = [&](int64_t vocab) {
    return torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab, E).padding_idx(o.pad()));
  };
  source_embedding = register_module("source_embedding", embedding(o.source_vocab_size()));
  target_embedding = register_module("target_embedding", embedding(o.target_vocab_size()));
  auto rnn = [&](int64_t input, bool bidirectional) {
    return Recurrent(RecurrentOptions(input, H).cell(o.cell()).num_layers(o.num_layers())
                         .bidirectional(bidirectional).dropout(o.num_layers() > 1 ? o.dropout() : 0.0)
                         .implementation(o.implementation()));
  };
  encoder = register_module("encoder", rnn(E, o.bidirectional()));
  const int64_t M = D * H;
  if (o.bridge()) {
    bridge_h = register_module("bridge_h", torch::nn::Linear(M, H));
    if (o.cell() == CellKind::lstm) bridge_c = register_module("bridge_c", torch::nn::Linear(M, H));
  }
  const int64_t decoder_input = o.style() == DecoderStyle::bahdanau ? E + M : E + (o.input_feed() ? H : 0);
  decoder = register_module("decoder", rnn(decoder_input, false));
  attention = register_module("attention", Attention(AttentionOptions(H, M).kind(o.attention())));
  if (o.style() == DecoderStyle::luong) combine = register_module("combine", torch::nn::Linear(H + M, H));
  if (o.tie_embeddings()) {
    output_bias = register_parameter("output_bias", torch::zeros({o.target_vocab_size()}));
  } else {
    output = register_module("output", torch::nn::Linear(H, o.target_vocab_size()));
  }
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
}

torch::Tensor Seq2SeqImpl::project(const torch::Tensor& features) {
  if (output) return output->forward(features);
  return torch::nn::functional::linear(features, target_embedding->weight, output_bias);
}

EncoderOutput Seq2SeqImpl::encode(const torch::Tensor& source, const torch::Tensor& lengths) {
  TORCH_CHECK(source.dim() == 2 && source.scalar_type() == torch::kLong,
              "encode: source: expected [S, B] int64, got ", source.scalar_type(), " ", source.sizes());
  auto r = encoder->forward(dropout->forward(source_embedding->forward(source)), {}, lengths);
  EncoderOutput out;
  out.memory = r.output;
  if (lengths.defined()) {
    auto steps = torch::arange(source.size(0), lengths.options().dtype(torch::kLong).device(source.device()));
    out.mask = steps.unsqueeze(0) < lengths.to(source.device(), torch::kLong).unsqueeze(1);
  } else {
    out.mask = source.transpose(0, 1).ge(0);  // all true, in a shape-generic way (traced exports)
  }
  const int64_t L = options.num_layers(), D = options.bidirectional() ? 2 : 1, H = options.hidden_size();
  auto bridge = [&](const torch::Tensor& s, torch::nn::Linear& layer) {
    if (!layer) return s;
    // [L*D, B, H] -> [L, B, D*H]: each layer's directions side by side.
    auto joined = s.view({L, D, -1, H}).permute({0, 2, 1, 3}).reshape({L, -1, D * H});
    return torch::tanh(layer->forward(joined));
  };
  out.state.h = bridge(r.state.h, bridge_h).contiguous();
  if (r.state.c.defined()) out.state.c = bridge(r.state.c, bridge_c).contiguous();
  return out;
}

AttentionMemory Seq2SeqImpl::memory(const EncoderOutput& encoded) {
  return attention->prepare(encoded.memory, encoded.mask);
}

DecoderState Seq2SeqImpl::initial_state(const EncoderOutput& encoded) const {
  DecoderState s{encoded.state, torch::Tensor()};
  if (options.input_feed()) s.feed = torch::zeros_like(encoded.state.h[0]);
  return s;
}

DecoderStepOutput Seq2SeqImpl::step(const torch::Tensor& tokens, const DecoderState& state,
                                    const AttentionMemory& memory) {
  TORCH_CHECK(tokens.dim() == 1, "step: tokens: expected [B], got ", tokens.sizes());
  auto e = dropout->forward(target_embedding->forward(tokens));  // [B, E]
  DecoderStepOutput out;
  if (options.style() == DecoderStyle::luong) {
    auto x = options.input_feed() ? torch::cat({e, state.feed}, 1) : e;
    auto r = decoder->forward(x.unsqueeze(0), state.rnn);
    auto h = r.output.squeeze(0);  // [B, H]
    auto a = attention->forward(h, memory);
    out.features = torch::tanh(combine->forward(torch::cat({h, a.context}, 1)));
    out.state = {r.state, options.input_feed() ? out.features : torch::Tensor()};
    out.attention = a.weights;
  } else {
    auto a = attention->forward(state.rnn.h[-1], memory);
    auto r = decoder->forward(torch::cat({e, a.context}, 1).unsqueeze(0), state.rnn);
    out.features = r.output.squeeze(0);
    out.state = {r.state, torch::Tensor()};
    out.attention = a.weights;
  }
  out.logits = logits(out.features);
  return out;
}

bool Seq2SeqImpl::parallel_decoder(double teacher_forcing) const {
  return options.style() == DecoderStyle::luong && !options.input_feed() && teacher_forcing >= 1.0;
}

torch::Tensor Seq2SeqImpl::logits(const torch::Tensor& features) { return project(dropout->forward(features)); }

torch::Tensor Seq2SeqImpl::forward(const torch::Tensor& source, const torch::Tensor& lengths,
                                   const torch::Tensor& target_in, double teacher_forcing) {
  return logits(features(source, lengths, target_in, teacher_forcing));
}

torch::Tensor Seq2SeqImpl::features(const torch::Tensor& source, const torch::Tensor& lengths,
                                    const torch::Tensor& target_in, double teacher_forcing) {
  TORCH_CHECK(target_in.dim() == 2 && target_in.scalar_type() == torch::kLong &&
                  target_in.size(1) == source.size(1),
              "forward: target_in: expected [T, B = ", source.size(1), "] int64, got ",
              target_in.scalar_type(), " ", target_in.sizes());
  TORCH_CHECK(teacher_forcing >= 0 && teacher_forcing <= 1, "teacher forcing: expected in [0, 1], got ",
              teacher_forcing);
  const auto encoded = encode(source, lengths);
  const auto mem = memory(encoded);
  DecoderState state = initial_state(encoded);
  if (parallel_decoder(teacher_forcing)) {
    auto r = decoder->forward(dropout->forward(target_embedding->forward(target_in)), state.rnn);
    auto q = r.output.transpose(0, 1);  // [B, T, H]
    auto a = attention->forward(q, mem);
    return torch::tanh(combine->forward(torch::cat({q, a.context}, 2))).transpose(0, 1);  // [T, B, H]
  }
  std::vector<torch::Tensor> features;
  features.reserve(target_in.size(0));
  cpu_kernel::PackingScope packing;  // the decoder's W_hh packed once for all T steps (CPU)
  for (int64_t t = 0; t < target_in.size(0); ++t) {
    torch::Tensor tokens = target_in[t];
    if (t > 0 && teacher_forcing < 1 && torch::rand({1}).item<double>() >= teacher_forcing) {
      torch::NoGradGuard no_grad;  // the model's own prediction, without dropout
      tokens = project(features.back()).argmax(-1);
    }
    auto out = step(tokens, state, mem);
    features.push_back(out.features);
    state = out.state;
  }
  return torch::stack(features);
}

}  // namespace seqtorch::nn
