#include <seqtorch/train/tbptt.h>

#include <torch/torch.h>

#include <map>

namespace seqtorch::train {

nn::RecurrentState detach_state(const nn::RecurrentState& s) {
  return {s.h.defined() ? s.h.detach() : torch::Tensor(),
          s.c.defined() ? s.c.detach() : torch::Tensor()};
}

nn::RecurrentState tbptt(const torch::Tensor& x, const nn::RecurrentState& state, int64_t k1,
                         int64_t k2, const StreamForward& forward, const StreamLoss& loss,
                         const AfterBackward& after_backward) {
  TORCH_CHECK(k1 >= 1, "tbptt: k1: expected >= 1, got ", k1);
  TORCH_CHECK(k2 >= k1, "tbptt: k2: expected >= k1 = ", k1, ", got ", k2);
  TORCH_CHECK(x.defined() && x.dim() >= 2 && x.size(0) >= 1,
              "tbptt: input: expected [T, B, ...] with T >= 1");
  const int64_t T = x.size(0);
  // Detached states at the ends reached so far (multiples of k1), oldest dropped when unneeded.
  std::map<int64_t, nn::RecurrentState> at{{0, detach_state(state)}};
  nn::RecurrentState last;
  for (int64_t end = std::min(k1, T), prev = 0; prev < T; prev = end, end = std::min(end + k1, T)) {
    const int64_t start = std::max<int64_t>(0, end - k2);
    auto base = std::prev(at.upper_bound(start));  // latest saved state at or before `start`
    nn::RecurrentState s0 = base->second;
    if (base->first < start) {
      torch::NoGradGuard no_grad;
      s0 = detach_state(forward(x.narrow(0, base->first, start - base->first), s0).second);
    }
    auto [outputs, s1] = forward(x.narrow(0, start, end - start), s0);
    const int64_t first = prev;  // the new steps [prev, end) carry the loss
    torch::Tensor l = loss(outputs.narrow(0, first - start, end - first), first);
    l.backward();
    if (after_backward) after_backward(l, end);
    last = detach_state(s1);
    at[end] = last;
    // Keep only the latest state at or before the next window's start.
    const int64_t next_start = std::max<int64_t>(0, std::min(end + k1, T) - k2);
    at.erase(at.begin(), std::prev(at.upper_bound(next_start)));
  }
  return last;
}

}  // namespace seqtorch::train
