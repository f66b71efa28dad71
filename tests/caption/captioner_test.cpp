// The captioner: shapes of both decoders, stepping equals the teacher-forced forward, the
// attention regulariser, frozen encoders, the TorchScript-backbone encoder (a small CNN traced
// by the test), checkpoints rebuilding the model, describe through the shared search, and the
// TorchScript export giving the same captions as describe.
#include <seqtorch/caption/describer.h>
#include <seqtorch/caption/model.h>
#include <seqtorch/caption/task.h>
#include <seqtorch/data/images.h>
#include <seqtorch/export/caption_export.h>
#include <seqtorch/export/script_module.h>
#include <seqtorch/train/checkpoint.h>
#include <seqtorch/util/atomic_file.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

namespace seqtorch::caption {
namespace {

data::TokenVocabulary small_vocab() {
  return build_vocabulary({"a red circle", "a blue square on the left", "a green triangle"}, 1, 0);
}

ModelSpec small_spec(nn::CaptionDecoder decoder) {
  ModelSpec s;
  s.captioner.image_size(16).channels(16).stages(2).embedding_size(8).hidden_size(12).decoder(decoder).dropout(0.0);
  return s;
}

torch::Tensor random_images(int64_t B, int64_t S) { return torch::randint(0, 256, {B, 3, S, S}, torch::kLong).to(torch::kUInt8); }

// A TorchScript backbone made here: conv(3->6, stride 2) ReLU conv(6->10, stride 2), traced.
std::string traced_backbone(const std::string& path) {
  torch::manual_seed(11);
  auto net = torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 6, 3).stride(2).padding(1)),
                                   torch::nn::Functional(torch::relu),
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 10, 3).stride(2).padding(1)));
  auto jm = exporting::mirror_module(*net, "Backbone");
  exporting::add_traced_method(jm, "forward", {"x"}, {torch::randn({2, 3, 16, 16})},
                               [&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{net->forward(in[0])}; });
  exporting::save_module(jm, path);
  return path;
}

TEST(Captioner, ShapesOfBothDecoders) {
  torch::manual_seed(1);
  for (auto decoder : {nn::CaptionDecoder::show_tell, nn::CaptionDecoder::attend}) {
    SCOPED_TRACE(nn::to_string(decoder));
    CaptionModel m(small_spec(decoder), small_vocab());
    const int64_t V = m->vocab.size();
    auto images = random_images(3, 16);
    auto inputs = torch::randint(2, V, {5, 3}, torch::kLong);
    auto out = m->captioner->forward(images, inputs);
    EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{5, 3, V}));
    auto features = m->captioner->encode(m->captioner->normalize(images));
    EXPECT_EQ(features.sizes(), (std::vector<int64_t>{3, 16, 16}));  // 16 px / 2 / 2 = 4 x 4 regions, 16 channels
    if (decoder == nn::CaptionDecoder::attend) {
      ASSERT_TRUE(out.attention.defined());
      EXPECT_EQ(out.attention.sizes(), (std::vector<int64_t>{5, 3, 16}));
      EXPECT_TRUE(test::all_close(out.attention.sum(-1), torch::ones({5, 3}), 1e-5, "weights sum to 1"));
    } else {
      EXPECT_FALSE(out.attention.defined());
    }
  }
}

TEST(Captioner, SteppingEqualsTheTeacherForcedForward) {
  torch::manual_seed(2);
  for (auto decoder : {nn::CaptionDecoder::show_tell, nn::CaptionDecoder::attend}) {
    SCOPED_TRACE(nn::to_string(decoder));
    CaptionModel m(small_spec(decoder), small_vocab());
    m->eval();
    torch::NoGradGuard no_grad;
    auto images = random_images(2, 16);
    auto inputs = torch::randint(2, m->vocab.size(), {4, 2}, torch::kLong);
    auto all = m->captioner->forward(images, inputs);
    auto& cap = m->captioner;
    auto features = cap->encode(cap->normalize(images));
    auto state = cap->initial_state(features);
    auto memory = cap->memory(features);
    for (int64_t t = 0; t < 4; ++t) {
      auto s = cap->step(inputs[t], state, memory);
      EXPECT_TRUE(test::all_close(s.logits, all.logits[t], 1e-5, "logits"));
      state = s.state;
    }
  }
}

