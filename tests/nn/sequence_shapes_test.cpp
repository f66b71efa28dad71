// The four sequence shapes of the seed note (§5): shapes, what each feeds where (checked against
// the recurrent layer and linear head run by hand), lengths, save/load and bad configuration.
#include <seqtorch/nn/sequence_shapes.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

using test::all_close;

TEST(ManyToMany, OutputPerStepIsHeadOfLayerOutput) {
  for (bool bf : {false, true}) {
    torch::manual_seed(1);
    ManyToMany m(RecurrentOptions(3, 8).cell(CellKind::gru).num_layers(2).bidirectional(true).batch_first(bf), 2);
    auto x = bf ? torch::randn({4, 6, 3}) : torch::randn({6, 4, 3});
    auto lengths = torch::tensor({6, 2, 5, 1});
    auto y = m->forward(x, {}, lengths);
    EXPECT_EQ(y.output.sizes(), bf ? torch::IntArrayRef({4, 6, 2}) : torch::IntArrayRef({6, 4, 2}));
    EXPECT_EQ(y.state.h.sizes(), torch::IntArrayRef({4, 4, 8}));
    auto expected = m->head->forward(m->rnn->forward(x, {}, lengths).output);
    auto tm = bf ? y.output.transpose(0, 1) : y.output;
    auto etm = bf ? expected.transpose(0, 1) : expected;
    EXPECT_TRUE(all_close(tm.narrow(0, 0, 2).narrow(1, 1, 1), etm.narrow(0, 0, 2).narrow(1, 1, 1), 1e-6, "real steps"));
    EXPECT_EQ(tm.narrow(0, 2, 4).narrow(1, 1, 1).abs().max().item<double>(), 0.0) << "padded steps";
  }
}

TEST(ManyToOne, UsesEachSequencesOwnFinalState) {
  torch::manual_seed(2);
  ManyToOne m(RecurrentOptions(3, 8).cell(CellKind::lstm).bidirectional(true), 4);
  auto x = torch::randn({6, 3, 3});
  auto lengths = torch::tensor({6, 2, 4});
  auto y = m->forward(x, {}, lengths);
  EXPECT_EQ(y.sizes(), torch::IntArrayRef({3, 4}));
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t len = lengths[b].item<int64_t>();
    auto alone = m->forward(x.narrow(1, b, 1).narrow(0, 0, len));
    EXPECT_TRUE(all_close(y.narrow(0, b, 1), alone, 1e-5, "sequence " + std::to_string(b)));
    // The forward direction's part equals its output at the last real step.
    auto out = m->rnn->forward(x.narrow(1, b, 1).narrow(0, 0, len)).output;
    auto fwd_last = out[len - 1].narrow(1, 0, 8), bwd_first = out[0].narrow(1, 8, 8);
    auto expected = m->head->forward(torch::cat({fwd_last, bwd_first}, 1));
    EXPECT_TRUE(all_close(alone, expected, 1e-5, "head of [h_fwd(T-1), h_bwd(0)]"));
  }
}

TEST(OneToMany, VectorAsInitialStateAndAtEveryStep) {
  torch::manual_seed(3);
  OneToMany m(OneToManyOptions(5, RecurrentOptions(5, 7).cell(CellKind::lstm).num_layers(2), 3));
  auto v = torch::randn({4, 5});
  auto y = m->forward(v, 9);
  EXPECT_EQ(y.output.sizes(), torch::IntArrayRef({9, 4, 3}));
  auto s0 = m->initial_state(v);
  EXPECT_EQ(s0.h.sizes(), torch::IntArrayRef({2, 4, 7}));
  auto x = v.unsqueeze(0).expand({9, 4, 5});
  auto expected = m->head->forward(m->rnn->forward(x, s0).output);
  EXPECT_TRUE(all_close(y.output, expected, 1e-6, "outputs"));
  // Initial state only: the input is zeros, yet outputs depend on v.
  OneToMany init_only(OneToManyOptions(5, RecurrentOptions(1, 7).cell(CellKind::gru), 3).at_every_step(false));
  auto a = init_only->forward(v, 4).output, b = init_only->forward(torch::randn({4, 5}), 4).output;
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({4, 4, 3}));
  EXPECT_FALSE(torch::allclose(a, b));
  // Every step only: no bridge.
  OneToMany every(OneToManyOptions(5, RecurrentOptions(5, 7), 3).as_initial_state(false));
  EXPECT_FALSE(every->bridge);
  EXPECT_FALSE(every->initial_state(v).h.defined());
}

