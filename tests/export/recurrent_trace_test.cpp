// Tracing a recurrent layer for TorchScript: `automatic` traces ATen's fused op (the CPU
// kernel's gate loops are not ATen ops), and the traced method gives the kernel's numbers; an
// explicit `kernel` refuses to be traced with a message that says what to use.
#include <seqtorch/export/script_module.h>
#include <seqtorch/nn/recurrent.h>

#include "support/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqtorch::exporting {
namespace {

using nn::Implementation;
using nn::Recurrent;
using nn::RecurrentOptions;

TEST(RecurrentTrace, AutomaticTracesFusedAndMatchesTheKernel) {
  torch::manual_seed(31);
  Recurrent m(RecurrentOptions(4, 6).num_layers(2).bidirectional(true));
  auto target = mirror_module(*m, "rnn");
  add_traced_method(target, "forward", {"x"}, {torch::randn({5, 2, 4})},
                    [&](const std::vector<torch::Tensor>& in) {
                      return std::vector<torch::Tensor>{m->forward(in[0]).output};
                    });
  auto x = torch::randn({7, 3, 4});
  const auto traced = target.get_method("forward")({x}).toTensor();
  torch::NoGradGuard no_grad;
  ASSERT_EQ(m->resolved_implementation(torch::kCPU), Implementation::kernel);
  EXPECT_TRUE(test::all_close(traced, m->forward(x).output, 1e-5, "traced vs kernel"));
}

TEST(RecurrentTrace, ExplicitKernelRefusesToBeTraced) {
  Recurrent m(RecurrentOptions(4, 6).implementation(Implementation::kernel));
  auto target = mirror_module(*m, "rnn");
  EXPECT_TRUE(test::throws_with(
      [&] {
        add_traced_method(target, "forward", {"x"}, {torch::randn({5, 2, 4})},
                          [&](const std::vector<torch::Tensor>& in) {
                            return std::vector<torch::Tensor>{m->forward(in[0]).output};
                          });
      },
      {"kernel cannot be traced", "automatic"}));
}

}  // namespace
}  // namespace seqtorch::exporting
