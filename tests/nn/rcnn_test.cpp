// The recurrent convolutional layer and the RCNN: shapes, T = 0 against a plain convolution with
// ReLU and LRN, the recurrence against the equations written out, parameter counts of the RCNN
// and its CNN twin, save and load, and a small task both learn.
#include <seqtorch/nn/rcnn.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::nn {
namespace {

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

TEST(RecurrentConv2d, ShapesAndParameters) {
  RecurrentConv2d rcl(RecurrentConv2dOptions(3, 8).kernel_size(3).steps(2));
  auto x = rcl(torch::randn({2, 3, 7, 5}));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 8, 7, 5}));
  EXPECT_EQ(count(*rcl), 8 * 3 * 9 + 8 + 8 * 8 * 9);  // w_f, b, w_r (no second bias)
  EXPECT_TRUE(test::throws_with([&] { rcl(torch::randn({2, 4, 7, 5})); }, {"RecurrentConv2d: input: expected [B, 3, H, W]"}));
  EXPECT_TRUE(test::throws_with([] { RecurrentConv2d(RecurrentConv2dOptions(3, 8).kernel_size(4)); }, {"kernel_size: expected an odd number"}));
}

TEST(RecurrentConv2d, NoStepsIsThePlainConvolutionPath) {
  torch::manual_seed(1);
  RecurrentConv2d rcl(RecurrentConv2dOptions(2, 16).steps(0));
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 16, 3).padding(1));
  test::copy_parameters(*rcl->feed_forward, *conv);
  torch::nn::LocalResponseNorm lrn(torch::nn::LocalResponseNormOptions(16 / 8 + 1).alpha(1e-3).beta(0.75));
  auto u = torch::randn({3, 2, 6, 6});
  EXPECT_TRUE(test::all_close(rcl(u), lrn(torch::relu(conv(u))), 1e-6, "T = 0"));
}

TEST(RecurrentConv2d, RecurrenceFollowsTheEquations) {
  // x(0) = g(f(w_f*u + b)), x(t) = g(f(w_f*u + w_r*x(t-1) + b)), in float64 with F::conv2d.
  torch::manual_seed(2);
  RecurrentConv2d rcl(RecurrentConv2dOptions(2, 8).steps(3).lrn(false));
  rcl->to(torch::kDouble);
  auto u = torch::randn({2, 2, 5, 5}, torch::kDouble);
  namespace F = torch::nn::functional;
  auto conv = [](const torch::Tensor& x, const torch::Tensor& w) {
    return F::conv2d(x, w, F::Conv2dFuncOptions().padding(1));
  };
  torch::Tensor ff = conv(u, rcl->feed_forward->weight) + rcl->feed_forward->bias.view({1, -1, 1, 1});
  torch::Tensor x = torch::relu(ff);
  for (int t = 1; t <= 3; ++t) x = torch::relu(ff + conv(x, rcl->recurrent->weight));
  EXPECT_TRUE(test::all_close(rcl(u), x, 1e-12, "T = 3"));
  // The steps matter: T = 3 differs from T = 1 with the same weights.
  rcl->options.steps(1);
  EXPECT_FALSE(test::all_close(rcl(u), x, 1e-6));
}

TEST(RCNN, ShapesAndTheCNNTwinHasTheSameParameterCountButTheBiases) {
  for (bool stem_pool : {false, true}) {
    auto o = RCNNOptions(1, 10).channels(12).blocks(2).stem_pool(stem_pool);
    RCNN rcnn(o), cnn(RCNNOptions(o).recurrent(false));
    auto images = torch::randn({4, 1, 16, 16});
    EXPECT_EQ(rcnn(images).sizes(), (std::vector<int64_t>{4, 10}));
    EXPECT_EQ(cnn(images).sizes(), (std::vector<int64_t>{4, 10}));
    EXPECT_EQ(count(*cnn) - count(*rcnn), 2 * 12);  // one extra bias of K per block
  }
  EXPECT_TRUE(test::throws_with([] { RCNN(RCNNOptions(1, 1)); }, {"RCNN: classes: expected >= 2, got 1"}));
}

TEST(RCNN, SaveAndLoadGiveTheSameOutputs) {
  torch::manual_seed(3);
  RCNN a(RCNNOptions(1, 4).channels(8)), b(RCNNOptions(1, 4).channels(8));
  a->eval();
  b->eval();
  test::TempDir dir;
  torch::save(a, dir.file("rcnn.pt"));
  torch::load(b, dir.file("rcnn.pt"));
  auto images = torch::rand({2, 1, 8, 8});
  EXPECT_TRUE(torch::equal(a(images), b(images)));
}

TEST(RCNN, LearnsWhichQuadrantIsLit) {
  // 4 classes: the bright 3x3 patch sits in one quadrant of an 8x8 noisy image. Global max
  // pooling alone cannot tell where; the pooled feature maps must carry position.
  torch::manual_seed(4);
  auto make = [](int64_t n, uint64_t seed) {
    auto gen = at::detail::createCPUGenerator(seed);
    auto labels = torch::randint(0, 4, {n}, gen, torch::kLong);
    auto images = torch::rand({n, 1, 8, 8}, gen) * 0.3;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t q = labels[i].item<int64_t>();
      images[i][0].narrow(0, (q / 2) * 4, 3).narrow(1, (q % 2) * 4, 3).add_(1.0);
    }
    return std::pair{images, labels};
  };
  for (bool recurrent : {true, false}) {
    SCOPED_TRACE(recurrent ? "rcnn" : "cnn");
    RCNN m(RCNNOptions(1, 4).channels(8).stem_kernel(3).recurrent(recurrent).dropout(0));
    torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(1e-2));
    auto [x, y] = make(256, 1);
    for (int step = 0; step < 60; ++step) {
      opt.zero_grad();
      torch::cross_entropy_loss(m(x), y).backward();
      opt.step();
    }
    m->eval();
    auto [tx, ty] = make(200, 2);
    torch::NoGradGuard no_grad;
    const double acc = (m(tx).argmax(1) == ty).to(torch::kDouble).mean().item<double>();
    EXPECT_GT(acc, 0.9);
  }
}

}  // namespace
}  // namespace seqtorch::nn
