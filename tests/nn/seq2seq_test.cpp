// The attentional encoder-decoder: shapes for every style; the one-pass decoder equals the
// step-by-step one; a sentence decodes the same alone and padded inside a batch; the Bahdanau
// step against its equations; tied embeddings; it learns to reverse sequences; save and load.
#include <seqtorch/nn/seq2seq.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

Seq2SeqOptions small(CellKind cell) {
  return Seq2SeqOptions(11, 9).embedding_size(6).hidden_size(5).cell(cell).dropout(0.0);
}

// Teacher-forced logits one step at a time.
torch::Tensor stepwise(Seq2SeqImpl& m, const torch::Tensor& src, const torch::Tensor& lengths, const torch::Tensor& in) {
  auto enc = m.encode(src, lengths);
  auto mem = m.memory(enc);
  auto state = m.initial_state(enc);
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < in.size(0); ++t) {
    auto r = m.step(in[t], state, mem);
    out.push_back(r.logits);
    state = r.state;
  }
  return torch::stack(out);
}

TEST(Seq2Seq, ShapesAndOnePassEqualsStepByStepForEveryStyle) {
  torch::manual_seed(1);
  const int64_t S = 5, B = 3, T = 4;
  auto source = torch::randint(4, 11, {S, B}, torch::kLong);
  auto lengths = torch::tensor({5, 3, 2}, torch::kLong);
  for (int64_t b = 0; b < B; ++b) source.select(1, b).narrow(0, lengths[b].item<int64_t>(), S - lengths[b].item<int64_t>()).fill_(0);
  auto in = torch::randint(2, 9, {T, B}, torch::kLong);
  for (auto cell : {CellKind::gru, CellKind::lstm}) {
    for (int style = 0; style < 3; ++style) {
      auto o = small(cell).num_layers(2).attention(style == 2 ? AttentionKind::general : AttentionKind::additive);
      if (style == 1) o.input_feed(true);
      if (style == 2) o.style(DecoderStyle::bahdanau);
      Seq2Seq m(o);
      m->to(torch::kDouble);
      m->eval();
      const std::string what = to_string(cell) + " style " + std::to_string(style);
      auto enc = m->encode(source, lengths);
      EXPECT_EQ(enc.memory.sizes(), (std::vector<int64_t>{S, B, 10})) << what;
      EXPECT_EQ(enc.state.h.sizes(), (std::vector<int64_t>{2, B, 5})) << what;
      EXPECT_EQ(enc.state.c.defined(), cell == CellKind::lstm) << what;
      EXPECT_TRUE(torch::equal(enc.mask, torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}, {1, 1, 0, 0, 0}}).to(torch::kBool)));
      auto logits = m->forward(source, lengths, in);
      EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{T, B, 9})) << what;
      EXPECT_EQ(m->parallel_decoder(1.0), style == 0) << what;
      EXPECT_TRUE(test::all_close(logits, stepwise(*m, source, lengths, in), 1e-12, what));
      // Teacher forcing 0 reads the model's own argmax after step 0: the same as feeding it.
      torch::manual_seed(5);
      auto free = m->forward(source, lengths, in, 0.0);
      EXPECT_TRUE(test::all_close(free[0], logits[0], 1e-12, what + " free step 0"));
      auto fed = in.clone();
      for (int64_t t = 1; t < T; ++t) fed[t] = free[t - 1].argmax(-1);
      EXPECT_TRUE(test::all_close(free, stepwise(*m, source, lengths, fed), 1e-12, what + " free"));
    }
  }
}

TEST(Seq2Seq, ASentenceDecodesTheSameAloneAndPaddedInABatch) {
  torch::manual_seed(2);
  Seq2Seq m(small(CellKind::lstm));
  m->to(torch::kDouble);
  m->eval();
  auto source = torch::tensor({{4, 5, 6, 7, 8}, {9, 10, 4, 0, 0}}, torch::kLong).t().contiguous();  // [5, 2]
  auto in = torch::tensor({{2, 5, 6}, {2, 7, 8}}, torch::kLong).t().contiguous();
  auto batch = m->forward(source, torch::tensor({5, 3}), in);
  auto alone = m->forward(source.narrow(0, 0, 3).narrow(1, 1, 1), torch::tensor({3}), in.narrow(1, 1, 1));
  EXPECT_TRUE(test::all_close(batch.narrow(1, 1, 1), alone, 1e-12, "padded vs alone"));
}