TEST(Captioner, LossFallsAndTheRegulariserCountsPaddedStepsOut) {
  torch::manual_seed(3);
  CaptionModel m(small_spec(nn::CaptionDecoder::attend), small_vocab());
  auto images = random_images(3, 16);
  std::vector<CaptionExample> ex = {{0, m->encode_caption("a red circle")}, {1, m->encode_caption("a blue square on the left")},
                                    {2, m->encode_caption("a green triangle")}};
  auto batch = make_batch(images, ex, {0, 1, 2}, torch::kCPU);
  EXPECT_EQ(batch.tokens, 4 + 7 + 4);
  EXPECT_EQ(batch.inputs.size(0), 7);
  EXPECT_EQ(batch.targets[3][0].item<int64_t>(), data::TokenVocabulary::eos);
  EXPECT_EQ(batch.targets[4][0].item<int64_t>(), data::TokenVocabulary::pad);
  m->eval();  // no dropout: the two losses differ by the regulariser alone
  const double plain = caption_loss(m, batch, 0.0, 0.0).item<double>();
  const double regularised = caption_loss(m, batch, 0.0, 1.0).item<double>();
  auto out = m->captioner->forward(batch.images, batch.inputs);
  auto mask = batch.targets.ne(0).unsqueeze(2).to(torch::kFloat);
  const double expected = (1 - (out.attention * mask).sum(0)).pow(2).mean().item<double>();
  EXPECT_NEAR(regularised - plain, expected, 1e-5);
  m->train();
  auto opt = torch::optim::Adam(m->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto loss = caption_loss(m, batch, 0.0, 1.0);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.3);
}

TEST(Captioner, FrozenEncoderGetsNoGradientAndKeepsItsStatistics) {
  torch::manual_seed(4);
  CaptionModel m(small_spec(nn::CaptionDecoder::show_tell), small_vocab());
  auto& enc = m->captioner->encoder;
  enc->set_frozen(true);
  m->train();
  const auto mean_before = enc->stem_bn->running_mean.clone();
  auto out = m->captioner->forward(random_images(2, 16), torch::randint(2, m->vocab.size(), {3, 2}, torch::kLong));
  out.logits.sum().backward();
  for (const auto& p : enc->parameters()) EXPECT_FALSE(p.grad().defined());
  EXPECT_TRUE(m->captioner->init_h->weight.grad().defined());
  EXPECT_TRUE(torch::equal(enc->stem_bn->running_mean, mean_before));
  enc->set_frozen(false);
  EXPECT_TRUE(enc->stem->weight.requires_grad());
  EXPECT_TRUE(enc->stem_bn->is_training());
}

TEST(Captioner, TorchScriptBackboneEncodesTrainsAndRebuildsFromTheCheckpoint) {
  test::TempDir dir;
  const auto bytes = read_backbone(traced_backbone(dir.file("backbone.pt")));
  CaptionModel m(small_spec(nn::CaptionDecoder::attend), small_vocab(), bytes);
  EXPECT_TRUE(m->captioner->encoder->has_backbone());
  EXPECT_EQ(m->captioner->encoder->feature_size(), 10);
  auto images = random_images(2, 16);
  auto features = m->captioner->encode(m->captioner->normalize(images));
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 16, 10}));
  // Fine-tuned: the backbone's own tensors get gradients and change with a step.
  auto opt = torch::optim::SGD(m->parameters(), torch::optim::SGDOptions(0.1));
  const auto backbone_params = m->captioner->encoder->parameters();
  ASSERT_EQ(backbone_params.size(), 4u);  // two convs, weight and bias
  const auto before = backbone_params[0].clone();
  auto out = m->captioner->forward(images, torch::randint(2, m->vocab.size(), {3, 2}, torch::kLong));
  out.logits.pow(2).mean().backward();
  ASSERT_TRUE(backbone_params[0].grad().defined());
  opt.step();
  EXPECT_FALSE(torch::equal(backbone_params[0], before));
  // The jit module sees the updated tensor (shared, not copied).
  auto jit_weight = (*(*m->captioner->encoder->backbone()).named_parameters(true).begin()).value;
  EXPECT_TRUE(torch::equal(jit_weight, backbone_params[0]));
  // A checkpoint alone rebuilds it, backbone included.
  train::CheckpointInfo info;
  info.app = "caption";
  train::save_checkpoint(dir.file("c.pt"), info, *m, nullptr);
  auto back = model_of_checkpoint(dir.file("c.pt"));
  train::load_checkpoint(dir.file("c.pt"), "caption", *back, nullptr, false);
  m->eval();
  back->eval();
  torch::NoGradGuard no_grad;
  auto a = m->captioner->forward(images, torch::full({2, 2}, 2, torch::kLong)).logits;
  auto b = back->captioner->forward(images, torch::full({2, 2}, 2, torch::kLong)).logits;
  EXPECT_TRUE(test::all_close(a, b, 1e-6, "rebuilt model"));
  // Not a TorchScript file: one line naming it.
  util::write_file_atomically(dir.file("junk.pt"), "junk");
  EXPECT_TRUE(test::throws_with([&] { read_backbone(dir.file("junk.pt")); }, {"junk.pt: not a TorchScript archive"}));
}