TEST(EncoderDecoder, EncoderFinalStateStartsDecoder) {
  for (bool bidir : {false, true}) {
    SCOPED_TRACE(bidir ? "bidirectional encoder" : "unidirectional encoder");
    torch::manual_seed(4);
    const int64_t D = bidir ? 2 : 1;
    EncoderDecoder m(RecurrentOptions(3, 6).cell(CellKind::lstm).num_layers(2).bidirectional(bidir),
                     RecurrentOptions(4, 6 * D).cell(CellKind::lstm).num_layers(2), 5);
    auto src = torch::randn({7, 2, 3}), tgt = torch::randn({4, 2, 4});
    auto src_lengths = torch::tensor({7, 3});
    auto y = m->forward(src, tgt, src_lengths);
    EXPECT_EQ(y.output.sizes(), torch::IntArrayRef({4, 2, 5}));
    auto enc = m->encoder->forward(src, {}, src_lengths).state;
    auto s = m->encode(src, src_lengths);
    EXPECT_EQ(s.h.sizes(), torch::IntArrayRef({2, 2, 6 * D}));
    for (int64_t l = 0; l < 2; ++l)
      for (int64_t d = 0; d < D; ++d) {
        EXPECT_TRUE(all_close(s.h[l].narrow(1, d * 6, 6), enc.h[l * D + d], 0, "h layer/direction"));
        EXPECT_TRUE(all_close(s.c[l].narrow(1, d * 6, 6), enc.c[l * D + d], 0, "c layer/direction"));
      }
    auto expected = m->head->forward(m->decoder->forward(tgt, s).output);
    EXPECT_TRUE(all_close(y.output, expected, 1e-6, "decoder outputs"));
    // The source matters through the state alone.
    auto other = m->forward(torch::randn({7, 2, 3}), tgt, src_lengths).output;
    EXPECT_FALSE(torch::allclose(y.output, other));
  }
}

TEST(SequenceShapes, SaveLoadGivesIdenticalOutputs) {
  test::TempDir dir;
  const auto path = dir.file("encdec.pt");
  auto make = [] {
    return EncoderDecoder(RecurrentOptions(3, 4).cell(CellKind::gru).bidirectional(true),
                          RecurrentOptions(2, 8).cell(CellKind::gru), 5);
  };
  torch::manual_seed(1);
  auto a = make();
  torch::save(a, path);
  torch::manual_seed(2);
  auto b = make();
  torch::load(b, path);
  auto src = torch::randn({5, 2, 3}), tgt = torch::randn({3, 2, 2});
  EXPECT_TRUE(torch::equal(a->forward(src, tgt).output, b->forward(src, tgt).output));
}

TEST(SequenceShapes, BadConfigurationNamesExpectedAndActual) {
  EXPECT_TRUE(test::throws_with(
      [] { EncoderDecoder(RecurrentOptions(3, 4).bidirectional(true), RecurrentOptions(2, 4), 5); },
      {"decoder hidden_size", "expected", "8", "got 4"}));
  EXPECT_TRUE(test::throws_with(
      [] { EncoderDecoder(RecurrentOptions(3, 4), RecurrentOptions(2, 4).cell(CellKind::gru), 5); },
      {"cell", "expected lstm", "got gru"}));
  EXPECT_TRUE(test::throws_with(
      [] { EncoderDecoder(RecurrentOptions(3, 4).num_layers(2), RecurrentOptions(2, 4), 5); },
      {"num_layers", "2", "got 1"}));
  EXPECT_TRUE(test::throws_with([] { OneToMany(OneToManyOptions(5, RecurrentOptions(3, 4), 2)); },
                                {"input_size", "vector_size", "expected 5", "got 3"}));
  OneToMany m(OneToManyOptions(5, RecurrentOptions(5, 4), 2));
  EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({2, 5}), 0); }, {"steps", ">= 1", "got 0"}));
  EXPECT_TRUE(test::throws_with([&] { m->forward(torch::randn({2, 4}), 3); }, {"vector shape", "[B, 5]", "[2, 4]"}));
}

}  // namespace
}  // namespace seqtorch::nn