TEST(Seq2Seq, BahdanauStepFollowsItsEquations) {
  torch::manual_seed(3);
  Seq2Seq m(small(CellKind::gru).style(DecoderStyle::bahdanau).bidirectional(false).bridge(false));
  m->to(torch::kDouble);
  m->eval();
  auto source = torch::randint(4, 11, {4, 2}, torch::kLong);
  auto enc = m->encode(source);
  auto mem = m->memory(enc);
  auto state = m->initial_state(enc);
  auto tokens = torch::tensor({2, 5}, torch::kLong);
  auto r = m->step(tokens, state, mem);
  // c = attend(h_{t-1}); h_t = GRU([e; c], h_{t-1}); logits = W_out h_t.
  auto a = m->attention->forward(state.rnn.h[0], mem);
  auto e = m->target_embedding->forward(tokens);
  auto p = m->decoder->layer_parameters(0, 0);
  auto h = torch::gru_cell(torch::cat({e, a.context}, 1), state.rnn.h[0], p[0], p[1], p[2], p[3]);
  EXPECT_TRUE(test::all_close(r.state.rnn.h[0], h, 1e-12, "h_t"));
  EXPECT_TRUE(test::all_close(r.logits, m->output->forward(h), 1e-12, "logits"));
  EXPECT_TRUE(test::all_close(r.attention, a.weights, 1e-12, "weights"));
  // Without a bridge, the encoder's final state is the decoder's first.
  EXPECT_TRUE(torch::equal(state.rnn.h, m->encoder->forward(m->source_embedding->forward(source)).state.h));
}

TEST(Seq2Seq, TiedEmbeddingsShareTheWeight) {
  Seq2Seq m(small(CellKind::gru).embedding_size(5).tie_embeddings(true));
  EXPECT_FALSE(m->output);
  for (const auto& p : m->named_parameters()) EXPECT_EQ(p.key().find("output.weight"), std::string::npos);
  auto logits = m->forward(torch::randint(4, 11, {3, 2}, torch::kLong), {}, torch::randint(2, 9, {2, 2}, torch::kLong));
  logits.sum().backward();
  EXPECT_TRUE(m->target_embedding->weight.grad().defined());
  EXPECT_TRUE(test::throws_with([] { Seq2Seq(small(CellKind::gru).tie_embeddings(true)); }, {"tie-embeddings", "6", "5"}));
}

TEST(Seq2Seq, LearnsToReverseSequencesAndSavesAndLoads) {
  torch::manual_seed(4);
  // Tokens 4..11 (V = 12), lengths 3..6: target = reversed source.
  auto o = Seq2SeqOptions(12, 12).embedding_size(16).hidden_size(32).dropout(0.0);
  Seq2Seq m(o);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
  auto make = [](int64_t B) {
    auto lengths = torch::randint(3, 7, {B}, torch::kLong);
    auto src = torch::zeros({6, B}, torch::kLong), in = torch::zeros({7, B}, torch::kLong), out = torch::zeros({7, B}, torch::kLong);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = lengths[b].item<int64_t>();
      auto seq = torch::randint(4, 12, {n}, torch::kLong);
      src.select(1, b).narrow(0, 0, n).copy_(seq);
      in[0][b] = 2;
      in.select(1, b).narrow(0, 1, n).copy_(seq.flip(0));
      out.select(1, b).narrow(0, 0, n).copy_(seq.flip(0));
      out[n][b] = 3;
    }
    return std::make_tuple(src, lengths, in, out);
  };
  // Token accuracy of the reversal on fresh sequences (teacher forcing), the padding left out.
  auto accuracy_on = [&](const torch::Tensor& src, const torch::Tensor& lengths, const torch::Tensor& in,
                         const torch::Tensor& out) {
    torch::NoGradGuard no_grad;
    auto logits = m->forward(src, lengths, in);
    auto real = out.ne(0);
    return std::make_pair((logits.argmax(-1).eq(out) & real).sum().item<double>() / real.sum().item<double>(), logits);
  };
  // Trained until 98% of a validation batch is right, checked every 100 steps, at most 1,000
  // steps (how many it takes moves with the BLAS kernels' rounding: 300 sufficed on one machine,
  // not on another), then measured on a fresh test batch.
  auto [vsrc, vlengths, vin, vout] = make(200);
  for (int step = 1; step <= 1000; ++step) {
    auto [s, l, i, t] = make(32);
    auto loss = torch::nn::functional::cross_entropy(m->forward(s, l, i).reshape({-1, 12}), t.reshape({-1}),
                                                     torch::nn::functional::CrossEntropyFuncOptions().ignore_index(0));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 100 != 0) continue;
    m->eval();
    const double validation = accuracy_on(vsrc, vlengths, vin, vout).first;
    m->train();
    if (validation > 0.98) break;
  }
  m->eval();
  auto [src, lengths, in, out] = make(200);
  const auto [accuracy, logits] = accuracy_on(src, lengths, in, out);
  torch::NoGradGuard no_grad;
  EXPECT_GT(accuracy, 0.97) << "token accuracy on reversal";
  test::TempDir dir;
  torch::save(m, dir.file("m.pt"));
  Seq2Seq back(o);
  torch::load(back, dir.file("m.pt"));
  back->eval();
  EXPECT_TRUE(torch::equal(back->forward(src, lengths, in), logits));
}

}  // namespace
}  // namespace seqtorch::nn