// Greedy describe equals a hand-written argmax loop; beam 3 scores at least as well.
TEST(Captioner, DescribeRunsTheSharedSearch) {
  torch::manual_seed(5);
  CaptionModel m(small_spec(nn::CaptionDecoder::attend), small_vocab());
  m->eval();
  auto images = random_images(3, 16);
  DescribeOptions greedy;
  greedy.beam = 1;
  greedy.max_length = 6;
  greedy.keep_attention = true;
  auto ds = describe(m, images, greedy, torch::kCPU);
  ASSERT_EQ(ds.size(), 3u);
  torch::NoGradGuard no_grad;
  auto& cap = m->captioner;
  for (int64_t b = 0; b < 3; ++b) {
    auto features = cap->encode(cap->normalize(images.slice(0, b, b + 1)));
    auto state = cap->initial_state(features);
    auto memory = cap->memory(features);
    std::vector<int64_t> ids;
    int64_t token = data::TokenVocabulary::bos;
    for (int t = 0; t < 7; ++t) {
      auto s = cap->step(torch::tensor({token}), state, memory);
      token = s.logits.argmax(-1).item<int64_t>();
      ids.push_back(token);
      state = s.state;
      if (token == data::TokenVocabulary::eos) break;
    }
    EXPECT_EQ(ds[static_cast<size_t>(b)].text, m->decode_caption(ids));
    ASSERT_TRUE(ds[static_cast<size_t>(b)].attention.defined());
    EXPECT_EQ(ds[static_cast<size_t>(b)].attention.size(1), 16);
  }
  DescribeOptions beam = greedy;
  beam.beam = 3;
  auto bs = describe(m, images, beam, torch::kCPU);
  for (size_t b = 0; b < 3; ++b) EXPECT_GE(bs[b].score, ds[b].score - 1e-9);
  // Attention pictures and the share in a box.
  auto picture = attention_picture(images[0], ds[0].attention[0], 3);
  EXPECT_EQ(picture.sizes(), (std::vector<int64_t>{3, 48, 48}));
  auto corner = torch::zeros({16});
  corner[0] = 1;  // all attention on the top-left 4 x 4 cell of a 16 x 16 image
  EXPECT_NEAR(attention_in_box(corner, 16, 0, 0, 4, 4), 1.0, 1e-9);
  EXPECT_NEAR(attention_in_box(corner, 16, 0, 0, 2, 4), 0.5, 1e-9);
  EXPECT_NEAR(attention_in_box(torch::full({16}, 1.0 / 16), 16, 0, 0, 8, 8), 0.25, 1e-9);
  EXPECT_TRUE(attention_peak_in_box(corner, 16, 3, 3, 5, 5));    // overlaps the top-left cell's pixel (3, 3)
  EXPECT_FALSE(attention_peak_in_box(corner, 16, 4, 0, 12, 16));  // starts right of it
  EXPECT_DOUBLE_EQ(cells_overlapping_box(4, 16, 3, 3, 5, 5), 4.0 / 16);  // pixels 3..7 touch cells 0 and 1 each way
  EXPECT_DOUBLE_EQ(cells_overlapping_box(4, 16, 0, 0, 16, 16), 1.0);
  // Over a data set: the word "circle" names the one circle, whose box is the top-left cell.
  data::CaptionDataset scenes;
  scenes.images.resize(1);
  scenes.images[0].objects = {{"circle", "red", "small", 0, 0, 4, 4}, {"square", "blue", "small", 8, 8, 4, 4}};
  Description d;
  d.words = {"a", "circle", "and", "a", "square"};
  d.attention = torch::full({6, 16}, 1.0 / 16);
  d.attention[1] = corner;
  auto where = attention_on_objects(scenes, {d}, 16);
  EXPECT_DOUBLE_EQ(where.at("shape_words"), 2);  // circle, square
  EXPECT_NEAR(where.at("attention_on_object"), (1.0 + 1.0 / 16) / 2, 1e-9);
  EXPECT_NEAR(where.at("object_area_share"), 1.0 / 16, 1e-12);
  EXPECT_NEAR(where.at("object_cell_share"), 1.0 / 16, 1e-12);
}

