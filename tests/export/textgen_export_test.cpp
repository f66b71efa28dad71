// TorchScript export of the character LM: logits and states equal the C++ model at other
// lengths and batch sizes; generate at temperature 0 equals the C++ greedy decoder; the
// vocabulary round-trips through encode/decode, multi-byte code points included.
#include <seqtorch/export/textgen_export.h>
#include <seqtorch/export/script_module.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

namespace seqtorch::exporting {
namespace {

TEST(TextgenExport, LoadedArchiveMatchesTheModel) {
  test::TempDir dir;
  const std::string text = "héllo wörld, 漢字 and more text\n";
  auto cps = data::decode_utf8(text, "t");
  auto vocab = data::Vocabulary::build(cps, data::Vocabulary::Unit::codepoint);
  for (auto cell : {nn::CellKind::lstm, nn::CellKind::gru}) {
    SCOPED_TRACE(nn::to_string(cell));
    torch::manual_seed(3);
    textgen::CharModel m(textgen::CharModelOptions(vocab.size()).cell(cell).hidden_size(12)
                             .embedding_size(12).num_layers(2).tie_weights(cell == nn::CellKind::gru), vocab);
    const auto path = dir.file("lm.pt");
    export_char_model(m, path);
    auto loaded = load_export(path);
    InferenceGuard inference;
    for (int64_t T : {1, 5, 17})
      for (int64_t B : {1, 4}) {
        auto tokens = torch::randint(vocab.size(), {T, B}, torch::kLong);
        auto expected = m->forward(tokens);
        auto got = loaded.forward({tokens, c10::List<torch::Tensor>()}).toTuple();
        EXPECT_TRUE(test::all_close(got->elements()[0].toTensor(), expected.logits, 1e-5, "logits"));
        auto state = got->elements()[1].toTensorList();
        EXPECT_TRUE(test::all_close(state.get(0), expected.state.h, 1e-5, "h"));
        // Continuing from the returned state equals continuing in C++.
        auto more = torch::randint(vocab.size(), {3, B}, torch::kLong);
        auto again = loaded.forward({more, state}).toTuple();
        auto expected2 = m->forward(more, expected.state);
        EXPECT_TRUE(test::all_close(again->elements()[0].toTensor(), expected2.logits, 1e-5, "continued logits"));
      }
    // encode / decode with multi-byte code points.
    auto ids = loaded.get_method("encode")({std::string("wörld 漢")}).toIntList();
    auto expected_ids = vocab.encode(data::decode_utf8("wörld 漢", "t"));
    ASSERT_EQ(static_cast<int64_t>(ids.size()), expected_ids.numel());
    for (int64_t i = 0; i < expected_ids.numel(); ++i) EXPECT_EQ(ids.get(i), expected_ids[i].item<int64_t>());
    EXPECT_EQ(loaded.get_method("decode")({ids}).toStringRef(), "wörld 漢");
    // Greedy generate inside TorchScript equals the C++ greedy decoder.
    textgen::CharStepModel step(m);
    std::vector<int64_t> prime(expected_ids.data_ptr<int64_t>(), expected_ids.data_ptr<int64_t>() + expected_ids.numel());
    auto greedy = decode::generate(step, prime, 40, {0.0, 0, 1.0}, 1);
    auto scripted = loaded.get_method("generate")({std::string("wörld 漢"), int64_t(40), 0.0, int64_t(1)}).toStringRef();
    EXPECT_EQ(scripted, vocab.decode(greedy));
    // Sampling inside TorchScript repeats with the same seed.
    auto s1 = loaded.get_method("generate")({std::string("h"), int64_t(30), 1.0, int64_t(9)}).toStringRef();
    auto s2 = loaded.get_method("generate")({std::string("h"), int64_t(30), 1.0, int64_t(9)}).toStringRef();
    EXPECT_EQ(s1, s2);
    // ... and runs decode::Sampler's stream: the same text as the C++ decoder with that seed.
    auto sampled = decode::generate(step, prime, 30, {0.9, 0, 1.0}, 9);
    EXPECT_EQ(loaded.get_method("generate")({std::string("wörld 漢"), int64_t(30), 0.9, int64_t(9)}).toStringRef(),
              vocab.decode(sampled));
  }
}

}  // namespace
}  // namespace seqtorch::exporting