TEST(CaptionExport, DescribeInTorchScriptEqualsDescribe) {
  test::TempDir dir;
  const auto backbone = read_backbone(traced_backbone(dir.file("backbone.pt")));
  int variant = 0;
  for (auto decoder : {nn::CaptionDecoder::show_tell, nn::CaptionDecoder::attend}) {
    for (bool with_backbone : {false, true}) {
      SCOPED_TRACE(nn::to_string(decoder) + (with_backbone ? " backbone" : " cnn"));
      torch::manual_seed(20 + variant++);
      CaptionModel m(small_spec(decoder), small_vocab(), with_backbone ? backbone : "");
      // A few steps of training so the captions are not all alike.
      std::vector<CaptionExample> ex = {{0, m->encode_caption("a red circle")}, {1, m->encode_caption("a blue square on the left")},
                                        {2, m->encode_caption("a green triangle")}};
      auto train_images = random_images(3, 16);
      auto batch = make_batch(train_images, ex, {0, 1, 2}, torch::kCPU);
      auto opt = torch::optim::Adam(m->parameters(), torch::optim::AdamOptions(1e-2));
      for (int step = 0; step < 25; ++step) {
        opt.zero_grad();
        caption_loss(m, batch, 0.0, 1.0).backward();
        opt.step();
      }
      m->eval();
      const auto path = dir.file("caption.pt");
      DescribeOptions defaults;
      defaults.max_length = 8;
      exporting::export_caption_model(m, path, defaults);
      auto loaded = exporting::load_export(path);
      exporting::InferenceGuard inference;
      // Originals of other sizes (resized inside the export as describe's loader does), uint8.
      std::vector<torch::Tensor> originals = {train_images[0], train_images[1],
                                              torch::randint(0, 256, {3, 40, 40}, torch::kLong).to(torch::kUInt8),
                                              torch::randint(0, 256, {3, 9, 12}, torch::kLong).to(torch::kUInt8)};
      std::vector<torch::Tensor> resized;
      for (const auto& o : originals) resized.push_back(data::resize_image(o, 16));
      for (int64_t beam : {1, 3}) {
        auto o = defaults;
        o.beam = beam;
        auto expected = describe(m, torch::stack(resized), o, torch::kCPU);
        for (size_t i = 0; i < originals.size(); ++i) {
          auto got = loaded.run_method("describe", originals[i], beam).toList();
          ASSERT_EQ(got.size(), 1u);
          EXPECT_EQ(got.get(0).toStringRef(), expected[i].text) << "image " << i << " beam " << beam;
        }
        // A batch, and float images in 0..1.
        auto batch_got = loaded.run_method("describe", torch::stack({resized[0], resized[1]}).to(torch::kFloat) / 255, beam).toList();
        ASSERT_EQ(batch_got.size(), 2u);
        EXPECT_EQ(batch_got.get(1).toStringRef(), expected[1].text);
      }
    }
  }
}

}  // namespace
}  // namespace seqtorch::caption
